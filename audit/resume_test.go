package audit_test

import (
	"crypto/ed25519"
	"slices"
	"testing"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/audit/checkpointer"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// foldHeads is a fresh fold of the log up to pos, independent of the checkpointer: every
// stream's last event (version and chain hash).
func foldHeads(t testing.TB, s *sqlite.Store, upTo uint64) []checkpoint.Head {
	t.Helper()
	heads := map[string]checkpoint.Head{}
	var pos eventstore.Position
	for {
		evs, err := s.ReadAllChained(ctxT(t), pos, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			ev := &evs[i]
			if uint64(ev.Position) > upTo {
				break
			}
			heads[ev.Stream] = checkpoint.Head{Stream: ev.Stream, Version: ev.Version, Hash: ev.Hash().String()}
		}
		if len(evs) < 1000 {
			break
		}
		pos = evs[len(evs)-1].Position
	}
	out := make([]checkpoint.Head, 0, len(heads))
	for _, h := range heads {
		out = append(out, h)
	}
	return out
}

func newCheckpointer(h *history, format int) *checkpointer.Checkpointer {
	return checkpointer.New(checkpointer.Config{Log: h.store, Appender: h.store, Key: h.cpKey, DB: h.db, Format: format})
}

// A restart resumes the checkpointer from its tables: it reads only the events appended since,
// and signs the checkpoint a fresh fold of the whole log gives.
func TestCheckpointerResumesFromItsTables(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 20)
	first := h.checkpoint(t)
	if first.Format != checkpoint.FormatBase || !first.Base || len(first.Changed) != 0 || first.HeadsRoot != checkpoint.HeadsRoot(checkpoint.FormatBase, foldHeads(t, h.store, first.Position)) {
		t.Fatalf("first checkpoint: format %d, base %v, %d heads listed, root %s differs from a fresh fold's", first.Format, first.Base, len(first.Changed), first.HeadsRoot)
	}
	if n := h.cp.EventsRead(); n != int64(first.Position)+1 {
		t.Fatalf("the first checkpoint read %d events, want the whole log (%d) and its own", n, first.Position+1)
	}
	h.approve(t, 20)
	h.checkpoint(t)

	// A restart: a new checkpointer over the same tables.
	h.cp = newCheckpointer(h, 0)
	h.approve(t, 21) // 3 events in two streams
	h.approve(t, 22)
	cp := h.checkpoint(t)
	if n := h.cp.EventsRead(); n != 6+1 {
		t.Fatalf("after a restart the checkpointer read %d events, want the 6 appended since and its own", n)
	}
	if want := checkpoint.HeadsRoot(checkpoint.FormatBuckets, foldHeads(t, h.store, cp.Position)); cp.HeadsRoot != want {
		t.Fatalf("resumed root %s, a fresh fold gives %s", cp.HeadsRoot, want)
	}
	if got := len(foldHeads(t, h.store, cp.Position)); cp.Streams != got {
		t.Fatalf("resumed checkpoint counts %d streams, the log holds %d", cp.Streams, got)
	}
	var changed []string
	for _, hd := range cp.Changed {
		changed = append(changed, hd.Stream)
	}
	want := []string{checkpoint.Stream, "account-" + h.account.String(), "challenge-" + h.challenge[21].String(), "challenge-" + h.challenge[22].String()}
	slices.Sort(want)
	if !slices.Equal(changed, want) {
		t.Fatalf("changed %v, want %v", changed, want)
	}

	// A fresh checkpointer, with tables of its own, folds the whole log and signs the same root.
	h.approve(t, 23)
	fresh := checkpointer.New(checkpointer.Config{Log: h.store, Appender: h.store, Key: h.cpKey, DB: localDB(t)})
	got, err := fresh.Checkpoint(ctxT(t))
	if err != nil || got == nil {
		t.Fatalf("fresh checkpoint: %v %v", got, err)
	}
	if want := checkpoint.HeadsRoot(checkpoint.FormatBuckets, foldHeads(t, h.store, got.Position)); got.HeadsRoot != want || got.Seq != cp.Seq+1 {
		t.Fatalf("fresh checkpoint #%d root %s, want #%d %s", got.Seq, got.HeadsRoot, cp.Seq+1, want)
	}
	h.cp = newCheckpointer(h, 0) // the resumed tables again, behind the fresh checkpoint
	h.approve(t, 24)
	again := h.checkpoint(t)
	if want := checkpoint.HeadsRoot(checkpoint.FormatBuckets, foldHeads(t, h.store, again.Position)); again.HeadsRoot != want || again.Seq != got.Seq+1 {
		t.Fatalf("resumed checkpoint #%d root %s, want #%d %s", again.Seq, again.HeadsRoot, got.Seq+1, want)
	}
	// The latest checkpoint is served whole, its changed list included, as it was signed.
	latest, err := h.cp.Latest(ctxT(t))
	if err != nil || latest == nil || latest.Seq != again.Seq || len(latest.Changed) != len(again.Changed) || len(latest.Changed) == 0 ||
		!ed25519.Verify(h.cpKey.Public().(ed25519.PublicKey), latest.Payload(), latest.Signature) {
		t.Fatalf("latest: %+v %v, want #%d with %d changed heads and a valid signature", latest, err, again.Seq, len(again.Changed))
	}
	if rep := h.tamperAndVerify(t, nil); !rep.OK || rep.Checkpoints != 5 {
		t.Fatalf("verify: %+v", rep)
	}
}

