package sqlite

import (
	"sync"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// knownHeadsMax bounds how many streams' heads a store remembers.
const knownHeadsMax = 16384

var _ eventstore.KnownHeads = (*Store)(nil)

// knownHeads remembers the last event of the streams the writer committed to since the store
// was opened, for KnownHead. The writer is the only one to write the file (the writer lock sees
// to it), so an entry is the stream's head until the writer itself moves it. An entry is set
// after the commit and before the appends are acknowledged; a stream evicted to make room is
// simply unknown until its next commit. (The writer's own head cache, writerState.heads, cannot
// serve: it is the writer goroutine's alone, holds versions of a batch before its commit, and
// carries chain hashes, not event IDs.)
type knownHeads struct {
	mu sync.RWMutex
	m  map[string]knownHead
}

type knownHead struct {
	version  uint64
	id       uuid.UUID
	position eventstore.Position // of the head event: a reader compares it with its own head
}

// add records the heads a committed batch left. Writer only.
func (k *knownHeads) add(batch []*writeReq, max int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[string]knownHead)
	}
	for _, req := range batch {
		if !req.wrote() {
			continue
		}
		if _, ok := k.m[req.stream]; !ok && len(k.m) >= max {
			for s := range k.m { // map order is unspecified: this drops an arbitrary entry
				delete(k.m, s)
				break
			}
		}
		k.m[req.stream] = knownHead{version: req.result.Version, id: req.events[len(req.events)-1].ID, position: req.result.Position}
	}
}

func (k *knownHeads) get(stream string) (knownHead, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	h, ok := k.m[stream]
	return h, ok
}

// KnownHead implements eventstore.KnownHeads: it returns the head of a stream this store wrote
// since it was opened, as long as it remembers it. A read-only store knows no head: another
// process writes the file.
func (s *Store) KnownHead(stream string) (version uint64, id uuid.UUID, ok bool) {
	if s.opts.ReadOnly {
		return 0, uuid.Nil, false
	}
	h, ok := s.known.get(stream)
	return h.version, h.id, ok
}
