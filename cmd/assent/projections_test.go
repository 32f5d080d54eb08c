package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

func TestProjectionsRebuildPrintsCounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.Must(uuid.NewV7())
	email, _ := domain.ParseEmail("cli@example.com")
	typ, ver, data, err := domain.Encode(domain.AccountRegistered{AccountID: id, Email: email, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$a$b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, domain.AccountStream(id), eventstore.NoStream(), eventstore.EventData{Type: typ, SchemaVersion: ver, Data: data}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	var out bytes.Buffer
	root := rootCommand()
	root.SetOut(&out)
	root.SetArgs([]string{"projections", "rebuild", "--data-dir", dir})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "1 events") || !strings.Contains(s, "accounts    1") {
		t.Fatalf("output:\n%s", s)
	}
	root = rootCommand()
	root.SetArgs([]string{"projections", "rebuild", "--data-dir", t.TempDir()})
	if err := root.ExecuteContext(ctx); err == nil {
		t.Fatal("rebuild of an empty directory succeeded")
	}
}