// Tables that name an event the log no longer holds (a log restored from an older copy) are
// dropped, and the log folded anew.
func TestCheckpointerFoldsAgainWhenTheLogIsNotWhatItsTablesSaw(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 3)
	h.checkpoint(t)
	db := h.db
	// Another log, shorter than the first, under the same tables.
	other := newHistory(t, 1)
	other.db = db
	other.cp = newCheckpointer(other, 0)
	cp := other.checkpoint(t)
	if n := other.cp.EventsRead(); n != int64(cp.Position)+1 {
		t.Fatalf("read %d events, want the whole log (%d) and its own", n, cp.Position+1)
	}
	if cp.Seq != 1 || cp.HeadsRoot != checkpoint.HeadsRoot(checkpoint.FormatBuckets, foldHeads(t, other.store, cp.Position)) || cp.Streams != 3 {
		t.Fatalf("checkpoint over the other log: %+v", cp)
	}
}

// A restart resumes the account index from its table: it reads only the events appended since,
// and answers as an index folded afresh.
func TestIndexResumesFromItsTable(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 5)
	ctx := ctxT(t)
	r := audit.NewReader(h.store, h.db)
	before, err := r.Timeline(ctx, h.account)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Index().EventsRead(); n != int64(h.store.Head()) {
		t.Fatalf("the first timeline read %d events, want the whole log (%d)", n, h.store.Head())
	}
	h.approve(t, 5)
	resumed := audit.NewReader(h.store, h.db)
	after, err := resumed.Timeline(ctx, h.account)
	if err != nil {
		t.Fatal(err)
	}
	if n := resumed.Index().EventsRead(); n != 3 {
		t.Fatalf("after a restart the index read %d events, want the 3 appended since", n)
	}
	fresh, err := audit.NewReader(h.store, localDB(t)).Timeline(ctx, h.account)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+3 || len(after) != len(fresh) {
		t.Fatalf("timeline: %d events after, %d before, %d afresh", len(after), len(before), len(fresh))
	}
	for i := range after {
		if after[i].Position != fresh[i].Position || after[i].Summary != fresh[i].Summary {
			t.Fatalf("event %d: resumed %+v, fresh %+v", i, after[i], fresh[i])
		}
	}
	if _, err := resumed.Timeline(ctx, h.device); err == nil {
		t.Fatal("a device's ID answered as an account's")
	}
}
