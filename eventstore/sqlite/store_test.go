package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

func openTemp(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) eventstore.Store { return openTemp(t) })
}

func TestReopenKeepsEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Append(ctx, "a-1", eventstore.NoStream(), storetest.Event("test.a", 1), storetest.Event("test.a", 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Head() != res.Position {
		t.Fatalf("head after reopen = %d, want %d", s.Head(), res.Position)
	}
	if _, err := s.Append(ctx, "a-1", eventstore.Exact(1), storetest.Event("test.a", 3)); err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
}

func TestRefusesForeignFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()

	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("these are not the events you are looking for, not at all, no"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, text, sqlite.Options{}); !errors.Is(err, sqlite.ErrNotAssentStore) {
		t.Errorf("open a text file: %v, want ErrNotAssentStore", err)
	}

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE recipes (name TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := sqlite.Open(ctx, other, sqlite.Options{}); !errors.Is(err, sqlite.ErrNotAssentStore) {
		t.Errorf("open another application's database: %v, want ErrNotAssentStore", err)
	}

	newer := filepath.Join(dir, "newer.db")
	s, err := sqlite.Open(ctx, newer, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err = sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := sqlite.Open(ctx, newer, sqlite.Options{}); !errors.Is(err, sqlite.ErrNewerSchema) {
		t.Errorf("open a newer file: %v, want ErrNewerSchema", err)
	}
}

func TestEventIDInAnotherStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	ev := storetest.Event("test.a", 1)
	if _, err := s.Append(ctx, "a-1", eventstore.Any(), ev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "b-1", eventstore.Any(), ev); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("reuse an event ID in another stream: %v, want ErrDuplicateEventID", err)
	}
	if _, err := s.Append(ctx, "a-1", eventstore.Any(), ev, storetest.Event("test.a", 2)); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("append one stored and one new ID: %v, want ErrDuplicateEventID", err)
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "a-1", eventstore.Any(), storetest.Event("test.a", 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if evs, err := ro.ReadAll(ctx, eventstore.Start, 10); err != nil || len(evs) != 1 {
		t.Fatalf("read-only read: %d events, %v", len(evs), err)
	}
	if _, err := ro.Append(ctx, "a-1", eventstore.Any(), storetest.Event("test.a", 2)); err == nil {
		t.Fatal("a read-only store accepted an append")
	}
}

// TestOneWriterAtATime checks that a second writer on a file is refused while the first has
// it open (its in-memory heads, tail and ring would not see the other's appends), that readers
// are not, and that closing the first frees the file.
func TestOneWriterAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	first, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Append(ctx, "a-1", eventstore.NoStream(), storetest.Event("test.a", 1)); err != nil {
		t.Fatal(err)
	}
	second, err := sqlite.Open(ctx, path, sqlite.Options{})
	if !errors.Is(err, sqlite.ErrInUse) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second writer: %v, want ErrInUse", err)
	}
	ro, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("a reader beside the writer: %v", err)
	}
	if evs, err := ro.ReadAll(ctx, eventstore.Start, 10); err != nil || len(evs) != 1 {
		t.Fatalf("read beside the writer: %d events, %v", len(evs), err)
	}
	ro.Close()
	if _, err := first.Append(ctx, "a-1", eventstore.Exact(0), storetest.Event("test.a", 2)); err != nil {
		t.Fatalf("the first writer after the refusal: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("a writer once the first closed: %v", err)
	}
	defer second.Close()
	if evs, err := second.ReadStream(ctx, "a-1", eventstore.ReadStreamOptions{}); err != nil || len(evs) != 2 {
		t.Fatalf("the stream after the refusal: %d events, %v; want 2", len(evs), err)
	}
}

func TestCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.LoadCheckpoint(ctx, "proj"); err != nil || p != eventstore.Start {
		t.Fatalf("new checkpoint = %d, %v; want start", p, err)
	}
	if err := s.SaveCheckpoint(ctx, "proj", 42); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCheckpoint(ctx, "proj", 43); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p, err := s.LoadCheckpoint(ctx, "proj"); err != nil || p != 43 {
		t.Fatalf("checkpoint after reopen = %d, %v; want 43", p, err)
	}
}
