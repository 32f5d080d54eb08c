package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assent-dev/assent/config"
)

// TestDataDirectoryAndStoreAreOwnerOnly checks the modes a real node leaves: a new data
// directory 0700 with its store's files and keys 0600, and an existing directory and store
// left readable by others made owner-only, with a log line each.
func TestDataDirectoryAndStoreAreOwnerOnly(t *testing.T) {
	t.Parallel()
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	startIn := func(dir string, logw io.Writer) *server {
		t.Helper()
		cfg := config.Defaults()
		cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
		srv, err := start(ctxT(t), cfg, slog.New(slog.NewJSONHandler(logw, nil)), startOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}

	dir := filepath.Join(t.TempDir(), "new", "data")
	srv := startIn(dir, io.Discard)
	if _, err := srv.App.Register(ctxT(t), "modes@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	if m := mode(dir); m != 0o700 {
		t.Errorf("new data directory: mode %#o, want 0700", m)
	}
	for _, f := range []string{"events.db", "events.db-wal", "events.db-shm", "keys.json"} {
		if m := mode(filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", f, m)
		}
	}
	if err := srv.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// As an older version left it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "events.db"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv = startIn(dir, logs)
	defer srv.Stop(ctxT(t))
	if m := mode(dir); m != 0o700 {
		t.Errorf("existing data directory: mode %#o after start, want 0700", m)
	}
	if m := mode(filepath.Join(dir, "events.db")); m != 0o600 {
		t.Errorf("existing events.db: mode %#o after start, want 0600", m)
	}
	for _, want := range []string{
		`"msg":"data directory was readable by others: its mode is now owner-only","path":"` + dir + `","was":"0755","now":"0700"`,
		`"msg":"store file was readable by others: its mode is now 0600","path":"` + filepath.Join(dir, "events.db") + `"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %s; it says:\n%s", want, logs.String())
		}
	}
}
