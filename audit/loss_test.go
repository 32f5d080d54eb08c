package audit_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/audit/checkpointer"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// TestAcceptedLossCoversOnlyItsAnchor cuts the tail of a log with its last checkpoint: the
// check against the anchor names the cut, an acceptance needs a reason, and once recorded the
// check passes; a later cut, against a later anchor, is refused again.
func TestAcceptedLossCoversOnlyItsAnchor(t *testing.T) {
	t.Parallel()
	h := newHistory(t, 2)
	h.checkpoint(t)
	h.approve(t, 7)
	anchor := h.checkpoint(t)
	if err := audit.CheckAgainstAnchor(ctxT(t), h.store, anchor, h.store.Head()); err != nil {
		t.Fatalf("a whole log: %v", err)
	}
	reopen := func(tamper func(db execer)) *sqlite.Store {
		t.Helper()
		if err := h.store.Close(); err != nil {
			t.Fatal(err)
		}
		withDB(t, h.path, tamper)
		s, err := sqlite.Open(ctxT(t), h.path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		h.store = s
		return s
	}
	cutLast := func(n int) func(db execer) {
		return func(db execer) {
			var head int64
			if err := db.QueryRow(`SELECT max(position) FROM events`).Scan(&head); err != nil {
				t.Fatal(err)
			}
			mustExec(t, db, `DELETE FROM events WHERE position > ?`, head-int64(n))
		}
	}
	s := reopen(cutLast(3)) // checkpoint #2 and the last challenge
	err := audit.CheckAgainstAnchor(ctxT(t), s, anchor, s.Head())
	var cut *audit.LogCutError
	if !errors.As(err, &cut) || cut.LogLast == nil || cut.LogLast.Seq != 1 || !errors.Is(err, audit.ErrLogCut) {
		t.Fatalf("check of a cut log: %v, want a LogCutError naming checkpoint #1 as the log's last", err)
	}
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	if _, err := audit.AcceptLoss(ctxT(t), s, s, anchor, s.Head(), "alice", "  ", now); err == nil {
		t.Fatal("a loss accepted without a reason")
	}
	a, err := audit.AcceptLoss(ctxT(t), s, s, anchor, s.Head(), "alice", "restored from a snapshot", now)
	if err != nil || a.AnchorSeq != 2 || a.LogCheckpointSeq != 1 {
		t.Fatalf("accept: %+v, %v", a, err)
	}
	if err := audit.CheckAgainstAnchor(ctxT(t), s, anchor, s.Head()); err != nil {
		t.Fatalf("check once the loss is accepted: %v", err)
	}

	// Signing goes on; a new cut, against the new anchor, is refused again.
	h.cp = checkpointer.New(checkpointer.Config{Log: s, Appender: s, Key: h.cpKey, DB: h.db, AnchorPath: filepath.Join(filepath.Dir(h.path), checkpoint.AnchorFile)})
	h.approve(t, 8)
	h.checkpoint(t)
	h.approve(t, 9)
	anchor2 := h.checkpoint(t)
	s = reopen(cutLast(2))
	if err := audit.CheckAgainstAnchor(ctxT(t), s, anchor2, s.Head()); !errors.Is(err, audit.ErrLogCut) {
		t.Fatalf("a second cut: %v, want ErrLogCut", err)
	}
}
