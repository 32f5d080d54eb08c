package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/assent-dev/assent/eventstore"
)

// ReadAllChained is ReadAll with each event's stored chain link (the hash of the previous event
// of its stream), for verifiers. It reads every row in position order, even rows a verifier
// will find broken, and never past the head the writer has published.
func (s *Store) ReadAllChained(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.ChainedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite read chained: limit must be positive, got %d", limit)
	}
	rows, err := s.query(ctx, `SELECT `+columns+`, prev_hash FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?`, int64(after), int64(s.head.Load()), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite read chained: %w (a schema-1 file has no hash chain: open it once read-write to migrate it)", err)
	}
	evs, err := scanChained(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite read chained: %w", err)
	}
	return evs, nil
}

// scanChained reads rows of columns followed by prev_hash. A prev_hash of the wrong length is
// read as the zero hash, which a verifier then reports.
func scanChained(rows *sql.Rows) ([]eventstore.ChainedEvent, error) {
	defer rows.Close()
	var out []eventstore.ChainedEvent
	var sc rowScanner
	for rows.Next() {
		ev, err := sc.scan(rows, true)
		if err != nil {
			return nil, err
		}
		c := eventstore.ChainedEvent{RecordedEvent: ev}
		if len(sc.prev) == len(c.PrevHash) {
			copy(c.PrevHash[:], sc.prev)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ReadStreams returns every event of the given streams, merged in global order, in one query:
// an audit timeline reads an account's streams (often thousands of challenges) this way.
func (s *Store) ReadStreams(ctx context.Context, streams []string) ([]eventstore.RecordedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	list, err := json.Marshal(streams)
	if err != nil {
		return nil, fmt.Errorf("sqlite read streams: %w", err)
	}
	rows, err := s.query(ctx, `SELECT `+columns+` FROM events WHERE stream IN (SELECT value FROM json_each(?)) AND position <= ?`, string(list), int64(s.head.Load()))
	if err != nil {
		return nil, fmt.Errorf("sqlite read streams: %w", err)
	}
	evs, err := scanEvents(rows, 1024)
	if err != nil {
		return nil, fmt.Errorf("sqlite read streams: %w", err)
	}
	// Sorting here is cheaper than SQLite sorting rows with their data in a temporary b-tree.
	slices.SortFunc(evs, func(a, b eventstore.RecordedEvent) int { return cmp.Compare(a.Position, b.Position) })
	return evs, nil
}

// ReadPositions returns the events at the given positions, in global order, in one query: an
// audit timeline knows where an account's events are and reads them so, one seek each.
func (s *Store) ReadPositions(ctx context.Context, positions []eventstore.Position) ([]eventstore.RecordedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	list, err := json.Marshal(positions)
	if err != nil {
		return nil, fmt.Errorf("sqlite read positions: %w", err)
	}
	rows, err := s.query(ctx, `SELECT `+columns+` FROM events WHERE position IN (SELECT value FROM json_each(?)) AND position <= ? ORDER BY position`, string(list), int64(s.head.Load()))
	if err != nil {
		return nil, fmt.Errorf("sqlite read positions: %w", err)
	}
	evs, err := scanEvents(rows, len(positions))
	if err != nil {
		return nil, fmt.Errorf("sqlite read positions: %w", err)
	}
	return evs, nil
}
