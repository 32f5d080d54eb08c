package audit

import (
	"slices"

	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/eventstore"
)

// headsRoot is HeadsRoot over a verifier's map of heads.
func headsRoot(format int, heads map[string]headState) string {
	list := make([]checkpoint.Head, 0, len(heads))
	for s, h := range heads {
		list = append(list, checkpoint.Head{Stream: s, Version: uint64(h.version), Hash: h.hash.String()})
	}
	return checkpoint.HeadsRoot(format, list)
}

// bucketTracker keeps the bucket-tree root (checkpoint.FormatBuckets, FormatBase) of a set of heads that grows and moves a few at a
// time, rehashing only the buckets that changed: verify checks every format-2 checkpoint's
// root with it, not only the last one's.
type bucketTracker struct {
	t       *checkpoint.Tree
	streams map[int][]string
	dirty   map[int]bool
}

// moved notes that the head of stream changed (or appeared, when added).
func (b *bucketTracker) moved(stream string, added bool) {
	if b.t == nil {
		b.t, b.streams, b.dirty = checkpoint.NewTree(), map[int][]string{}, map[int]bool{}
	}
	k := checkpoint.BucketOf(stream)
	if added {
		b.streams[k] = append(b.streams[k], stream)
	}
	b.dirty[k] = true
}

// root rehashes the changed buckets from heads and returns the root.
func (b *bucketTracker) root(heads map[string]headState) string {
	if b.t == nil {
		return checkpoint.HeadsRoot(checkpoint.FormatBuckets, nil)
	}
	for k := range b.dirty {
		names := b.streams[k]
		slices.Sort(names)
		l := checkpoint.NewLineHasher()
		for _, s := range names {
			h := heads[s]
			l.Line(s, uint64(h.version), h.hash.String())
		}
		b.t.Set(k, l.Sum32())
	}
	clear(b.dirty)
	return b.t.Root()
}

// headState is a stream's last event: its version (-1: none) and hash.
type headState struct {
	version int64
	hash    eventstore.Hash
}
