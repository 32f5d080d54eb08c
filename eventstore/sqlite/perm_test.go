//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// storeFiles are the files of a store at path while it is open and has appended.
func storeFiles(path string) []string {
	return []string{path, path + "-wal", path + "-shm"}
}

func checkModes(t *testing.T, files []string) {
	t.Helper()
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", filepath.Base(f), got)
		}
	}
}

// Not parallel: the umask is the process's.
func TestOpenCreatesOwnerOnlyFilesWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(ctx, "a-1", eventstore.NoStream(), storetest.Event("test.a", 1)); err != nil {
		t.Fatal(err)
	}
	checkModes(t, storeFiles(path))
	if got := s.Tightened(); len(got) != 0 {
		t.Errorf("a new store reports tightened files: %v", got)
	}
}

func TestOpenTightensAnExistingStoresFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "a-1", eventstore.NoStream(), storetest.Event("test.a", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// As a store made by an older version (with its lock file beside it), or left by a crash
	// with its WAL, is.
	old := append(storeFiles(path), path+".lock")
	for _, f := range old {
		if _, err := os.Stat(f); os.IsNotExist(err) {
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(ctx, "a-1", eventstore.Exact(0), storetest.Event("test.a", 2)); err != nil {
		t.Fatal(err)
	}
	checkModes(t, old)
	got := s.Tightened()
	slices.Sort(got)
	want := slices.Clone(old)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Tightened() = %v, want %v", got, want)
	}
	if evs, err := s.ReadStream(ctx, "a-1", eventstore.ReadStreamOptions{}); err != nil || len(evs) != 2 {
		t.Fatalf("the store after tightening: %d events, %v", len(evs), err)
	}
}
