package checkpoint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
)

// Checkpoint formats. A checkpoint's format decides how its HeadsRoot is computed from the
// heads and what it lists; it is signed (the payload's first line), so it cannot be changed
// afterwards.
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

// BucketRoot tells whether a format computes its root by the bucket tree (FormatBuckets and
// FormatBase) rather than by sorting every head (FormatSorted).
func BucketRoot(format int) bool { return format == FormatBuckets || format == FormatBase }

// Buckets is the number of buckets of the bucket tree, and FanOut the buckets under a node.
const (
	Buckets = 1 << 16
	FanOut  = 256
)

// BucketOf returns the bucket of a stream in the bucket tree.
func BucketOf(stream string) int {
	sum := sha256.Sum256([]byte(stream))
	return int(binary.BigEndian.Uint16(sum[:2]))
}

// EmptyBucket is the hash of a bucket without streams.
var EmptyBucket = sha256.Sum256(nil)

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
	if !BucketRoot(format) {
		l := NewLineHasher()
		for _, h := range sorted {
			l.Line(h.Stream, h.Version, h.Hash)
		}
		return l.Sum()
	}
	t := NewTree()
	lines := make([]LineHasher, Buckets)
	for _, h := range sorted {
		b := BucketOf(h.Stream)
		if lines[b].h == nil {
			lines[b] = NewLineHasher()
		}
		lines[b].Line(h.Stream, h.Version, h.Hash)
	}
	for b, l := range lines {
		if l.h != nil {
			t.Set(b, l.Sum32())
		}
	}
	return t.Root()
}

// Tree holds the hashes of the bucket tree: a fixed size (2 MiB for the buckets), whatever
// the number of streams.
type Tree struct {
	leaves [Buckets][sha256.Size]byte
	nodes  [FanOut][sha256.Size]byte
	stale  [FanOut]bool
}

// NewTree returns a tree whose buckets are all empty.
func NewTree() *Tree {
	t := new(Tree)
	for b := range t.leaves {
		t.leaves[b] = EmptyBucket
	}
	for n := range t.stale {
		t.stale[n] = true
	}
	return t
}

// Set sets the hash of bucket b, and marks the node above it for rehashing.
func (t *Tree) Set(b int, h [sha256.Size]byte) {
	t.leaves[b] = h
	t.stale[b/FanOut] = true
}

// Leaf is the hash of bucket b.
func (t *Tree) Leaf(b int) [sha256.Size]byte { return t.leaves[b] }

// Root rehashes the stale nodes and returns the root, in hex.
func (t *Tree) Root() string {
	for n, stale := range t.stale {
		if stale {
			h := sha256.New()
			for _, leaf := range t.leaves[n*FanOut : (n+1)*FanOut] {
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
