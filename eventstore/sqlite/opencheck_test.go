package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// largeIndexedStore writes n events in one stream per 10, closes the store (which indexes
// them all), and returns the file's path.
func largeIndexedStore(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var appends []eventstore.StreamAppend
	for i := range n {
		appends = append(appends, eventstore.StreamAppend{Stream: fmt.Sprintf("s-%d", i/10), Expected: eventstore.Any(), Events: []eventstore.EventData{storetest.Event("test.x", i)}})
	}
	if _, err := s.AppendBatch(ctx, appends); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// execOn runs statements on the file on a connection of its own.
func execOn(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// reopenReindexed opens the file read-write and returns how many events the open reindexed,
// after checking that the stream of the first event reads whole.
func reopenReindexed(t *testing.T, path string) int {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if evs, err := s.ReadStream(ctx, "s-0", eventstore.ReadStreamOptions{}); err != nil || len(evs) != 10 {
		t.Fatalf("stream s-0 after the open: %d events, %v; want 10", len(evs), err)
	}
	return s.Stats().Reindexed
}

// TestOpenCatchesARowDeletedDeepInTheIndex deletes the row of the log's first event, far
// before the tail the open looks up: the triggers counted the deletion, and the open rebuilds
// the index without counting its rows.
func TestOpenCatchesARowDeletedDeepInTheIndex(t *testing.T) {
	t.Parallel()
	path := largeIndexedStore(t, 3000)
	if n := reopenReindexed(t, path); n != 0 {
		t.Fatalf("a whole index was rebuilt at open (%d events)", n)
	}
	execOn(t, path, `DELETE FROM stream_index WHERE stream = 's-0' AND version = 0`)
	if n := reopenReindexed(t, path); n != 3000 {
		t.Fatalf("the open reindexed %d events, want the 3000 of the log", n)
	}
	if n := reopenReindexed(t, path); n != 0 {
		t.Fatalf("the open after the rebuild reindexed %d events, want 0", n)
	}
}

// TestOpenLooksUpTheTailOfTheIndex deletes the row of the last event behind the triggers' back
// (dropped, then made again): the lookup of the last events' rows finds it missing.
func TestOpenLooksUpTheTailOfTheIndex(t *testing.T) {
	t.Parallel()
	path := largeIndexedStore(t, 3000)
	reopenReindexed(t, path) // the first open of a file adds the triggers
	var trigger string
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	err = db.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'stream_index_deleted'`).Scan(&trigger)
	db.Close()
	if err != nil {
		t.Fatalf("the open added no trigger: %v", err)
	}
	execOn(t, path, `DROP TRIGGER stream_index_deleted`, `DELETE FROM stream_index WHERE stream = 's-299' AND version = 9`, trigger)
	if n := reopenReindexed(t, path); n != 3000 {
		t.Fatalf("the open reindexed %d events, want the 3000 of the log", n)
	}
}

// TestOpenCountsTheIndexOfAFileWithoutTriggers is a file of an earlier version, which had no
// triggers, with a row lost: the open counts the rows, rebuilds, and adds the triggers.
func TestOpenCountsTheIndexOfAFileWithoutTriggers(t *testing.T) {
	t.Parallel()
	path := largeIndexedStore(t, 3000)
	reopenReindexed(t, path)
	execOn(t, path, `DROP TRIGGER stream_index_deleted`, `DROP TRIGGER stream_index_updated`,
		`DELETE FROM store_state WHERE name = 'index_changes'`, `DELETE FROM stream_index WHERE stream = 's-0' AND version = 0`)
	if n := reopenReindexed(t, path); n != 3000 {
		t.Fatalf("the open reindexed %d events, want the 3000 of the log", n)
	}
	execOn(t, path, `DELETE FROM stream_index WHERE stream = 's-0' AND version = 0`)
	if n := reopenReindexed(t, path); n != 3000 {
		t.Fatalf("after the triggers were added, the open reindexed %d events, want 3000", n)
	}
}

// TestOpenRebuildsTheIndexOfALogThatLostEvents deletes the last events of the log (not their
// index rows): the open rebuilds the index, which then holds no row of a lost event.
func TestOpenRebuildsTheIndexOfALogThatLostEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := largeIndexedStore(t, 3000)
	reopenReindexed(t, path)
	execOn(t, path, `DELETE FROM events WHERE position > 2990`)
	if n := reopenReindexed(t, path); n != 2990 {
		t.Fatalf("the open reindexed %d events, want the 2990 left", n)
	}
	s, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if problems, err := s.VerifyIndex(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("VerifyIndex after the rebuild = %v, %v", problems, err)
	}
}
