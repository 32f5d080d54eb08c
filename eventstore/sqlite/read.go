package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

const columns = `position, id, stream, version, type, schema_version, data, correlation_id, causation_id, actor, recorded_at`

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	limit := int64(opts.Limit)
	if limit <= 0 {
		limit = -1
	}
	// Readers see only what is durable: events up to the head that the sync goroutine set.
	head := int64(s.head.Load())
	var rows *sql.Rows
	var err error
	switch {
	case opts.Direction == eventstore.Backwards && opts.FromEnd:
		rows, err = s.query(ctx, `SELECT `+columns+` FROM events WHERE stream = ? AND position <= ? ORDER BY version DESC LIMIT ?`, stream, head, limit)
	case opts.Direction == eventstore.Backwards:
		rows, err = s.query(ctx, `SELECT `+columns+` FROM events WHERE stream = ? AND version <= ? AND position <= ? ORDER BY version DESC LIMIT ?`, stream, int64(opts.From), head, limit)
	default:
		rows, err = s.query(ctx, `SELECT `+columns+` FROM events WHERE stream = ? AND version >= ? AND position <= ? ORDER BY version LIMIT ?`, stream, int64(opts.From), head, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite read stream %q: %w", stream, err)
	}
	evs, err := scanEvents(rows, 0)
	if err != nil {
		return nil, fmt.Errorf("sqlite read stream %q: %w", stream, err)
	}
	if len(evs) == 0 {
		// Tell an empty range of a stream that exists from a stream that does not.
		var one int
		err := s.queryRow(ctx, `SELECT 1 FROM events WHERE stream = ? AND position <= ? LIMIT 1`, stream, head).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite read stream %q: %w", stream, err)
		}
	}
	return evs, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite read all: limit must be positive, got %d", limit)
	}
	rows, err := s.query(ctx, `SELECT `+columns+` FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?`, int64(after), int64(s.head.Load()), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite read all: %w", err)
	}
	evs, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite read all: %w", err)
	}
	return evs, nil
}

func scanEvents(rows *sql.Rows, sizeHint int) ([]eventstore.RecordedEvent, error) {
	defer rows.Close()
	evs := make([]eventstore.RecordedEvent, 0, min(sizeHint, 1024))
	var sc rowScanner
	for rows.Next() {
		ev, err := sc.scan(rows, false)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, rows.Err()
}

// rowScanner reads rows of columns (and, for a chained read, prev_hash) into events. Stream
// names, types and metadata repeat from event to event: it reads them as raw bytes and interns
// them, so that a page costs one string per distinct value, not per event.
type rowScanner struct {
	in                                              interner
	pos, ver, recordedAt                            int64
	id, stream, typ, corr, cause, actor, data, prev sql.RawBytes
	schema                                          int
}

// scan reads the current row. With chained set, the row ends with prev_hash, left in sc.prev
// until the next scan.
func (sc *rowScanner) scan(rows *sql.Rows, chained bool) (eventstore.RecordedEvent, error) {
	dest := []any{&sc.pos, &sc.id, &sc.stream, &sc.ver, &sc.typ, &sc.schema, &sc.data, &sc.corr, &sc.cause, &sc.actor, &sc.recordedAt}
	if chained {
		dest = append(dest, &sc.prev)
	}
	if err := rows.Scan(dest...); err != nil {
		return eventstore.RecordedEvent{}, err
	}
	if len(sc.id) != 16 {
		return eventstore.RecordedEvent{}, fmt.Errorf("event at position %d: bad id of %d bytes", sc.pos, len(sc.id))
	}
	ev := eventstore.RecordedEvent{
		Stream:        sc.in.str(sc.stream),
		Type:          sc.in.str(sc.typ),
		SchemaVersion: sc.schema,
		Data:          append([]byte(nil), sc.data...),
		Metadata: eventstore.Metadata{
			CorrelationID: sc.in.str(sc.corr),
			CausationID:   sc.in.str(sc.cause),
			Actor:         sc.in.str(sc.actor),
			RecordedAt:    time.Unix(0, sc.recordedAt).UTC(),
		},
		Version:  uint64(sc.ver),
		Position: eventstore.Position(sc.pos),
	}
	copy(ev.ID[:], sc.id)
	return ev, nil
}

// interner returns one string per distinct byte sequence, within one read.
type interner struct{ m map[string]string }

func (in *interner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if in.m == nil {
		in.m = make(map[string]string)
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.m) < 4096 {
		in.m[s] = s
	}
	return s
}
