package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

// columns are what every read selects; the body holds the rest (body.go).
const columns = `position, body`

// indexedColumns are columns read through stream_index (aliased i) joined with events (e).
const indexedColumns = `e.position, e.body`

// ReadStream implements eventstore.Store. A stream's events are found in two places: those in
// stream_index, and the newest ones, still in the writer's tail (index.go). The tail is looked
// at first, so that an entry the writer moves into stream_index meanwhile is found in the table.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	evs, err := s.readStream(ctx, stream, opts)
	if err != nil {
		return nil, fmt.Errorf("sqlite read stream %q: %w", stream, s.noteRead(err))
	}
	return evs, nil
}

func (s *Store) readStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = math.MaxInt
	}
	// Readers see only what is durable: events up to the head that the writer published.
	head := int64(s.head.Load())
	tail := s.tail.entries(stream, head)
	// Versions below tailFrom are in stream_index; those from it on are in the tail.
	tailFrom := int64(math.MaxInt64)
	if len(tail) > 0 {
		tailFrom = tail[0].version
	}
	var evs []eventstore.RecordedEvent
	if opts.Direction == eventstore.Backwards {
		from := int64(math.MaxInt64)
		if !opts.FromEnd {
			from = int64(opts.From)
		}
		var picked []eventstore.Position
		for i := len(tail) - 1; i >= 0 && len(picked) < limit; i-- {
			if tail[i].version <= from {
				picked = append(picked, eventstore.Position(tail[i].position))
			}
		}
		got, err := s.readPositions(ctx, picked)
		if err != nil {
			return nil, err
		}
		slices.Reverse(got)
		evs = got
		if len(evs) < limit {
			rows, err := s.query(ctx, `SELECT `+indexedColumns+` FROM stream_index i CROSS JOIN events e ON e.position = i.position
				WHERE i.stream = ? AND i.version <= ? AND i.position <= ? ORDER BY i.version DESC LIMIT ?`,
				stream, min(from, tailFrom-1), head, int64(limit-len(evs)))
			if err != nil {
				return nil, err
			}
			if evs, err = scanEvents(rows, evs); err != nil {
				return nil, err
			}
		}
	} else {
		from := int64(opts.From)
		if from < tailFrom {
			rows, err := s.query(ctx, `SELECT `+indexedColumns+` FROM stream_index i CROSS JOIN events e ON e.position = i.position
				WHERE i.stream = ? AND i.version >= ? AND i.version < ? AND i.position <= ? ORDER BY i.version LIMIT ?`,
				stream, from, tailFrom, head, int64(limit))
			if err != nil {
				return nil, err
			}
			if evs, err = scanEvents(rows, nil); err != nil {
				return nil, err
			}
		}
		var picked []eventstore.Position
		for _, e := range tail {
			if len(evs)+len(picked) >= limit {
				break
			}
			if e.version >= from {
				picked = append(picked, eventstore.Position(e.position))
			}
		}
		got, err := s.readPositions(ctx, picked)
		if err != nil {
			return nil, err
		}
		evs = append(evs, got...)
	}
	if err := s.checkRead(stream, opts, evs, head); err != nil {
		return nil, err
	}
	if len(evs) == 0 && len(tail) == 0 {
		// Tell an empty range of a stream that exists from a stream that does not.
		var one int
		err := s.queryRow(ctx, `SELECT 1 FROM stream_index WHERE stream = ? AND position <= ? LIMIT 1`, stream, head).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
		}
		if err != nil {
			return nil, err
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
		return nil, fmt.Errorf("sqlite read all: %w", s.noteRead(err))
	}
	evs, err := scanEvents(rows, make([]eventstore.RecordedEvent, 0, min(limit, 1024)))
	if err != nil {
		return nil, fmt.Errorf("sqlite read all: %w", s.noteRead(err))
	}
	return evs, nil
}

