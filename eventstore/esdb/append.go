package esdb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// Append implements eventstore.Store. The append is one EventStoreDB write with the mapped
// expected revision: atomic, and acknowledged once the leader has written and indexed it and a
// majority of the cluster holds it.
//
// Differences from the embedded store, all from EventStoreDB:
//   - A retry whose events are all stored, at the expected version, returns the original
//     result (the server recognises the IDs); with Any the server's check is best effort.
//   - An event ID is unique within its stream only: the same ID in another stream is accepted.
//   - Event types must not start with '$': $all readers skip such events as the server's own.
//   - After the write, the last event is read back for its position (see positionOf), which
//     costs one more round trip per append: which event's position the server returns for a
//     multi-event or idempotent append could not be checked against a server.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.Validate(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if strings.HasPrefix(stream, checkpointStreamPrefix) {
		return eventstore.AppendResult{}, fmt.Errorf("%w: the stream name %q is reserved for checkpoints", eventstore.ErrInvalidEvent, stream)
	}
	proposed := make([]esdbclient.EventData, len(events))
	for i, ev := range events {
		if strings.HasPrefix(ev.Type, "$") {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %d has the type %q: types starting with '$' are EventStoreDB's", eventstore.ErrInvalidEvent, i, ev.Type)
		}
		p, err := toProposed(ev)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("esdb append to %q: event %d: %w", stream, i, err)
		}
		proposed[i] = p
	}
	c, done, err := s.acquire()
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	defer done()
	res, err := c.AppendToStream(ctx, stream, esdbclient.AppendToStreamOptions{ExpectedRevision: expectedRevision(expected)}, proposed...)
	if err != nil {
		actual, perr := actualRevision(err)
		switch {
		case errors.Is(perr, errNotWrongExpectedVersion):
			return eventstore.AppendResult{}, s.failure(ctx, c, err, "append to %q", stream)
		case perr != nil:
			// A conflict whose actual version the client did not let us read: ask the stream.
			if actual, perr = s.head(ctx, c, stream); perr != nil {
				return eventstore.AppendResult{}, fmt.Errorf("esdb append to %q: %w (and reading the stream's version: %w)", stream, err, perr)
			}
		}
		return s.refused(ctx, c, stream, expected, events, actual)
	}
	pos, err := s.positionAt(ctx, c, stream, res.NextExpectedVersion)
	if err != nil {
		// The events are written: an error now would invite a retry of a done append. Fall
		// back to the position the server returned, when it returned one.
		if res.CommitPosition == 0 || ctx.Err() != nil {
			return eventstore.AppendResult{}, err
		}
		pos = eventstore.Position(res.CommitPosition)
	}
	return eventstore.AppendResult{Version: res.NextExpectedVersion, Position: pos}, nil
}

// refused settles an append the server refused with a wrong expected version, as the embedded
// store does: if every event ID is already stored in the stream, the original result; if
// some are, ErrDuplicateEventID; else a *ConflictError. It looks for the IDs where the original
// append would have put them (after the expected version; for Any, among the stream's last
// events), and falls back to the conflict when it cannot look.
func (s *Store) refused(ctx context.Context, c *esdbclient.Client, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData, actual int64) (eventstore.AppendResult, error) {
	conflict := &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: actual}
	if actual < 0 {
		return eventstore.AppendResult{}, conflict
	}
	opts := esdbclient.ReadStreamOptions{}
	count := uint64(len(events))
	switch v, exact := expected.ExactVersion(); {
	case exact:
		opts.From = esdbclient.Revision(v + 1)
	case expected.IsNoStream():
		opts.From = esdbclient.Revision(0)
	default:
		opts.Direction, opts.From, count = esdbclient.Backwards, esdbclient.End{}, idSearchWindow
	}
	stored, err := s.readStream(ctx, c, stream, opts, count)
	if err != nil {
		return eventstore.AppendResult{}, conflict
	}
	want := make(map[uuid.UUID]bool, len(events))
	for _, ev := range events {
		want[ev.ID] = true
	}
	found := 0
	var orig eventstore.AppendResult
	for _, ev := range stored {
		if want[ev.ID] {
			found++
			if ev.Version >= orig.Version {
				orig = eventstore.AppendResult{Version: ev.Version, Position: ev.Position}
			}
		}
	}
	switch {
	case found == len(events):
		return orig, nil
	case found > 0:
		return eventstore.AppendResult{}, fmt.Errorf("%w: %d of the %d events of this append are already stored in %q", eventstore.ErrDuplicateEventID, found, len(events), stream)
	default:
		return eventstore.AppendResult{}, conflict
	}
}

// idSearchWindow is how many of a stream's last events are searched for the IDs of an append
// with Any or StreamExists that the server refused.
const idSearchWindow = 256

// positionAt returns the global position of the event at version v of stream. It reads from
// the node the client talks to: with nodePreference=leader (the client's default) that is the
// leader, which has indexed an append before acknowledging it; a follower may not have it yet.
func (s *Store) positionAt(ctx context.Context, c *esdbclient.Client, stream string, v uint64) (eventstore.Position, error) {
	evs, err := s.readStream(ctx, c, stream, esdbclient.ReadStreamOptions{From: esdbclient.Revision(v)}, 1)
	if err != nil {
		return 0, fmt.Errorf("esdb append to %q: read back version %d: %w", stream, v, err)
	}
	if len(evs) != 1 || evs[0].Version != v {
		return 0, fmt.Errorf("esdb append to %q: read back version %d: the event is missing", stream, v)
	}
	return evs[0].Position, nil
}

// head returns the version of the last event of stream, or -1 when it has none.
func (s *Store) head(ctx context.Context, c *esdbclient.Client, stream string) (int64, error) {
	evs, err := s.readStream(ctx, c, stream, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
	switch {
	case err == nil && len(evs) == 1:
		return int64(evs[0].Version), nil
	case err == nil || isNotFound(err):
		return -1, nil
	default:
		return 0, err
	}
}
