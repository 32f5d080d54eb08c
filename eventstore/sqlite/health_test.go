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
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
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