// readPositions reads the events at positions (at or below the head), in position order.
func (s *Store) readPositions(ctx context.Context, positions []eventstore.Position) ([]eventstore.RecordedEvent, error) {
	head := int64(s.head.Load())
	var rows *sql.Rows
	var err error
	switch len(positions) {
	case 0:
		return nil, nil
	case 1, 2, 3, 4, 5, 6, 7, 8:
		// A few positions (a stream's newest events, from the tail) go in a prepared IN list,
		// padded with the last one.
		args := make([]any, 0, 9)
		for i := range 8 {
			args = append(args, int64(positions[min(i, len(positions)-1)]))
		}
		rows, err = s.query(ctx, `SELECT `+columns+` FROM events WHERE position IN (?, ?, ?, ?, ?, ?, ?, ?) AND position <= ? ORDER BY position`, append(args, head)...)
	default:
		list, jerr := json.Marshal(positions)
		if jerr != nil {
			return nil, jerr
		}
		rows, err = s.query(ctx, `SELECT `+columns+` FROM events WHERE position IN (SELECT value FROM json_each(?)) AND position <= ? ORDER BY position`, string(list), head)
	}
	if err != nil {
		return nil, err
	}
	return scanEvents(rows, make([]eventstore.RecordedEvent, 0, len(positions)))
}

// scanEvents appends the events of rows to evs.
func scanEvents(rows *sql.Rows, evs []eventstore.RecordedEvent) ([]eventstore.RecordedEvent, error) {
	defer rows.Close()
	var sc rowScanner
	for rows.Next() {
		ev, err := sc.scan(rows)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev.RecordedEvent)
	}
	return evs, rows.Err()
}

// rowScanner reads rows of columns into events. Stream names, types and metadata repeat from
// event to event: it reads them as raw bytes and interns them, so that a page costs one string
// per distinct value, not per event; and it copies the events' data into shared blocks, so
// that a page costs a few allocations, not one per event.
type rowScanner struct {
	in    interner
	pos   int64
	raw   sql.RawBytes
	arena []byte
}

// arenaBlock is the size of the blocks that events' data is copied into.
const arenaBlock = 64 << 10

// scan reads the current row, with its chain link.
func (sc *rowScanner) scan(rows *sql.Rows) (eventstore.ChainedEvent, error) {
	if err := rows.Scan(&sc.pos, &sc.raw); err != nil {
		return eventstore.ChainedEvent{}, err
	}
	b, err := decodeBody(sc.raw)
	if err != nil {
		return eventstore.ChainedEvent{}, describeBodyError(sc.pos, err)
	}
	ev := eventstore.ChainedEvent{
		RecordedEvent: eventstore.RecordedEvent{
			Stream:        sc.in.str(fieldStream, b.stream),
			Type:          sc.in.str(fieldType, b.typ),
			SchemaVersion: b.schema,
			Data:          sc.keep(b.data),
			Metadata: eventstore.Metadata{
				CorrelationID: sc.in.str(fieldCorrelation, b.corr),
				CausationID:   sc.in.str(fieldCausation, b.cause),
				Actor:         sc.in.str(fieldActor, b.actor),
				RecordedAt:    time.Unix(0, b.recordedAt).UTC(),
			},
			Version:  b.version,
			Position: eventstore.Position(sc.pos),
		},
		PrevHash: b.prev,
	}
	copy(ev.ID[:], b.id)
	return ev, nil
}

// keep copies data into the scanner's current block; the copy's capacity ends where it does,
// so that appending to it never writes over the next event's data.
func (sc *rowScanner) keep(data []byte) []byte {
	n := len(data)
	if n > arenaBlock/4 {
		return append([]byte(nil), data...)
	}
	if cap(sc.arena)-len(sc.arena) < n {
		sc.arena = make([]byte, 0, arenaBlock)
	}
	start := len(sc.arena)
	sc.arena = append(sc.arena, data...)
	return sc.arena[start : start+n : start+n]
}

// The fields an interner sees, each with its own last value.
const (
	fieldStream = iota
	fieldType
	fieldCorrelation
	fieldCausation
	fieldActor
	fields
)

// interner returns one string per distinct byte sequence, within one read. Consecutive events
// often share a field's value (a stream's events come in runs, one command's events share
// their metadata), so each field's last value is tried before the map.
type interner struct {
	last [fields]string
	m    map[string]string
}

func (in *interner) str(field int, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if in.last[field] == string(b) {
		return in.last[field]
	}
	if in.m == nil {
		in.m = make(map[string]string)
	}
	s, ok := in.m[string(b)]
	if !ok {
		s = string(b)
		if len(in.m) < 4096 {
			in.m[s] = s
		}
	}
	in.last[field] = s
	return s
}
