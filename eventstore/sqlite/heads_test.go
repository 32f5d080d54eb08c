package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// checkHead fails unless the store knows stream's head as version and id.
func checkHead(t *testing.T, s *sqlite.Store, stream string, version uint64, id uuid.UUID) {
	t.Helper()
	v, got, ok := s.KnownHead(stream)
	if !ok || v != version || got != id {
		t.Fatalf("KnownHead(%s) = %d, %s, %v; want %d, %s, true", stream, v, got, ok, version, id)
	}
}

func TestKnownHeads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.KnownHead("a-1"); ok {
		t.Fatal("a stream never written has a known head")
	}
	e1, e2 := storetest.Event("test.a", 1), storetest.Event("test.a", 2)
	if _, err := s.Append(ctx, "a-1", eventstore.NoStream(), e1, e2); err != nil {
		t.Fatal(err)
	}
	checkHead(t, s, "a-1", 1, e2.ID)

	// Neither a refused append nor a retry moves the head.
	if _, err := s.Append(ctx, "a-1", eventstore.Exact(0), storetest.Event("test.a", 3)); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("append at a stale version: %v, want a conflict", err)
	}
	if _, err := s.Append(ctx, "a-1", eventstore.Any(), e1, e2); err != nil {
		t.Fatalf("retry: %v", err)
	}
	checkHead(t, s, "a-1", 1, e2.ID)
	e3 := storetest.Event("test.a", 3)
	if _, err := s.Append(ctx, "a-1", eventstore.Exact(1), e3); err != nil {
		t.Fatal(err)
	}
	checkHead(t, s, "a-1", 2, e3.ID)

	// A read-only store knows no head: another process writes the file.
	ro, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := ro.KnownHead("a-1"); ok {
		t.Fatal("a read-only store claims to know a head")
	}
	ro.Close()

	// Reopened, the store knows only what it writes from then on.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = sqlite.Open(ctx, path, sqlite.Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, ok := s.KnownHead("a-1"); ok {
		t.Fatal("a reopened store claims to know a head it did not write")
	}
	e4 := storetest.Event("test.a", 4)
	if _, err := s.Append(ctx, "a-1", eventstore.StreamExists(), e4); err != nil {
		t.Fatal(err)
	}
	checkHead(t, s, "a-1", 3, e4.ID)
}

// TestKnownHeadsAreSetBeforeTheAcknowledgement appends from several goroutines, each to its own
// stream, and checks after every acknowledged append that the store knows the new head: a head
// set after the append returned would show the previous one now and then.
func TestKnownHeadsAreSetBeforeTheAcknowledgement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	const writers, appends = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("w-%d", w)
			for i := range appends {
				e := storetest.Event("test.a", i)
				res, err := s.Append(ctx, stream, eventstore.Any(), e)
				if err != nil {
					errs <- err
					return
				}
				if v, id, ok := s.KnownHead(stream); !ok || v != res.Version || id != e.ID {
					errs <- fmt.Errorf("after append %d to %s at version %d: KnownHead = %d, %s, %v", i, stream, res.Version, v, id, ok)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every known head is the stream's last event as stored.
	for w := range writers {
		stream := fmt.Sprintf("w-%d", w)
		last, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		checkHead(t, s, stream, last[0].Version, last[0].ID)
	}
}
