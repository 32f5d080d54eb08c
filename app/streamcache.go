package app

import (
	"github.com/google/uuid"
	"github.com/maypok86/otter/v2"

	"github.com/assent-dev/assent/domain"
)

// streamCacheBytes bounds the estimated memory of the streams a Service keeps decoded.
const streamCacheBytes = 64 << 20

// Estimates of the memory an entry holds, for the cache's weigher: a decoded event costs
// about its JSON (strings, byte slices) plus the interface, the struct and the slice slot.
const (
	entryOverhead = 256
	eventOverhead = 128
)

// cachedStream is a stream as a load gives it, up to and including the event at version,
// whose ID is lastID: the decoded events, or, for an account stream, the folded account. It is
// never modified once cached: a longer stream is a new entry. events has no spare capacity,
// so a caller that appends to it gets a copy; account is never changed (Account.Fold copies).
type cachedStream struct {
	events  []domain.Event
	account *domain.Account
	version uint64
	lastID  uuid.UUID
	// bytes is the estimated memory of the entry.
	bytes int
	// snapshot is the version of the newest snapshot of the stream known to be saved
	// (account streams; 0 for none), so that the next one is saved snapshotEvery events later.
	snapshot uint64
}

// extended returns a new entry: c's events (or account) followed by more, ending at version
// with the event lastID; moreBytes is the size of more as encoded. c itself is left as it was.
func (c *cachedStream) extended(more []domain.Event, moreBytes int, version uint64, lastID uuid.UUID) (*cachedStream, error) {
	next := &cachedStream{version: version, lastID: lastID, snapshot: c.snapshot}
	if c.account != nil {
		a, err := c.account.Fold(more...)
		if err != nil {
			return nil, err
		}
		next.account, next.bytes = a, entryOverhead+a.SizeHint()
		return next, nil
	}
	next.events = make([]domain.Event, 0, len(c.events)+len(more))
	next.events = append(append(next.events, c.events...), more...)
	next.bytes = max(c.bytes, entryOverhead) + moreBytes + eventOverhead*len(more)
	return next, nil
}

// streamCache keeps recently used streams decoded, so that a command loading a stream reads
// only what was appended since (see Service.load). An entry is only a hint: a load checks it
// against the store before using it. It is bounded by the entries' estimated bytes and
// evicts by recency and frequency (otter's W-TinyLFU). It is safe for concurrent use.
type streamCache struct {
	c *otter.Cache[string, *cachedStream]
}

func newStreamCache(maxBytes uint64) *streamCache {
	return &streamCache{c: otter.Must(&otter.Options[string, *cachedStream]{
		MaximumWeight: maxBytes,
		Weigher: func(stream string, c *cachedStream) uint32 {
			return uint32(min(len(stream)+c.bytes, 1<<31))
		},
		// Evictions run on the goroutine that wrote, so that the bound holds when a put returns.
		Executor: func(fn func()) { fn() },
	})}
}

// get returns the entry of stream, or nil.
func (sc *streamCache) get(stream string) *cachedStream {
	c, _ := sc.c.GetIfPresent(stream)
	return c
}

// put makes c the entry of stream, unless the entry already holds a later version (two loads
// racing: the one that read more wins). When the cache is over its bound, the entries least
// likely to be used again make room.
func (sc *streamCache) put(stream string, c *cachedStream) {
	sc.c.Compute(stream, func(cur *cachedStream, found bool) (*cachedStream, otter.ComputeOp) {
		if found && cur.version > c.version {
			return cur, otter.CancelOp
		}
		return c, otter.WriteOp
	})
}

// drop removes the entry of stream if it is still c, so that a stale entry found by one load
// does not take a fresher one put meanwhile by another.
func (sc *streamCache) drop(stream string, c *cachedStream) {
	sc.c.ComputeIfPresent(stream, func(cur *cachedStream) (*cachedStream, otter.ComputeOp) {
		if cur == c {
			return nil, otter.InvalidateOp
		}
		return cur, otter.CancelOp
	})
}

// len returns the number of streams cached.
func (sc *streamCache) len() int { return sc.c.EstimatedSize() }

// weight returns the estimated bytes of the streams cached.
func (sc *streamCache) weight() uint64 { return sc.c.WeightedSize() }
