package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/schemas"
)

// TestServeRefusesADeploymentThatWritesWhatItCannotRead records, in a data directory, that the
// deployment writes account.registered at a schema version above this build's: the server
// refuses to start and says why, and the schema command shows the record.
func TestServeRefusesADeploymentThatWritesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	newer := schemas.Versions(domain.Events.Versions())
	newer["account.registered"]++
	if _, _, err := schemas.Raise(ctx, store, newer, "operator", time.Now()); err != nil {
		t.Fatal(err)
	}
	head := store.Head()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	srv, err := start(ctx, cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err == nil {
		srv.Stop(ctx)
		t.Fatal("the server started on a deployment that writes a version it cannot read")
	}
	if !errors.Is(err, schemas.ErrUnreadable) || !strings.Contains(err.Error(), "account.registered at schema") {
		t.Fatalf("start = %v, want ErrUnreadable naming account.registered", err)
	}
	store, err = sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if store.Head() != head {
		t.Errorf("the refused start wrote to the log: head %d, was %d", store.Head(), head)
	}
	store.Close()

	var out bytes.Buffer
	cmd := rootCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"schema", "status", "--data-dir", dir})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "account.registered") || !strings.Contains(out.String(), "by operator") {
		t.Fatalf("schema status printed:\n%s", out.String())
	}
}
