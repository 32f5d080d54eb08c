package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/assent-dev/assent/eventstore"
)

// A position is the ID of the transaction that appended the event, shifted left by txShift,
// plus the event's index in its append. Readers order by position, which is ordering by
// (transaction, index), and see only the positions below horizon.
const (
	txShift = 20
	// MaxEventsPerAppend is the most events one Append takes.
	MaxEventsPerAppend = 1 << txShift
	// maxTx is the first transaction ID whose positions would not fit in a bigint.
	maxTx = 1 << (63 - txShift)
)

// horizon is the SQL expression of the lowest position a transaction still running, or one not
// yet begun, may write: every row below it is committed for good or never will be.
const horizon = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)`

// notifyChannel is the LISTEN/NOTIFY channel on which appends announce themselves.
const notifyChannel = "assent_events"

// appendRetries bounds the tries of an append that lost a race the database settled (two
// appends creating one stream, or the same event ID in two streams at once).
const appendRetries = 8

// Append implements eventstore.Store. The stream's row in streams is locked for the length of
// the transaction, so appends to one stream, from any node, are serialized by the database and
// each checks its expected version against the committed head.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.closed.Load() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	evs := make([]eventstore.EventData, len(events))
	copy(evs, events)
	if err := eventstore.Validate(stream, evs); err != nil {
		return eventstore.AppendResult{}, err
	}
	if len(evs) > MaxEventsPerAppend {
		return eventstore.AppendResult{}, fmt.Errorf("%w: %d events in one append, at most %d", eventstore.ErrInvalidEvent, len(evs), MaxEventsPerAppend)
	}
	for try := 1; ; try++ {
		res, err := s.appendOnce(ctx, stream, expected, evs)
		if err != nil && isRace(err) && try < appendRetries && ctx.Err() == nil {
			continue
		}
		if err != nil && !errors.Is(err, eventstore.ErrConflict) && !errors.Is(err, eventstore.ErrDuplicateEventID) {
			return res, fmt.Errorf("postgres append to %q: %w", stream, err)
		}
		if err == nil {
			s.wakeAll()
			s.announce()
		}
		return res, err
	}
}

// isRace reports a unique violation (another transaction created the stream or stored the
// event ID first), a serialization failure or a deadlock: trying again decides.
func isRace(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "23505", "40001", "40P01":
		return true
	}
	return false
}

type storedEvent struct {
	id       [16]byte
	stream   string
	version  int64
	position int64
}

func (s *Store) appendOnce(ctx context.Context, stream string, expected eventstore.ExpectedVersion, evs []eventstore.EventData) (eventstore.AppendResult, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	ids := make([][16]byte, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	// One round trip: lock the head (waiting for an append to the stream in flight), then,
	// under the lock, look for the IDs and take the transaction's ID.
	b := &pgx.Batch{}
	b.Queue(`SELECT version, hash FROM streams WHERE stream = $1 FOR UPDATE`, stream)
	b.Queue(`SELECT id, stream, version, position FROM events WHERE id = ANY($1)`, ids)
	b.Queue(`SELECT pg_current_xact_id()::text::bigint`)
	br := tx.SendBatch(ctx, b)
	actual, prev := int64(-1), eventstore.Hash{}
	var hash []byte
	switch err := br.QueryRow().Scan(&actual, &hash); {
	case errors.Is(err, pgx.ErrNoRows):
		actual = -1
	case err != nil:
		br.Close()
		return eventstore.AppendResult{}, err
	default:
		copy(prev[:], hash)
	}
	rows, _ := br.Query()
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedEvent, error) {
		var e storedEvent
		err := r.Scan(&e.id, &e.stream, &e.version, &e.position)
		return e, err
	})
	if err != nil {
		br.Close()
		return eventstore.AppendResult{}, err
	}
	var xid int64
	if err := br.QueryRow().Scan(&xid); err != nil {
		br.Close()
		return eventstore.AppendResult{}, err
	}
	if err := br.Close(); err != nil {
		return eventstore.AppendResult{}, err
	}

	if len(found) > 0 {
		return decideRetry(stream, evs, found)
	}
	if !expected.Matches(actual) {
		return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: actual}
	}
	if xid >= maxTx {
		return eventstore.AppendResult{}, fmt.Errorf("transaction ID %d is past the last one positions can hold", xid)
	}

	recordedAt := s.opts.Now().UTC().Truncate(time.Microsecond) // timestamptz keeps microseconds
	n := len(evs)
	var (
		positions, versions          = make([]int64, n), make([]int64, n)
		types, corrs, causes, actors = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		schemas                      = make([]int32, n)
		datas, prevs                 = make([][]byte, n), make([][]byte, n)
		res                          eventstore.AppendResult
	)
	for i := range evs {
		ev := &evs[i]
		rec := eventstore.RecordedEvent{
			ID: ev.ID, Stream: stream, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data,
			Metadata: eventstore.Metadata{CorrelationID: ev.Metadata.CorrelationID, CausationID: ev.Metadata.CausationID,
				Actor: ev.Metadata.Actor, RecordedAt: recordedAt},
			Version:  uint64(actual + 1 + int64(i)),
			Position: eventstore.Position(xid<<txShift | int64(i)),
		}
		positions[i], versions[i], types[i], schemas[i], datas[i] = int64(rec.Position), int64(rec.Version), ev.Type, int32(ev.SchemaVersion), ev.Data
		corrs[i], causes[i], actors[i] = ev.Metadata.CorrelationID, ev.Metadata.CausationID, ev.Metadata.Actor
		prevs[i] = append([]byte(nil), prev[:]...)
		prev = eventstore.ChainHash(prev, &rec)
		res = eventstore.AppendResult{Version: rec.Version, Position: rec.Position}
	}
	// One round trip: the events (one INSERT over arrays, so they land whole or not at all) and
	// the stream's new head.
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO events (position, id, stream, version, type, schema_version, data, correlation_id, causation_id, actor, recorded_at, prev_hash)
		SELECT p, i, $3, v, t, sv, d, c, ca, a, $12, ph
		FROM unnest($1::bigint[], $2::uuid[], $4::bigint[], $5::text[], $6::integer[], $7::bytea[], $8::text[], $9::text[], $10::text[], $11::bytea[])
			AS u(p, i, v, t, sv, d, c, ca, a, ph)`,
		positions, ids, stream, versions, types, schemas, datas, corrs, causes, actors, prevs, recordedAt)
	if actual < 0 {
		b.Queue(`INSERT INTO streams (stream, version, hash) VALUES ($1, $2, $3)`, stream, int64(res.Version), prev[:])
	} else {
		b.Queue(`UPDATE streams SET version = $2, hash = $3 WHERE stream = $1`, stream, int64(res.Version), prev[:])
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	// Once the commit is sent, its outcome is awaited even if ctx ends, so that an append is
	// not reported as failed when it was in fact written.
	if err := tx.Commit(context.WithoutCancel(ctx)); err != nil {
		return eventstore.AppendResult{}, err
	}
	return res, nil
}

// decideRetry settles an append some of whose IDs are stored: a retry of a whole append to the
// same stream gets the original result; anything else is refused.
func decideRetry(stream string, evs []eventstore.EventData, found []storedEvent) (eventstore.AppendResult, error) {
	var orig eventstore.AppendResult
	for _, f := range found {
		if f.stream != stream {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %s is stored in another stream", eventstore.ErrDuplicateEventID, uuid.UUID(f.id))
		}
		if eventstore.Position(f.position) >= orig.Position {
			orig = eventstore.AppendResult{Version: uint64(f.version), Position: eventstore.Position(f.position)}
		}
	}
	if len(found) != len(evs) {
		return eventstore.AppendResult{}, fmt.Errorf("%w: %d of the %d events of this append are already stored", eventstore.ErrDuplicateEventID, len(found), len(evs))
	}
	return orig, nil
}
