package app

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/schemas"
	"github.com/assent-dev/assent/secrets"
)

// TestCommandsWriteNoVersionTheDeploymentDoesNotAllow: the deployment allows every type this
// build writes but account.registered, whose version is one below; a registration is refused
// with the guard's error and writes nothing, not even its email claim.
func TestCommandsWriteNoVersionTheDeploymentDoesNotAllow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	older := schemas.Versions(domain.Events.Versions())
	older["account.registered"]--
	rec, _, err := schemas.Start(ctx, store, older, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	head := store.Head()
	kr, err := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: store, Keyring: kr, Schemas: schemas.NewGuard(store, rec, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, "ada@example.com", "a good password"); !errors.Is(err, schemas.ErrNotAllowed) {
		t.Fatalf("register = %v, want ErrNotAllowed", err)
	}
	if store.Head() != head {
		t.Fatalf("the refused registration wrote %d events", store.Head()-head)
	}
	addr, _ := domain.ParseEmail("ada@example.com")
	if _, err := store.ReadStream(ctx, newClaimStream(t, s, addr), eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("the email stream after the refusal: %v", err)
	}
}
