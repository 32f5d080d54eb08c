package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// TestStopDuringTheAuditsFirstFoldIsQuietAndResumes starts a node on a log it has never
// folded and stops it while the checkpointer's first fold runs: the stop logs no ERROR (there
// is no shutdown checkpoint to sign yet) and says so in an info line; the next start goes on
// from where the fold stopped, and signs a checkpoint of the whole log that verifies.
func TestStopDuringTheAuditsFirstFoldIsQuietAndResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	t0 := time.Now()
	const streams, perAppend = 16_000, 1000
	s, err := sqlite.Open(ctxT(t), filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < streams; i += perAppend {
		parts := make([]eventstore.StreamAppend, 0, perAppend)
		for j := i; j < i+perAppend; j++ {
			parts = append(parts, eventstore.StreamAppend{Stream: fmt.Sprintf("fold-%06d", j), Expected: eventstore.NoStream(),
				Events: []eventstore.EventData{{Type: "test.filled", SchemaVersion: 1, Data: fmt.Appendf(nil, `{"n":%d}`, j)}}})
		}
		if _, err := s.AppendMulti(ctxT(t), parts...); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	t.Logf("%d events written (%s)", streams, time.Since(t0))

	startIn := func(logs *logRecords) *server {
		t.Helper()
		cfg := config.Defaults()
		cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
		srv, err := start(context.Background(), cfg, slog.New(logs), startOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	logs := &logRecords{}
	srv := startIn(logs)
	// The fold reads a page (2,000 events) after it has committed the one before: once it has
	// read three, two at least are in its tables.
	for srv.audit.cp.EventsRead() < 6000 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("stop during the first fold: %v", err)
	}
	first := srv.audit.cp.EventsRead()
	t.Logf("stopped after %d events folded (%s)", first, time.Since(t0))
	if first >= streams {
		t.Fatalf("the first fold read all %d events before the stop; the test needs a longer log", first)
	}
	var said bool
	for _, l := range logs.records() {
		if l.Level >= slog.LevelError {
			t.Errorf("a stop during the first fold logged an error: %s %v", l.Msg, l.Attrs)
		}
		said = said || (l.Level == slog.LevelInfo && strings.Contains(l.Msg, "before the first checkpoint"))
	}
	if !said {
		t.Error("no info line says the audit's fold resumes at the next start")
	}

	srv = startIn(&logRecords{})
	t.Logf("started again (%s)", time.Since(t0))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		cp, err := srv.audit.cp.Latest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cp != nil && cp.Position >= streams {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second node signed no checkpoint of the whole log")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("checkpoint signed (%s)", time.Since(t0))
	if err := srv.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// The page read when the first node stopped may not have been committed; the checkpoints
	// are the second node's own.
	if again := srv.audit.cp.EventsRead(); again+first > streams+2000+10 {
		t.Fatalf("the second node read %d events after the first had folded %d of %d: it did not resume", again, first, streams)
	}
	ro, err := sqlite.Open(ctxT(t), filepath.Join(dir, "events.db"), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if rep, err := audit.Verify(ctxT(t), ro, audit.VerifyOptions{}); err != nil || !rep.OK || rep.Checkpoints < 1 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
