package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
)

// Checkpoint formats. A checkpoint's format decides how its HeadsRoot is computed from the
// heads; it is signed (the payload's first line), so it cannot be changed afterwards.
const (
	// FormatSorted (1, and every checkpoint without a format) hashes the lines of all heads,
	// sorted by stream name, in one SHA-256: signing costs a sort of every head.
	FormatSorted = 1
	// FormatBuckets (2) hashes the heads in a fixed tree: each stream falls in one of
	// Buckets buckets by the first two bytes of the SHA-256 of its name; a bucket's hash is
	// the SHA-256 of its heads' lines sorted by name; each of the 256 nodes above is the
	// SHA-256 of 256 bucket hashes in order; the root is the SHA-256 of the 256 nodes. A
	// checkpoint rehashes only the buckets whose streams changed.
	FormatBuckets = 2
	// FormatBase (3) computes the root as FormatBuckets does, but its first checkpoint, and
	// any checkpoint after more than a bound of changed heads, is a base: it lists no heads
	// and commits to the root of the heads of all streams at its position, which a verifier
	// recomputes from the log itself. Every other checkpoint lists the heads changed since
	// the one before. No checkpoint, and no moment of the server, holds a list of every stream.
	FormatBase = 3
)

// bucketRoot tells whether a format computes its root by the bucket tree (FormatBuckets and
// FormatBase) rather than by sorting every head (FormatSorted).
func bucketRoot(format int) bool { return format == FormatBuckets || format == FormatBase }

// Buckets is the number of buckets of the FormatBuckets tree, and fanOut its fan-out.
const (
	Buckets = 1 << 16
	fanOut  = 256
)

// BucketOf returns the bucket of a stream in the FormatBuckets tree.
func BucketOf(stream string) int {
	sum := sha256.Sum256([]byte(stream))
	return int(binary.BigEndian.Uint16(sum[:2]))
}

// emptyBucket is the hash of a bucket without streams.
var emptyBucket = sha256.Sum256(nil)

// HeadsRoot computes the root of the heads by the rule of the given checkpoint format, as a
// verifier outside the server would from the heads it folded from the checkpoints' Changed
// lists. The heads need not be sorted; a stream named twice keeps its last head.
func HeadsRoot(format int, heads []Head) string {
	byName := make(map[string]Head, len(heads))
	for _, h := range heads {
		byName[h.Stream] = h
	}
	sorted := make([]Head, 0, len(byName))
	for _, h := range byName {
		sorted = append(sorted, h)
	}
	slices.SortFunc(sorted, func(a, b Head) int { return strings.Compare(a.Stream, b.Stream) })
	if !bucketRoot(format) {
		l := newLineHasher()
		for _, h := range sorted {
			l.line(h.Stream, h.Version, h.Hash)
		}
		return l.sum()
	}
	var t tree
	t.init()
	lines := make([]lineHasher, Buckets)
	for _, h := range sorted {
		b := BucketOf(h.Stream)
		if lines[b].h == nil {
			lines[b] = newLineHasher()
		}
		lines[b].line(h.Stream, h.Version, h.Hash)
	}
	for b, l := range lines {
		if l.h != nil {
			copy(t.leaves[b][:], l.h.Sum(nil))
			t.dirty(b)
		}
	}
	return t.root()
}

// headsRoot is HeadsRoot over a verifier's map of heads.
func headsRoot(format int, heads map[string]headState) string {
	list := make([]Head, 0, len(heads))
	for s, h := range heads {
		list = append(list, Head{Stream: s, Version: uint64(h.version), Hash: h.hash.String()})
	}
	return HeadsRoot(format, list)
}

// tree holds the hashes of the FormatBuckets tree: a fixed size (2 MiB for the buckets),
// whatever the number of streams.
type tree struct {
	leaves [Buckets][sha256.Size]byte
	nodes  [fanOut][sha256.Size]byte
	stale  [fanOut]bool
}

// init sets every bucket empty.
func (t *tree) init() {
	for b := range t.leaves {
		t.leaves[b] = emptyBucket
	}
	for n := range t.stale {
		t.stale[n] = true
	}
}

// dirty marks the node above bucket b for rehashing.
func (t *tree) dirty(b int) { t.stale[b/fanOut] = true }

// root rehashes the stale nodes and returns the root, in hex.
func (t *tree) root() string {
	for n, stale := range t.stale {
		if stale {
			h := sha256.New()
			for _, leaf := range t.leaves[n*fanOut : (n+1)*fanOut] {
				h.Write(leaf[:])
			}
			copy(t.nodes[n][:], h.Sum(nil))
			t.stale[n] = false
		}
	}
	h := sha256.New()
	for _, node := range t.nodes {
		h.Write(node[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// bucketTracker keeps the FormatBuckets root of a set of heads that grows and moves a few at a
// time, rehashing only the buckets that changed: verify checks every format-2 checkpoint's
// root with it, not only the last one's.
type bucketTracker struct {
	t       *tree
	streams map[int][]string
	dirty   map[int]bool
}

// moved notes that the head of stream changed (or appeared, when added).
func (b *bucketTracker) moved(stream string, added bool) {
	if b.t == nil {
		b.t, b.streams, b.dirty = new(tree), map[int][]string{}, map[int]bool{}
		b.t.init()
	}
	k := BucketOf(stream)
	if added {
		b.streams[k] = append(b.streams[k], stream)
	}
	b.dirty[k] = true
}

// root rehashes the changed buckets from heads and returns the root.
func (b *bucketTracker) root(heads map[string]headState) string {
	if b.t == nil {
		return HeadsRoot(FormatBuckets, nil)
	}
	for k := range b.dirty {
		names := b.streams[k]
		slices.Sort(names)
		l := newLineHasher()
		for _, s := range names {
			h := heads[s]
			l.line(s, uint64(h.version), h.hash.String())
		}
		copy(b.t.leaves[k][:], l.h.Sum(nil))
		b.t.dirty(k)
	}
	clear(b.dirty)
	return b.t.root()
}
