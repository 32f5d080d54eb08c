package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLoadtestDiskTimesAppendsAtEachPaceAndLeavesNothingBehind runs the disk measurement on
// a directory holding a file of its own, and checks that it printed the four figures of each
// pace over the appends asked for, and that the directory holds only what it held before.
func TestLoadtestDiskTimesAppendsAtEachPaceAndLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "events.db"), []byte("the server's own file"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := diskOptions{DataDir: dir, Paces: []time.Duration{0, 2 * time.Millisecond}, Appends: 5}
	if err := runDisk(context.Background(), o, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	fig := `n=5 p50 \d+\.\d{3} ms, p90 \d+\.\d{3} ms, p99 \d+\.\d{3} ms, max \d+\.\d{3} ms`
	for _, want := range []string{
		`(?m)^disk of .+: 5 appends of one event at each pace, after 10 untimed$`,
		`(?m)^back to back  append ` + fig + ` \(Append called to Append returned\)\n +writer ` + fig + ` \(the writer's transaction: begin to durable\)\n +COMMIT ` + fig + ` \(the WAL's write and fsync\)\n +fsync  ` + fig + ` \(a bare 4 KiB overwrite, for comparison\)$`,
		`(?m)^every 2ms     append ` + fig + ` .*\n +writer ` + fig + ` .*\n +COMMIT ` + fig + ` .*\n +fsync  ` + fig + ` .*$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("the output does not match %q:\n%s", want, out.String())
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "events.db" {
		t.Errorf("the data directory holds %v after the run, want only events.db", entries)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "events.db")); err != nil || string(b) != "the server's own file" {
		t.Errorf("the server's file was touched: %q, %v", b, err)
	}
}

// TestLoadtestDiskRefusesBadOptions: each bad option is named, and nothing runs.
func TestLoadtestDiskRefusesBadOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		o    diskOptions
		want string
	}{
		{diskOptions{Paces: []time.Duration{0}, Appends: 1}, "option 'data-dir' must be set"},
		{diskOptions{DataDir: dir, Paces: []time.Duration{0}, Appends: 0}, "option 'appends' must be at least 1"},
		{diskOptions{DataDir: dir, Appends: 1}, "option 'pace' must name at least one wait"},
		{diskOptions{DataDir: dir, Paces: []time.Duration{-time.Millisecond}, Appends: 1}, "option 'pace' must hold waits of 0 or more"},
	} {
		err := c.o.validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("validate(%+v) = %v, want an error with %q", c.o, err, c.want)
		}
	}
	var out bytes.Buffer
	err := runDisk(context.Background(), diskOptions{DataDir: filepath.Join(dir, "missing"), Paces: []time.Duration{0}, Appends: 1}, &out)
	if err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("a missing directory: %v, want 'is not a directory'", err)
	}
}
