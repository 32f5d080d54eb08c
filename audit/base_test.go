package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// checkpointEvent reads the stored data of checkpoint #seq (its event's version is seq-1).
func checkpointEvent(t *testing.T, s eventstore.Store, seq uint64) []byte {
	t.Helper()
	evs, err := s.ReadStream(ctxT(t), checkpoint.Stream, eventstore.ReadStreamOptions{From: seq - 1, Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("checkpoint #%d: %v %d events", seq, err, len(evs))
	}
	return evs[0].Data
}

// The first checkpoint of a log lists no stream: its event names none of the log's streams,
// and its root is the one a fresh fold of the log gives. The next lists only what changed.
func TestFirstCheckpointListsNoStream(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 30)
	first := h.checkpoint(t)
	if first.Format != checkpoint.FormatBase || !first.Base || len(first.Changed) != 0 || first.Streams != 32 {
		t.Fatalf("first checkpoint: format %d, base %v, %d heads listed, %d streams", first.Format, first.Base, len(first.Changed), first.Streams)
	}
	if want := checkpoint.HeadsRoot(checkpoint.FormatBase, foldHeads(t, h.store, first.Position)); first.HeadsRoot != want {
		t.Fatalf("first checkpoint's root %s, a fresh fold gives %s", first.HeadsRoot, want)
	}
	data := checkpointEvent(t, h.store, 1)
	for _, stream := range []string{domain.AccountStream(h.account), domain.DeviceStream(h.device), domain.ChallengeStream(h.challenge[7])} {
		if bytes.Contains(data, []byte(stream)) {
			t.Fatalf("the first checkpoint's event names stream %s: %s", stream, data)
		}
	}
	if len(data) > 1024 {
		t.Fatalf("the first checkpoint's event holds %d bytes for 32 streams", len(data))
	}
	h.approve(t, 30)
	second := h.checkpoint(t)
	if second.Base || len(second.Changed) != 3 { // the account, the new challenge, the checkpoint stream
		t.Fatalf("second checkpoint: base %v, changed %+v", second.Base, second.Changed)
	}
	if rep := h.tamperAndVerify(t, nil); !rep.OK || len(errorsOf(rep)) != 0 || rep.Checkpoints != 2 {
		t.Fatalf("intact log: %d checkpoints, %+v", rep.Checkpoints, rep.Findings)
	}
}

// A checkpoint after more changed streams than a list may hold is a base too; the log, bases
// and lists alternating, verifies, every root checked.
func TestManyChangesMakeABase(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 2)
	h.signWith(checkpoint.FormatBase, 3)
	h.checkpoint(t)
	h.approve(t, 2) // 3 streams moved: the account, a challenge, the checkpoints
	if cp := h.checkpoint(t); cp.Base || len(cp.Changed) != 3 {
		t.Fatalf("3 changed streams, 3 at most: base %v, %d listed", cp.Base, len(cp.Changed))
	}
	h.approve(t, 3)
	h.approve(t, 4) // 4 streams moved
	cp := h.checkpoint(t)
	if !cp.Base || len(cp.Changed) != 0 || cp.Seq != 3 {
		t.Fatalf("4 changed streams, 3 at most: #%d, base %v, %d listed", cp.Seq, cp.Base, len(cp.Changed))
	}
	h.approve(t, 5)
	h.checkpoint(t)
	rep := h.tamperAndVerify(t, nil)
	if !rep.OK || len(errorsOf(rep)) != 0 || rep.Checkpoints != 4 {
		t.Fatalf("intact log: %d checkpoints, %+v", rep.Checkpoints, rep.Findings)
	}
}

