package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/keyfile"
	"github.com/assent-dev/assent/projections"
)

// runCLI runs the assent command with args and returns what it printed.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := rootCommand()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestBackupOfARunningServerUnderLoadRestoresVerified: `assent backup` copies the store of a
// server that goes on taking registrations; every account registered before the backup began
// is in the copy; `assent restore` verifies it and puts it, with the keys, in a new data
// directory on which a server signs the accounts in. Restore refuses a copy that fails verify,
// a data directory that holds a store (without --force), and one in use (even with --force).
func TestBackupOfARunningServerUnderLoadRestoresVerified(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	n, _, _ := startLoggedNode(t, func(c *config.Config) { c.DataDir = dataDir })
	ctx := ctxT(t)

	var (
		mu     sync.Mutex
		acked  []uuid.UUID // accounts whose registration was answered
		stop   atomic.Bool
		wg     sync.WaitGroup
		loadOK atomic.Int64
	)
	for w := range 2 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				email := fmt.Sprintf("w%d-%d@example.com", w, i)
				id, err := n.client().Register(ctx, email, "correct horse battery staple")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
				loadOK.Add(1)
			}
		})
	}
	// Appends straight to the store, many per second, beside the registrations.
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			if _, err := n.srv.store.Append(ctx, "backup-load-"+uuid.NewString(), eventstore.NoStream(), eventstore.EventData{
				ID: uuid.New(), Type: "test.load", SchemaVersion: 1, Data: []byte(`{}`)}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for loadOK.Load() < 6 && ctx.Err() == nil && !t.Failed() {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	before := append([]uuid.UUID(nil), acked...)
	mu.Unlock()
	headBefore := n.srv.store.(*sqlite.Store).Head()

	backupDir := filepath.Join(t.TempDir(), "backup")
	keysDir := filepath.Join(t.TempDir(), "keys")
	out, err := runCLI(t, "backup", "--data-dir", dataDir, "--to", backupDir, "--keys-to", keysDir)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	t.Logf("backup under load, %d registrations before it:\n%s", len(before), out)

	// The copy holds every event acknowledged before the backup began.
	cp, err := sqlite.Open(ctx, filepath.Join(backupDir, storeFile), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if cp.Head() < headBefore {
		t.Errorf("the copy's head %d is before the server's head %d when the backup began", cp.Head(), headBefore)
	}
	cp.Close()
	if fileExists(filepath.Join(backupDir, "keys.json")) || !fileExists(filepath.Join(keysDir, "keys.json")) {
		t.Fatal("--keys-to did not put keys.json apart from the data")
	}

	// A restore without the keys is refused: the copy's sealed secrets need them.
	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := runCLI(t, "restore", "--from", backupDir, "--data-dir", restored); err == nil || !strings.Contains(err.Error(), "keys") {
		t.Fatalf("restore without keys: %v\n%s", err, out)
	}
	out, err = runCLI(t, "restore", "--from", backupDir, "--keys-from", keysDir, "--data-dir", restored)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if !strings.Contains(out, "OK: the log holds") {
		t.Fatalf("restore did not verify the copy:\n%s", out)
	}
	orig, _ := os.ReadFile(filepath.Join(dataDir, keyfile.Name))
	got, _ := os.ReadFile(filepath.Join(restored, keyfile.Name))
	if len(orig) == 0 || !bytes.Equal(orig, got) {
		t.Fatal("the restored keys.json differs from the server's")
	}
	if out, err := runCLI(t, "audit", "verify", "--data-dir", restored); err != nil {
		t.Fatalf("audit verify on the restored data directory: %v\n%s", err, out)
	}

	// Every account registered before the backup is in the restored store, and a server on it
	// signs one in.
	rs, err := sqlite.Open(ctx, filepath.Join(restored, storeFile), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	views := projections.NewSet()
	sealed, err := offlineSealing(restored, "", rs) // the read models hold the emails, opened with the restored keys
	if err != nil {
		t.Fatal(err)
	}
	if _, err := views.Rebuild(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	rs.Close()
	var email string
	for _, id := range before {
		a, err := views.Accounts.Get(id)
		if err != nil {
			t.Fatalf("account %s, registered before the backup, is not in the restored store: %v", id, err)
		}
		email = a.Email
	}
	r, _, _ := startLoggedNode(t, func(c *config.Config) { c.DataDir = restored })
	if res, err := r.client().SignIn(ctx, email, "correct horse battery staple"); err != nil || res.Status != "signed_in" {
		t.Fatalf("sign in as %s on the restored server: %+v %v", email, res, err)
	}

	// Refusals change nothing.
	if out, err := runCLI(t, "restore", "--from", backupDir, "--keys-from", keysDir, "--data-dir", restored); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("restore over a data directory that holds a store: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "restore", "--force", "--from", backupDir, "--keys-from", keysDir, "--data-dir", dataDir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("restore --force over a data directory in use: %v\n%s", err, out)
	}
	tampered := filepath.Join(t.TempDir(), "tampered")
	if out, err := runCLI(t, "backup", "--data-dir", restored, "--to", tampered, "--keys-to", filepath.Join(tampered, "k")); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	db, err := sql.Open("sqlite", filepath.Join(tampered, storeFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM events WHERE position = (SELECT max(position) FROM events) - 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	fresh := filepath.Join(t.TempDir(), "fresh")
	out, err = runCLI(t, "restore", "--from", tampered, "--keys-from", filepath.Join(tampered, "k"), "--data-dir", fresh)
	if err == nil || !strings.Contains(err.Error(), "fails verify") || !strings.Contains(out, "FAILED") {
		t.Fatalf("restore of a copy that fails verify: %v\n%s", err, out)
	}
	if fileExists(filepath.Join(fresh, storeFile)) {
		t.Fatal("a refused restore wrote the store")
	}
}
