package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// tinyDisk mounts a tmpfs of size bytes and returns its directory. It needs root: the test is
// skipped without it, or where mounting is not allowed.
func tinyDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs to fill needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		// Lazily: the process keeps the descriptor that carried the writer's lock open
		// (lock_flock.go), so the file system stays busy until the process ends.
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes zeros to a file in dir until the disk is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, io.LimitReader(zeros{}, 1<<40))
	f.Close()
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("filling the disk: %v, want no space left", err)
	}
	return path
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestFullDiskIsUnavailableAndRecovers runs the store on a real, tiny disk and fills it: an
// append then fails with an error that matches eventstore.ErrUnavailable and says the disk is
// full, Health says so in words, nothing acknowledged is lost; once space is freed, Health is
// nil again without any append (its probe writes) and appends go on.
func TestFullDiskIsUnavailableAndRecovers(t *testing.T) {
	dir := tinyDisk(t, "4m")
	ctx := context.Background()
	path := filepath.Join(dir, "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acked := 0
	for i := range 3 {
		if _, err := s.Append(ctx, "s", eventstore.Any(), storetest.Event("test.before", i)); err != nil {
			t.Fatal(err)
		}
		acked++
	}
	filler := fillDisk(t, dir)
	big := storetest.Event("test.big", 0)
	big.Data = []byte(`{"pad":"` + string(bytes.Repeat([]byte("x"), 64<<10)) + `"}`)
	_, err = s.Append(ctx, "s", eventstore.Any(), big)
	if !errors.Is(err, eventstore.ErrUnavailable) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("append on a full disk: %v, want ErrUnavailable saying the disk is full", err)
	}
	herr := s.Health(ctx)
	if !errors.Is(herr, eventstore.ErrUnavailable) || !strings.Contains(herr.Error(), "the disk that holds the event store is full") {
		t.Fatalf("health on a full disk: %v", herr)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err != nil {
		t.Fatalf("health once space is freed: %v", err)
	}
	if _, err := s.Append(ctx, "s", eventstore.Any(), big); err != nil {
		t.Fatalf("append once space is freed: %v", err)
	}
	acked++
	evs, err := s.ReadStream(ctx, "s", eventstore.ReadStreamOptions{})
	if err != nil || len(evs) != acked {
		t.Fatalf("stream after the full disk: %d events, %v; want the %d acknowledged", len(evs), err, acked)
	}
}

// TestDamagedFileIsNamedInWords damages a page of the log in the file: a read fails with an
// error that matches eventstore.ErrUnavailable, and Health says in words that the file reads
// as damaged, instead of SQLite's "database disk image is malformed" alone.
func TestDamagedFileIsNamedInWords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		ev := storetest.Event("test.pad", i)
		ev.Data = []byte(`{"pad":"` + strings.Repeat("y", 1000) + `"}`)
		if _, err := s.Append(ctx, "s", eventstore.Any(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Most of the file is the events table's leaf pages: scribble over a few in the middle,
	// as a disk that returned garbage would.
	if len(raw) < 40*4096 {
		t.Fatalf("the file has %d bytes, fewer than expected", len(raw))
	}
	for i := 20 * 4096; i < 24*4096; i++ {
		raw[i] = 0xA5
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open of a file damaged in the middle of its log: %v", err)
	}
	defer ro.Close()
	_, rerr := ro.ReadAll(ctx, eventstore.Start, 1000)
	herr := ro.Health(ctx)
	if !errors.Is(rerr, eventstore.ErrUnavailable) || !errors.Is(herr, eventstore.ErrUnavailable) || !strings.Contains(herr.Error(), "reads as damaged") {
		t.Fatalf("read of a damaged file: %v; health: %v; want ErrUnavailable saying the file reads as damaged", rerr, herr)
	}
}
