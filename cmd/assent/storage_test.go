package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// TestFullDiskAnswers503AndReadyzSaysWhy runs a node whose data directory is a tiny tmpfs,
// and fills it: a registration is refused with 503 storage_unavailable and a Retry-After
// (not a 500), /readyz is not ready and says the disk is full, and once space is freed /readyz
// is ready again and registrations go on. It needs root to mount the tmpfs, and is skipped
// without it.
func TestFullDiskAnswers503AndReadyzSaysWhy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs to fill needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		// Lazily: the process keeps the descriptor that carried the store's writer lock open.
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	url := "http://" + srv.Addr()
	ctx := ctxT(t)
	c := client.New(url)
	if _, err := c.Register(ctx, "before@example.com", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, io.LimitReader(zeroReader{}, 1<<40)); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("filling the disk: %v", err)
	}
	f.Close()

	// The WAL may still have room in pages it reuses: register until a write needs new space.
	var resp *http.Response
	for i := range 200 {
		body := fmt.Sprintf(`{"email":"full%d@example.com","password":"correct horse battery staple"}`, i)
		resp, err = http.Post(url+"/v1/accounts", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusCreated {
			break
		}
		resp.Body.Close()
	}
	var problem struct {
		Status        int
		Code, Message string
	}
	json.NewDecoder(resp.Body).Decode(&problem)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || problem.Code != "storage_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("registration on a full disk: %d %+v, Retry-After %q; want 503 storage_unavailable with Retry-After",
			resp.StatusCode, problem, resp.Header.Get("Retry-After"))
	}
	status, checks := readyz(t, url)
	if status != http.StatusServiceUnavailable || !strings.Contains(checks["eventstore"], "disk that holds the event store is full") {
		t.Fatalf("/readyz on a full disk: %d %v; want 503 saying the disk is full", status, checks)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if status, checks := readyz(t, url); status != http.StatusOK {
		t.Fatalf("/readyz once space is freed: %d %v", status, checks)
	}
	// From another loopback address: the loop above may have spent this address's sign-up
	// tokens, and how many depends on how fast the password checks ran.
	if _, err := clientFrom(url, net.IPv4(127, 0, 3, 1)).Register(ctx, "after@example.com", "correct horse battery staple"); err != nil {
		t.Fatalf("registration once space is freed: %v", err)
	}
}

func readyz(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body.Checks
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestServeLeavesAForeignDatabaseUntouched puts another application's SQLite database where
// the event store goes: the start is refused with ErrNotAssentStore, and the file is byte for
// byte what it was (it used to be switched to WAL before the refusal), with no WAL beside it.
func TestServeLeavesAForeignDatabaseUntouched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER); INSERT INTO invoices (total) VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err == nil {
		srv.Stop(context.Background())
		t.Fatal("the server started on another application's database")
	}
	if !errors.Is(err, sqlite.ErrNotAssentStore) {
		t.Fatalf("start: %v, want ErrNotAssentStore", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the refused start changed the foreign database")
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("the refused start left a WAL beside the foreign database")
	}
}
