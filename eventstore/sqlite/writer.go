package sqlite

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

// writeReq is one Append or one checkpoint save waiting for the writer goroutine.
type writeReq struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedVersion
	events   []eventstore.EventData

	checkpoint *checkpointWrite
	// parts are the per-stream requests of an AppendMulti, written in one transaction or not
	// at all (multi.go); such a request has no stream or events of its own.
	parts []*writeReq
	// probe is a health probe's write (health.go).
	probe bool
	// chain holds, for each event, its position and the hash of the previous event of the
	// stream: set by the writer when the request passes its check.
	chain []chainLink

	result eventstore.AppendResult
	err    error
	done   chan struct{}
}

type checkpointWrite struct {
	name     string
	position eventstore.Position
}

// wrote says whether the request is an append whose events the last commit wrote (a request
// refused by its check, or a retry given its original result, has no chain links).
func (r *writeReq) wrote() bool {
	return r.checkpoint == nil && r.err == nil && len(r.chain) > 0
}

func (r *writeReq) size() int {
	if r.checkpoint != nil || r.probe {
		return 1
	}
	n := len(r.events)
	for _, p := range r.parts {
		n += len(p.events)
	}
	return n
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	evs := make([]eventstore.EventData, len(events))
	copy(evs, events)
	if err := eventstore.Validate(stream, evs); err != nil {
		return eventstore.AppendResult{}, err
	}
	req := &writeReq{ctx: ctx, stream: stream, expected: expected, events: evs}
	if err := s.submit(ctx, req); err != nil {
		return eventstore.AppendResult{}, err
	}
	return req.result, req.err
}

// submit hands req to the writer and waits for its outcome. Once the writer has the request,
// submit waits for the commit even if ctx ends, so that an append is never reported as failed
// when it was in fact written.
func (s *Store) submit(ctx context.Context, req *writeReq) error {
	if s.opts.ReadOnly {
		return fmt.Errorf("sqlite: the store is open read-only")
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	req.done = make(chan struct{})
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return eventstore.ErrClosed
	}
	<-req.done
	return nil
}

func (s *Store) writeLoop() {
	defer close(s.done)
	var batch []*writeReq
	// idle moves the tail into stream_index when no append comes to carry it.
	idle := time.NewTimer(s.opts.IndexDelay)
	defer idle.Stop()
	cp := checkpointState{at: time.Now()}
	for {
		batch = batch[:0]
		idle.Reset(s.opts.IndexDelay)
		select {
		case req := <-s.reqs:
			batch = append(batch, req)
		case <-idle.C:
			s.flushTail()
			s.checkpoint(&cp)
			continue
		case <-s.stop:
			// Commit what is already queued, index the tail, then stop.
			for {
				select {
				case req := <-s.reqs:
					s.commit([]*writeReq{req})
				default:
					s.flushTail()
					return
				}
			}
		}
		n := batch[0].size()
	gather:
		for n < s.opts.MaxBatchEvents {
			select {
			case req := <-s.reqs:
				batch = append(batch, req)
				n += req.size()
			default:
				break gather
			}
		}
		s.commit(batch)
		// The tail moves into stream_index in a transaction of its own, once the batch's
		// appends are answered: the move's page writes delay nobody's acknowledgement, only
		// appends that arrive while it runs. So does the WAL checkpoint.
		if s.tail.due(time.Now()) {
			s.flushTail()
		}
		s.checkpoint(&cp)
	}
}

// commit writes a batch in one transaction. If the transaction itself fails, each request is
// tried again alone, so that one request's failure never fails the others.
func (s *Store) commit(batch []*writeReq) {
	live := batch[:0:0]
	for _, req := range batch {
		if req.checkpoint == nil && !req.probe && req.ctx.Err() != nil {
			req.err = req.ctx.Err()
			close(req.done)
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	began := time.Now()
	last, err := s.commitTx(live)
	if err != nil && len(live) > 1 {
		for _, req := range live {
			s.commit([]*writeReq{req})
		}
		return
	}
	if err != nil {
		err = classify(err)
		s.noteWrite(err)
		if live[0].probe {
			live[0].err = err
		} else {
			live[0].err = fmt.Errorf("sqlite append: %w", err)
		}
		close(live[0].done)
		return
	}
	s.noteWrite(nil)
	s.commits.Add(1)
	cs := CommitStats{Took: time.Since(began), Sync: s.writer.syncTook}
	written := flattenParts(live)
	for _, req := range written {
		if req.wrote() {
			s.appends.Add(1)
			s.events.Add(uint64(len(req.events)))
			cs.Appends++
			cs.Events += len(req.events)
		}
	}
	// The tail learns of the events before readers can see them (head), so that a reader
	// finds every event at or below the head in stream_index or in the tail.
	s.tail.add(written)
	s.recent.add(written, s.writer.recordedAt)
	s.known.add(written, knownHeadsMax)
	// The head moves before anyone is answered or woken. Then the wake-ups, in an order that
	// matters on a busy processor: the urgent subscriptions (the push hub) first, and this
	// goroutine yields its processor to them (Go runs a goroutine just woken before the others
	// that wait, and puts the one that yields behind them all), so that a new challenge is on
	// its way to the devices before the appenders (whose HTTP answers take a few hundred
	// microseconds to write) and the subscriptions (the read models) are even woken.
	advanced := last > s.head.Load()
	if advanced {
		s.head.Store(last)
		s.wake(true)
		runtime.Gosched()
		s.wake(false)
	}
	for _, req := range live {
		close(req.done)
	}
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(cs) // after the appenders are answered
	}
}