// A log rewritten before a base checkpoint, where nothing but the base's root can tell (a
// whole stream deleted, whose events no later event links to), fails verify with one
// root_mismatch at the base, and the checkpoints after it are not reported one by one; a log
// rewritten after the base names the stream against the later checkpoint's list.
func TestVerifyCatchesARewriteAroundABase(t *testing.T) {
	t.Parallel()
	t.Run("before the base", func(t *testing.T) {
		t.Parallel()
		h := newHistory(t, 3)
		h.checkpoint(t)
		for i := 3; i < 6; i++ {
			h.approve(t, i)
			h.checkpoint(t)
		}
		gone := domain.ChallengeStream(h.challenge[1])
		rep := h.tamperAndVerify(t, func(db execer) {
			mustExec(t, db, `DELETE FROM events WHERE position IN (SELECT position FROM stream_index WHERE stream = ?)`, gone)
			mustExec(t, db, `DELETE FROM stream_index WHERE stream = ?`, gone)
		})
		var roots, invalid int
		for _, f := range errorsOf(rep) {
			switch f.Kind {
			case audit.FindRootMismatch:
				roots++
			case audit.FindCheckpointBad:
				invalid++
			}
		}
		if rep.OK || roots != 1 || invalid != 0 {
			t.Fatalf("want exactly one root_mismatch and no checkpoint_invalid: %+v", rep.Findings)
		}
	})
	t.Run("after the base", func(t *testing.T) {
		t.Parallel()
		h := newHistory(t, 3)
		h.checkpoint(t)
		h.approve(t, 3)
		h.checkpoint(t)
		gone := domain.ChallengeStream(h.challenge[3])
		rep := h.tamperAndVerify(t, func(db execer) {
			mustExec(t, db, `DELETE FROM events WHERE position IN (SELECT position FROM stream_index WHERE stream = ?)`, gone)
		})
		if rep.OK || !hasFinding(rep, audit.FindStreamMissing, gone, -1) || hasFinding(rep, audit.FindRootMismatch, "", -1) {
			t.Fatalf("want stream_missing for %s and the base's root intact: %+v", gone, rep.Findings)
		}
	})
}

// A base checkpoint signed with the server's key over a root that is not the log's, a base
// that lists heads, and a first checkpoint of the format that is not a base, are each named.
func TestVerifyRefusesBadBases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		forge func(cp *checkpoint.Signed, heads []checkpoint.Head)
		kind  string
		text  string
	}{
		{"a root that is not the log's", func(cp *checkpoint.Signed, _ []checkpoint.Head) { cp.HeadsRoot = strings.Repeat("ab", 32) }, audit.FindRootMismatch, "do not hash to the root"},
		{"a stream count that is not the log's", func(cp *checkpoint.Signed, _ []checkpoint.Head) { cp.Streams++ }, audit.FindRootMismatch, "do not hash to the root"},
		{"a base that lists heads", func(cp *checkpoint.Signed, heads []checkpoint.Head) { cp.Changed = heads }, audit.FindCheckpointBad, "is a base but lists"},
		{"a first checkpoint that is not a base", func(cp *checkpoint.Signed, heads []checkpoint.Head) { cp.Base, cp.Changed = false, heads }, audit.FindCheckpointBad, "not a base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHistory(t, 2)
			pos := uint64(h.store.Head())
			heads := foldHeads(t, h.store, pos)
			cp := checkpoint.Signed{Format: checkpoint.FormatBase, Base: true, Seq: 1, Position: pos, Streams: len(heads),
				HeadsRoot: checkpoint.HeadsRoot(checkpoint.FormatBase, heads), PublicKey: h.cpKey.Public().(ed25519.PublicKey), At: h.t0}
			tc.forge(&cp, heads)
			cp.Signature = ed25519.Sign(h.cpKey, cp.Payload())
			data, err := json.Marshal(cp)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.store.Append(ctxT(t), checkpoint.Stream, eventstore.NoStream(), eventstore.EventData{Type: domain.CheckpointSigned{}.EventType(), SchemaVersion: 1, Data: data}); err != nil {
				t.Fatal(err)
			}
			rep := h.tamperAndVerify(t, nil)
			named := false
			for _, f := range errorsOf(rep) {
				named = named || (f.Kind == tc.kind && f.Stream == checkpoint.Stream && strings.Contains(f.Message, tc.text))
			}
			if rep.OK || !named {
				t.Fatalf("want %s (%q): %+v", tc.kind, tc.text, rep.Findings)
			}
		})
	}
}

// Whether a checkpoint is a base is signed: the same checkpoint with its list dropped, or a
// base given a list, no longer verifies.
func TestTheBaseFlagIsSigned(t *testing.T) {
	cp := checkpoint.Signed{Format: checkpoint.FormatBase, Base: true, Seq: 1, Position: 9, Streams: 2, HeadsRoot: strings.Repeat("0", 64)}
	asList := cp
	asList.Base = false
	if bytes.Equal(cp.Payload(), asList.Payload()) {
		t.Fatal("a base and a checkpoint with an empty list sign the same payload")
	}
	old := cp
	old.Format = checkpoint.FormatBuckets
	if bytes.Equal(cp.Payload(), old.Payload()) {
		t.Fatal("a base signs the payload of a format-2 checkpoint")
	}
}
