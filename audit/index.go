package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/localdb"
)

// Index maps each account to the streams of its history: its own, its email claim, the
// devices linked to it, its enrollments and its challenges. It is folded from the log into
// the table audit_index_streams of the local database, with the position it has read up to in
// the same transaction, caught up on demand and resumed from there at the next start. Where
// an account's events lie in those streams is the event store's to answer (its stream reads).
// Safe for concurrent use.
type Index struct {
	db   *localdb.DB
	read atomic.Int64

	mu     sync.Mutex
	loaded bool
	pos    eventstore.Position
}

// NewIndex returns the index kept in db; it loads its state on its first use.
func NewIndex(db *localdb.DB) *Index { return &Index{db: db} }

// EventsRead is the number of events the index has read from the log since it was made.
func (x *Index) EventsRead() int64 { return x.read.Load() }

// refs is the part of an event that ties it to an account; every type that names one uses
// these field names.
type refs struct {
	AccountID uuid.UUID `json:"account_id"`
	DeviceID  uuid.UUID `json:"device_id"`
}

// CatchUp folds the log from where the index is to its end.
func (x *Index) CatchUp(ctx context.Context, log Log) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.load(ctx, log); err != nil {
		return err
	}
	for {
		evs, err := log.ReadAll(ctx, x.pos, page)
		if err != nil {
			return fmt.Errorf("audit index: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		x.read.Add(int64(len(evs)))
		if err := x.addPage(ctx, evs); err != nil {
			return err
		}
		if len(evs) < page {
			return nil
		}
	}
}

// load reads the index's position, once; a position whose event the log no longer holds
// drops the index, to be folded again.
func (x *Index) load(ctx context.Context, log Log) error {
	if x.loaded {
		return nil
	}
	if err := ensureTables(ctx, x.db); err != nil {
		return err
	}
	var (
		pos int64
		id  []byte
	)
	err := x.db.Reader.QueryRowContext(ctx, `SELECT position, event_id FROM audit_index_state WHERE id = 1`).Scan(&pos, &id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("audit index: load: %w", err)
	default:
		held, err := holds(ctx, log, eventstore.Position(pos), id)
		if err != nil {
			return fmt.Errorf("audit index: load: %w", err)
		}
		if held {
			x.pos = eventstore.Position(pos)
			break
		}
		if _, err := x.db.Writer.ExecContext(ctx, `DELETE FROM audit_index_streams; DELETE FROM audit_index_state`); err != nil {
			return fmt.Errorf("audit index: reset: %w", err)
		}
	}
	x.loaded = true
	return nil
}

// indexedTypes are the events that tie a stream to an account: the account's own first
// event, the claim of its email, a device linked to it, an enrollment and a challenge of it.
var indexedTypes = domain.TypeSet(domain.AccountRegistered{}, domain.EmailClaimed{}, domain.DeviceLinked{},
	domain.EnrollmentStarted{}, domain.ChallengeIssued{})

// addPage writes the account streams a page of the log names, and the page's end, in one
// transaction.
func (x *Index) addPage(ctx context.Context, evs []eventstore.RecordedEvent) error {
	tx, err := x.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit index: %w", err)
	}
	defer tx.Rollback()
	var put *sql.Stmt
	for i := range evs {
		ev := &evs[i]
		if !indexedTypes[ev.Type] {
			continue
		}
		var r refs
		if json.Unmarshal(ev.Data, &r) != nil || r.AccountID == uuid.Nil {
			continue
		}
		if put == nil {
			if put, err = tx.PrepareContext(ctx, `INSERT OR IGNORE INTO audit_index_streams (account, stream) VALUES (?, ?)`); err != nil {
				return fmt.Errorf("audit index: %w", err)
			}
			defer put.Close()
		}
		streams := []string{domain.AccountStream(r.AccountID), ev.Stream}
		if ev.Type == (domain.DeviceLinked{}).EventType() && r.DeviceID != uuid.Nil {
			streams = append(streams, domain.DeviceStream(r.DeviceID))
		}
		for _, s := range streams {
			if _, err := put.ExecContext(ctx, r.AccountID[:], s); err != nil {
				return fmt.Errorf("audit index: %w", err)
			}
		}
	}
	end := evs[len(evs)-1]
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_index_state (id, position, event_id) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET position = excluded.position, event_id = excluded.event_id`, int64(end.Position), end.ID[:]); err != nil {
		return fmt.Errorf("audit index: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit index: %w", err)
	}
	x.pos = end.Position
	return nil
}

// Streams returns the streams of the account's history, or none for an account the log does
// not know.
func (x *Index) Streams(ctx context.Context, account uuid.UUID) ([]string, error) {
	rows, err := x.db.Reader.QueryContext(ctx, `SELECT stream FROM audit_index_streams WHERE account = ?`, account[:])
	if err != nil {
		return nil, fmt.Errorf("audit index: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("audit index: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit index: %w", err)
	}
	return out, nil
}

// holds tells whether the log holds the event id at position pos (the start always holds).
func holds(ctx context.Context, log Log, pos eventstore.Position, id []byte) (bool, error) {
	if pos == eventstore.Start {
		return true, nil
	}
	evs, err := log.ReadAll(ctx, pos-1, 1)
	if err != nil {
		return false, err
	}
	return len(evs) == 1 && evs[0].Position == pos && string(evs[0].ID[:]) == string(id), nil
}
