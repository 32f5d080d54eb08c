package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/assent-dev/assent/eventstore"
)

var _ eventstore.ChainReader = (*Store)(nil)

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
	rows, err := s.query(ctx, `SELECT `+columns+` FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?`, int64(after), int64(s.head.Load()), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite read chained: %w", err)
	}
	evs, err := scanChained(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite read chained: %w", err)
	}
	return evs, nil
}

// scanChained reads rows of columns as events with their chain links.
func scanChained(rows *sql.Rows) ([]eventstore.ChainedEvent, error) {
	defer rows.Close()
	var out []eventstore.ChainedEvent
	var sc rowScanner
	for rows.Next() {
		ev, err := sc.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}
