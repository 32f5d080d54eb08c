package audit_test

import (
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// mixedFormats writes a log whose checkpoints are of several formats, the last of the given
// one: #1 FormatSorted (as signed before FormatBuckets), #2 FormatBuckets, #3 FormatSorted,
// #4 FormatBuckets when last is FormatBuckets or FormatBase, and #5 FormatBase (a list: the
// log already has checkpoints) when last is FormatBase. With last 0 the log begins with a
// base: FormatBase, FormatSorted, FormatBuckets, FormatBase. Each checkpointer resumes from
// the same tables.
func mixedFormats(t *testing.T, last int) *history {
	t.Helper()
	h := newHistory(t, 2)
	formats := []int{checkpoint.FormatSorted, checkpoint.FormatBuckets, checkpoint.FormatSorted}
	switch last {
	case checkpoint.FormatBuckets:
		formats = append(formats, checkpoint.FormatBuckets)
	case checkpoint.FormatBase:
		formats = append(formats, checkpoint.FormatBuckets, checkpoint.FormatBase)
	case 0:
		formats = []int{checkpoint.FormatBase, checkpoint.FormatSorted, checkpoint.FormatBuckets, checkpoint.FormatBase}
	}
	for i, f := range formats {
		h.cp = newCheckpointer(h, f)
		h.approve(t, 2+i)
		cp := h.checkpoint(t)
		if cp.FormatOrSorted() != f || cp.HeadsRoot != checkpoint.HeadsRoot(f, foldHeads(t, h.store, cp.Position)) {
			t.Fatalf("checkpoint #%d: format %d (want %d), root %s differs from a fresh fold's", cp.Seq, cp.FormatOrSorted(), f, cp.HeadsRoot)
		}
	}
	return h
}

// Verify checks each checkpoint's root by the rule of its own format, over logs that hold
// several.
func TestVerifyHoldsOverCheckpointsOfBothFormats(t *testing.T) {
	t.Parallel()
	for _, last := range []int{checkpoint.FormatSorted, checkpoint.FormatBuckets, checkpoint.FormatBase, 0} {
		h := mixedFormats(t, last)
		rep, err := audit.Verify(ctxT(t), h.store, audit.VerifyOptions{TrustedKeys: []ed25519.PublicKey{h.cpKey.Public().(ed25519.PublicKey)}})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK || rep.Checkpoints < 3 || len(errorsOf(rep)) != 0 {
			t.Fatalf("the last checkpoint of format %d: %d checkpoints, %+v", last, rep.Checkpoints, rep.Findings)
		}
	}
}

// The root of one format does not pass for the other's: a checkpoint whose root was computed
// by the other rule does not fold.
func TestHeadsRootDependsOnTheFormat(t *testing.T) {
	heads := []checkpoint.Head{{Stream: "a", Version: 0, Hash: "00"}, {Stream: "b", Version: 3, Hash: "11"}}
	if checkpoint.HeadsRoot(checkpoint.FormatSorted, heads) == checkpoint.HeadsRoot(checkpoint.FormatBuckets, heads) {
		t.Fatal("both formats give the same root")
	}
	moved := []checkpoint.Head{heads[0], {Stream: "b", Version: 4, Hash: "11"}}
	if checkpoint.HeadsRoot(checkpoint.FormatBuckets, heads) == checkpoint.HeadsRoot(checkpoint.FormatBuckets, moved) {
		t.Fatal("a moved head leaves the root as it was")
	}
	reordered := []checkpoint.Head{heads[1], heads[0]}
	if checkpoint.HeadsRoot(checkpoint.FormatBuckets, heads) != checkpoint.HeadsRoot(checkpoint.FormatBuckets, reordered) {
		t.Fatal("the root depends on the order the heads are given in")
	}
}

// Tampering is still caught in a log with checkpoints of both formats.
func TestVerifyNamesTamperingOverBothFormats(t *testing.T) {
	t.Parallel()
	for _, last := range []int{checkpoint.FormatSorted, checkpoint.FormatBuckets, checkpoint.FormatBase} {
		h := mixedFormats(t, last)
		gone, cut := domain.ChallengeStream(h.challenge[0]), domain.ChallengeStream(h.challenge[1])
		rep := h.tamperAndVerify(t, func(db execer) {
			mustExec(t, db, `DELETE FROM events WHERE position IN (SELECT position FROM stream_index WHERE stream = ?)`, gone)
			mustExec(t, db, `DELETE FROM events WHERE position = (SELECT position FROM stream_index WHERE stream = ? AND version = 1)`, cut)
		})
		if rep.OK || !hasFinding(rep, audit.FindStreamMissing, gone, -1) || !hasFinding(rep, audit.FindStreamCut, cut, -1) {
			t.Fatalf("the last checkpoint of format %d: want stream_missing for %s and stream_cut for %s: %+v", last, gone, cut, rep.Findings)
		}
		if hasFinding(rep, audit.FindCheckpointBad, "", -1) {
			t.Fatalf("the last checkpoint of format %d: its root no longer folds: %+v", last, rep.Findings)
		}
	}
}

// Verify checks the root of every format-2 checkpoint, not only the last one's: an earlier
// checkpoint, signed with the server's key over heads that do not fold to its root, is named.
func TestVerifyChecksTheRootOfEveryBucketCheckpoint(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 2)
	h.checkpoint(t)
	h.approve(t, 2)
	pos := uint64(h.store.Head())
	heads := foldHeads(t, h.store, pos)
	forged := checkpoint.Signed{Format: checkpoint.FormatBuckets, Seq: 2, Position: pos, Streams: len(heads),
		HeadsRoot: strings.Repeat("ab", 32), Changed: heads, PublicKey: h.cpKey.Public().(ed25519.PublicKey), At: h.t0}
	slices.SortFunc(forged.Changed, func(a, b checkpoint.Head) int { return strings.Compare(a.Stream, b.Stream) })
	forged.Signature = ed25519.Sign(h.cpKey, forged.Payload())
	data, err := json.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Append(ctxT(t), checkpoint.Stream, eventstore.Exact(0), eventstore.EventData{Type: domain.CheckpointSigned{}.EventType(), SchemaVersion: 1, Data: data}); err != nil {
		t.Fatal(err)
	}
	h.approve(t, 3)
	if last := h.checkpoint(t); last.Seq != 3 {
		t.Fatalf("the checkpoint after the forged one is #%d", last.Seq)
	}
	rep, err := audit.Verify(ctxT(t), h.store, audit.VerifyOptions{TrustedKeys: []ed25519.PublicKey{h.cpKey.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	bad := errorsOf(rep)
	if rep.OK || len(bad) != 1 || bad[0].Kind != audit.FindCheckpointBad || !strings.Contains(bad[0].Message, "#1 to #2 do not fold") {
		t.Fatalf("want one checkpoint_invalid naming #2's root: %+v", rep.Findings)
	}
}
