package sqlite

import (
	"sync"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

// recentEvents is the number of the last committed events the store keeps in memory.
const recentEvents = 4096

// recentLog holds the last committed events, so that a live subscription takes a new event
// from memory instead of reading it back from the file: the router that feeds projections and
// push hubs learns of an append without a query. A subscription further behind reads the file.
type recentLog struct {
	mu    sync.RWMutex
	ring  [recentEvents]eventstore.RecordedEvent // the event at position p is at p % recentEvents
	first eventstore.Position                    // oldest position held; 0 when empty
	last  eventstore.Position                    // newest position held
}

// add records the events of a committed batch, in position order. Writer only.
func (r *recentLog) add(batch []*writeReq, recordedAt time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range batch {
		if !req.wrote() {
			continue
		}
		first := req.result.Version - uint64(len(req.events)) + 1
		for i := range req.events {
			ev := &req.events[i]
			pos := eventstore.Position(req.chain[i].position)
			if r.first == 0 || pos != r.last+1 {
				// Positions are dense; anything else (a writer that re-read its position
				// after a rollback) starts the ring anew.
				r.first = pos
			}
			r.ring[pos%recentEvents] = eventstore.RecordedEvent{
				ID: ev.ID, Stream: req.stream, Type: ev.Type, SchemaVersion: ev.SchemaVersion,
				Data: append([]byte(nil), ev.Data...),
				Metadata: eventstore.Metadata{CorrelationID: ev.Metadata.CorrelationID, CausationID: ev.Metadata.CausationID,
					Actor: ev.Metadata.Actor, RecordedAt: recordedAt},
				Version: first + uint64(i), Position: pos,
			}
			r.last = pos
			if r.last-r.first >= recentEvents {
				r.first = r.last - recentEvents + 1
			}
		}
	}
}

// after returns up to limit events after position p and at or below head, each with its own
// copy of the data. ok is false when the ring no longer holds the event after p.
func (r *recentLog) after(p, head eventstore.Position, limit int) (evs []eventstore.RecordedEvent, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.first == 0 || p+1 < r.first {
		return nil, false
	}
	end := min(r.last, head, p+eventstore.Position(limit))
	for q := p + 1; q <= end; q++ {
		ev := r.ring[q%recentEvents]
		ev.Data = append([]byte(nil), ev.Data...)
		evs = append(evs, ev)
	}
	return evs, true
}
