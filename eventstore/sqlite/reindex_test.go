package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// indexedStore writes three streams of four events each and closes the store, which moves
// every entry into stream_index.
func indexedStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if _, err := s.Append(ctx, []string{"a", "b", "c"}[i%3], eventstore.Any(), storetest.Event("test.x", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// tamper runs SQL on the file on a connection of its own, as someone with the file would.
func tamper(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		res, err := db.Exec(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%s changed %d rows, want 1", q, n)
		}
	}
}

// TestIndexThatLostARowIsCaughtAndRebuilt deletes the stream_index row of a stream's last
// event (as the row of a backupcodes.used event was deleted): verification names it, a
// read-only opening refuses to read the stream short, and a read-write opening rebuilds the
// index from the log so that the stream reads whole again.
func TestIndexThatLostARowIsCaughtAndRebuilt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := indexedStore(t)
	tamper(t, path, `DELETE FROM stream_index WHERE stream = 'b' AND version = 3`)

	ro, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	problems, err := ro.VerifyIndex(ctx)
	ro.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Stream != "b" || problems[0].Version != 3 || !strings.Contains(problems[0].Message, "no index entry") {
		t.Fatalf("verify index found %+v, want one problem naming stream b version 3", problems)
	}

	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Stats().Reindexed; got != 12 {
		t.Errorf("opening reindexed %d events, want the 12 of the log", got)
	}
	evs, err := s.ReadStream(ctx, "b", eventstore.ReadStreamOptions{})
	if err != nil || len(evs) != 4 {
		t.Fatalf("stream b after the rebuild: %d events, %v; want 4", len(evs), err)
	}
	if problems, err := s.VerifyIndex(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("verify index after the rebuild: %+v, %v", problems, err)
	}
	if _, err := s.Append(ctx, "b", eventstore.Exact(3), storetest.Event("test.x", 99)); err != nil {
		t.Fatalf("append after the rebuild: %v", err)
	}
}

// TestVerifyIndexNamesEveryKindOfDisagreement alters the index in three ways at once: a row
// in the middle of a stream deleted, a row pointed at another stream's event, and a row
// pointed at a position that holds no event.
func TestVerifyIndexNamesEveryKindOfDisagreement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := indexedStore(t)
	tamper(t, path,
		`DELETE FROM stream_index WHERE stream = 'a' AND version = 1`,
		`UPDATE stream_index SET position = (SELECT position FROM stream_index WHERE stream = 'c' AND version = 0) WHERE stream = 'b' AND version = 2`,
		`UPDATE stream_index SET position = 999 WHERE stream = 'c' AND version = 3`)
	ro, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	problems, err := ro.VerifyIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.Stream+": "+p.Message)
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{
		"a: versions 1 to 1 of the stream have no index entry",
		`b: the index entry of version 2 points at position`,
		"holds version 0 of stream \"c\"",
		"c: the index entry of version 3 points at position 999, which holds no event",
		"a: version 1 of the stream",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("verify index did not say %q; it said:\n%s", want, joined)
		}
	}
	if _, err := ro.ReadStream(ctx, "b", eventstore.ReadStreamOptions{}); !errors.Is(err, sqlite.ErrIndexMismatch) {
		t.Errorf("read of stream b through an entry of stream c: %v, want ErrIndexMismatch", err)
	}
	if _, err := ro.ReadStream(ctx, "a", eventstore.ReadStreamOptions{}); !errors.Is(err, sqlite.ErrIndexMismatch) {
		t.Errorf("read of stream a with a version missing: %v, want ErrIndexMismatch", err)
	}
}

// TestReadRefusesAnIndexThatLostItsLastRow deletes, while the store runs, the index row of a
// stream's last event: a read that would end before the head the writer knows is refused,
// so a command never decides on the shortened history.
func TestReadRefusesAnIndexThatLostItsLastRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{IndexBatch: 1, IndexDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		if _, err := s.Append(ctx, "acct", eventstore.Any(), storetest.Event("test.x", i)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Unindexed > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the tail was never moved into stream_index")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tamper(t, path, `DELETE FROM stream_index WHERE stream = 'acct' AND version = 2`)
	if evs, err := s.ReadStream(ctx, "acct", eventstore.ReadStreamOptions{}); !errors.Is(err, sqlite.ErrIndexMismatch) {
		t.Fatalf("read with the last row gone: %d events, %v; want ErrIndexMismatch", len(evs), err)
	}
	if _, err := s.ReadStream(ctx, "acct", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1}); !errors.Is(err, sqlite.ErrIndexMismatch) {
		t.Fatalf("backwards read with the last row gone: %v; want ErrIndexMismatch", err)
	}
}

// TestVerifyIndexOfALiveStoreFindsNothing verifies the index of a store whose writer keeps
// appending and moving its tail into stream_index meanwhile: a whole index is never reported,
// whatever moves between the queries of one verification.
func TestVerifyIndexOfALiveStoreFindsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{IndexBatch: 3, IndexDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := s.Append(ctx, []string{"a", "b", "c", "d"}[i%4], eventstore.Any(), storetest.Event("test.live", i)); err != nil {
				done <- err
				return
			}
		}
	}()
	// The verifications start once the appender has written, and go on until it has written
	// more (on a busy machine its first fsync may come after many verifications of a store
	// with nothing in it).
	fail := func(format string, args ...any) {
		close(stop)
		<-done
		t.Fatalf(format, args...)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().Events == 0 {
		if time.Now().After(deadline) {
			fail("the appender wrote nothing in 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	before := s.Stats().Events
	for i := 0; i < 30 || s.Stats().Events < before+10; i++ {
		if time.Now().After(deadline) {
			fail("the appender wrote %d events during %d verifications in 30 s", s.Stats().Events-before, i)
		}
		problems, err := s.VerifyIndex(ctx)
		if err != nil || len(problems) != 0 {
			fail("verify index of a live store: %+v, %v", problems, err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
