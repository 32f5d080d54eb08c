package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assent-dev/assent/eventstore"
)

const columns = `position, id, stream, version, type, schema_version, data, correlation_id, causation_id, actor, recorded_at, prev_hash`

// ReadStream implements eventstore.Store. A stream's versions are dense and written under its
// row lock, so a stream read needs no horizon: it sees every committed event of the stream.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	evs, err := s.readStream(ctx, stream, opts)
	if err == nil && len(evs) == 0 {
		// Tell an empty range of a stream that exists from a stream that does not. The stream
		// may have been created between the two statements: streams only grow, so once it
		// exists, reading again sees what the first read missed.
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM streams WHERE stream = $1)`, stream).Scan(&exists); err != nil {
			return nil, fmt.Errorf("postgres read stream %q: %w", stream, err)
		}
		if !exists {
			return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
		}
		evs, err = s.readStream(ctx, stream, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres read stream %q: %w", stream, err)
	}
	return plain(evs), nil
}

func (s *Store) readStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.ChainedEvent, error) {
	limit := int64(opts.Limit)
	if limit <= 0 {
		limit = math.MaxInt64
	}
	var rows pgx.Rows
	var err error
	if opts.Direction == eventstore.Backwards {
		from := int64(math.MaxInt64)
		if !opts.FromEnd {
			from = int64(min(opts.From, math.MaxInt64))
		}
		rows, err = s.pool.Query(ctx, `SELECT `+columns+` FROM events WHERE stream = $1 AND version <= $2 ORDER BY version DESC LIMIT $3`, stream, from, limit)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+columns+` FROM events WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3`, stream, int64(min(opts.From, math.MaxInt64)), limit)
	}
	if err != nil {
		return nil, err
	}
	return collect(rows)
}

// ReadAll implements eventstore.Store. It returns only events below the horizon, so a reader
// that goes on after the last position it got never skips an event that commits late.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	evs, err := s.ReadAllChained(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	return plain(evs), nil
}

// ReadAllChained is ReadAll with each event's stored chain link (the hash of the previous event
// of its stream), for verifiers.
func (s *Store) ReadAllChained(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.ChainedEvent, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if limit <= 0 {
		return nil, fmt.Errorf("postgres read all: limit must be positive, got %d", limit)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM events WHERE position > $1 AND position < `+horizon+` ORDER BY position LIMIT $2`,
		int64(min(uint64(after), math.MaxInt64)), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres read all: %w", err)
	}
	evs, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres read all: %w", err)
	}
	return evs, nil
}

func collect(rows pgx.Rows) ([]eventstore.ChainedEvent, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventstore.ChainedEvent, error) {
		var (
			ev       eventstore.ChainedEvent
			pos      int64
			id       [16]byte
			version  int64
			schema   int32
			at       time.Time
			prevHash []byte
		)
		err := r.Scan(&pos, &id, &ev.Stream, &version, &ev.Type, &schema, &ev.Data,
			&ev.Metadata.CorrelationID, &ev.Metadata.CausationID, &ev.Metadata.Actor, &at, &prevHash)
		if err != nil {
			return ev, err
		}
		ev.ID, ev.Position, ev.Version, ev.SchemaVersion = id, eventstore.Position(pos), uint64(version), int(schema)
		ev.Metadata.RecordedAt = at.UTC()
		copy(ev.PrevHash[:], prevHash)
		return ev, nil
	})
}

func plain(evs []eventstore.ChainedEvent) []eventstore.RecordedEvent {
	out := make([]eventstore.RecordedEvent, len(evs))
	for i := range evs {
		out[i] = evs[i].RecordedEvent
	}
	return slices.Clip(out)
}
