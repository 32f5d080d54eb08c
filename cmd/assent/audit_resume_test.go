package main

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// TestAuditResumesAtStartInsteadOfFoldingTheLog starts a real node twice on one data
// directory: the second start's checkpointer reads only the events written since the first
// node's shutdown checkpoint, from the tables in readmodels.db, and its checkpoints verify.
func TestAuditResumesAtStartInsteadOfFoldingTheLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startIn := func() *server {
		t.Helper()
		cfg := config.Defaults()
		cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
		srv, err := start(ctxT(t), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), startOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := startIn()
	for i := range 20 {
		if _, err := srv.App.Register(ctxT(t), fmt.Sprintf("resume%d@example.com", i), testPassword); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	first, n1 := srv.audit.cp.EventsRead(), countEvents(t, dir)

	srv = startIn()
	if _, err := srv.App.Register(ctxT(t), "resumed@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	n2 := countEvents(t, dir)
	if again := srv.audit.cp.EventsRead(); first != int64(n1) || again != int64(n2-n1) {
		t.Fatalf("the first node read %d events of %d, the second %d of the %d written since: want the second to read only what was new", first, n1, again, n2-n1)
	}
	s, err := sqlite.Open(ctxT(t), filepath.Join(dir, "events.db"), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := audit.Verify(ctxT(t), s, audit.VerifyOptions{})
	if err != nil || !rep.OK || rep.Checkpoints < 2 { // each node signs at shutdown, and at start when the log moved
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// countEvents counts the events of the data directory's store, opened read-only.
func countEvents(t *testing.T, dir string) int {
	t.Helper()
	s, err := sqlite.Open(ctxT(t), filepath.Join(dir, "events.db"), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.ReadAll(ctxT(t), eventstore.Start, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}
