package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

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
