package app

import (
	"sync"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// streamCacheSize bounds how many streams a Service keeps decoded.
const streamCacheSize = 4096

// cachedStream is a stream's events as decoded from the store, up to and including the event
// at version, whose ID is lastID. It is never modified once cached: a longer stream is a new
// entry. events has no spare capacity, so a caller that appends to it gets a copy.
type cachedStream struct {
	events  []domain.Event
	version uint64
	lastID  uuid.UUID
}

// extended returns a new entry: c's events, then more, ending at version with the event lastID.
// c itself is left as it was.
func (c *cachedStream) extended(more []domain.Event, version uint64, lastID uuid.UUID) *cachedStream {
	events := make([]domain.Event, 0, len(c.events)+len(more))
	events = append(append(events, c.events...), more...)
	return &cachedStream{events: events, version: version, lastID: lastID}
}

// streamCache keeps the decoded events of recently used streams, so that a command loading a
// stream reads only what was appended since (see Service.load). An entry is only a hint: a
// load checks it against the store before using it. It is safe for concurrent use.
type streamCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*cachedStream
}

func newStreamCache(max int) *streamCache {
	return &streamCache{max: max, entries: make(map[string]*cachedStream)}
}

// get returns the entry of stream, or nil.
func (sc *streamCache) get(stream string) *cachedStream {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.entries[stream]
}

// put makes c the entry of stream, unless the entry already holds a later version (two loads
// racing: the one that read more wins). When the cache is full, an arbitrary entry makes room.
func (sc *streamCache) put(stream string, c *cachedStream) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	cur, ok := sc.entries[stream]
	if ok && cur.version > c.version {
		return
	}
	if !ok && len(sc.entries) >= sc.max {
		for k := range sc.entries { // map order is unspecified: this drops an arbitrary entry
			delete(sc.entries, k)
			break
		}
	}
	sc.entries[stream] = c
}

// drop removes the entry of stream if it is still c, so that a stale entry found by one load
// does not take a fresher one put meanwhile by another.
func (sc *streamCache) drop(stream string, c *cachedStream) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.entries[stream] == c {
		delete(sc.entries, stream)
	}
}

// len returns the number of streams cached.
func (sc *streamCache) len() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return len(sc.entries)
}
