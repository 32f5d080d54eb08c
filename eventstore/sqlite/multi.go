package sqlite

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

var _ eventstore.MultiStreamAppender = (*Store)(nil)

// AppendMulti implements eventstore.MultiStreamAppender: the parts go to the writer as one
// request, checked together and written in one transaction, so that all are durable or none.
func (s *Store) AppendMulti(ctx context.Context, parts ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	return s.appendParts(ctx, parts, false)
}

// AppendBatch is the bulk path of a load (assent generate): the appends are written in one
// transaction, in their order, all or nothing, whatever their number (Options.MaxBatchEvents
// does not split them). Unlike AppendMulti a stream may come several times: each append's
// expected version is checked against the stream as the appends before it in the batch leave
// it. Every invariant of Append holds: versions, positions, the hash chain, the stream index.
// A conflict returns its *ConflictError and writes nothing; an event ID already stored is
// refused with ErrDuplicateEventID.
func (s *Store) AppendBatch(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	return s.appendParts(ctx, appends, true)
}

// appendParts is AppendMulti, and AppendBatch when repeats is set.
func (s *Store) appendParts(ctx context.Context, parts []eventstore.StreamAppend, repeats bool) ([]eventstore.AppendResult, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no streams to append to", eventstore.ErrInvalidEvent)
	}
	req := &writeReq{ctx: ctx}
	streams := make(map[string]bool, len(parts))
	ids := make(map[uuid.UUID]bool)
	for _, p := range parts {
		evs := make([]eventstore.EventData, len(p.Events))
		copy(evs, p.Events)
		if err := eventstore.Validate(p.Stream, evs); err != nil {
			return nil, err
		}
		if streams[p.Stream] && !repeats {
			return nil, fmt.Errorf("%w: stream %q appears twice in one append", eventstore.ErrInvalidEvent, p.Stream)
		}
		streams[p.Stream] = true
		for _, ev := range evs {
			if ids[ev.ID] {
				return nil, fmt.Errorf("%w: event ID %s appears twice in one append", eventstore.ErrInvalidEvent, ev.ID)
			}
			ids[ev.ID] = true
		}
		req.parts = append(req.parts, &writeReq{ctx: ctx, stream: p.Stream, expected: p.Expected, events: evs})
	}
	if err := s.submit(ctx, req); err != nil {
		return nil, err
	}
	if req.err != nil {
		return nil, req.err
	}
	out := make([]eventstore.AppendResult, len(req.parts))
	for i, p := range req.parts {
		out[i] = p.result
	}
	return out, nil
}

// addMulti checks every part of an AppendMulti (or an AppendBatch) against its stream's head
// and, when all pass, makes them pending together; when one fails, the request gets its
// conflict and nothing of it is written. A stream that comes again is checked against the
// version the parts before it leave.
func (b *batchTx) addMulti(req *writeReq, alone bool) error {
	req.err = nil
	versions := make(map[string]int64, len(req.parts))
	for _, p := range req.parts {
		p.err, p.result, p.chain = nil, eventstore.AppendResult{}, p.chain[:0]
		v, seen := versions[p.stream]
		if !seen {
			h, err := b.streamHead(p.stream)
			if err != nil {
				return err
			}
			v = h.version
		}
		if !p.expected.Matches(v) {
			req.err = &eventstore.ConflictError{Stream: p.stream, Expected: p.expected, Actual: v}
			return nil
		}
		versions[p.stream] = v + int64(len(p.events))
	}
	b.multi = true
	for _, p := range req.parts {
		if b.rows+len(p.events) > maxRowsPerInsert {
			if err := b.flush(alone); err != nil {
				return err
			}
		}
		// The head the parts before this one left (streamHead reads the batch's own heads).
		head, err := b.streamHead(p.stream)
		if err != nil {
			return err
		}
		p.result.Version = uint64(head.version) + uint64(len(p.events))
		b.w.heads[p.stream] = b.chain(p, head)
		b.pending = append(b.pending, p)
		b.rows += len(p.events)
	}
	return nil
}

// flattenParts returns the requests of a committed batch with each AppendMulti replaced by its
// parts: the tail, the ring and the known heads are kept per stream.
func flattenParts(batch []*writeReq) []*writeReq {
	multi := false
	for _, req := range batch {
		multi = multi || len(req.parts) > 0
	}
	if !multi {
		return batch
	}
	out := make([]*writeReq, 0, len(batch)+4)
	for _, req := range batch {
		if len(req.parts) > 0 {
			out = append(out, req.parts...)
		} else {
			out = append(out, req)
		}
	}
	return out
}
