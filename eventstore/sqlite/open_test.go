package sqlite_test

import (
	"bytes"
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

// TestForeignFileIsLeftByteForByte checks that a refused file is judged before anything
// writes to it: another application's SQLite database (in the default rollback journal mode)
// and a text file are byte for byte what they were after a refused read-write opening, and
// no journal file of the store appears beside them.
func TestForeignFileIsLeftByteForByte(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	other := filepath.Join(dir, "recipes.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('bread')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, bytes.Repeat([]byte("not a database at all. "), 40), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{other, text} {
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := sqlite.Open(ctx, path, sqlite.Options{}); !errors.Is(err, sqlite.ErrNotAssentStore) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("open %s: %v, want ErrNotAssentStore", filepath.Base(path), err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("%s changed when it was refused (%d bytes before, %d after; header byte 18 was %d, is %d)",
				filepath.Base(path), len(before), len(after), before[18], after[18])
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(path + suffix); err == nil {
				t.Errorf("a refused opening left %s%s", filepath.Base(path), suffix)
			}
		}
	}
}

// TestWriterLockIsOnTheFileItself checks that the single-writer lock cannot be sidestepped by
// deleting a file beside the store: with the first writer open, every file beside events.db
// is deleted, and a second writer is still refused.
func TestWriterLockIsOnTheFileItself(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	first, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := first.Append(ctx, "a-1", eventstore.NoStream(), storetest.Event("test.a", 1)); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "events.db" && e.Name() != "events.db-wal" && e.Name() != "events.db-shm" {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	second, err := sqlite.Open(ctx, path, sqlite.Options{})
	if !errors.Is(err, sqlite.ErrInUse) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second writer after the files beside the store were deleted: %v, want ErrInUse", err)
	}
}
