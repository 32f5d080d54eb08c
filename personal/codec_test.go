package personal_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/secrets"
)

func recorded(t *testing.T, ev eventstore.EventData) *eventstore.RecordedEvent {
	t.Helper()
	return &eventstore.RecordedEvent{ID: ev.ID, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data}
}

// Two nodes share a store and a keyring. Node A reads an old account's event written in the
// clear (and remembers that the account has no key); node B then writes the account's first
// sealed event, creating its key; node A opens it. Node B erases the account; node A, having
// read the account.erased, no longer opens what was sealed, nor shows the old clear event.
func TestNodesShareOwnersKeysAndTheirErasure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr, _ := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	a := personal.NewCodec(personal.NewKeys(st, kr))
	b := personal.NewCodec(personal.NewKeys(st, kr))
	account := uuid.New()
	now := time.Now().UTC()
	event := func(e domain.Event) eventstore.EventData {
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		return eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data}
	}
	email, _ := domain.ParseEmail("old.timer@example.com")
	old := event(domain.AccountRegistered{AccountID: account, Email: email, PasswordHash: "$argon2id$x", At: now})
	if got, err := a.Open(ctx, recorded(t, old)); err != nil || !bytes.Contains(got, []byte("old.timer@example.com")) {
		t.Fatalf("node A reads the old clear event: %s, %v", got, err)
	}
	failed := event(domain.SignInFailed{AccountID: account, Source: domain.SourceOfIP("198.51.100.77"), At: now})
	sealed, err := b.Seal(ctx, failed)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed.Data, []byte("198.51.100.77")) {
		t.Fatalf("node B stored the source in the clear: %s", sealed.Data)
	}
	if got, err := a.Open(ctx, recorded(t, sealed)); err != nil || !bytes.Contains(got, []byte("198.51.100.77")) {
		t.Fatalf("node A opens node B's first sealed event of the account: %s, %v", got, err)
	}
	if err := b.Keys().Erase(ctx, account); err != nil {
		t.Fatal(err)
	}
	erased := event(domain.AccountErased{AccountID: account, At: now})
	if _, err := a.Open(ctx, recorded(t, erased)); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []eventstore.EventData{sealed, old} {
		got, err := a.Open(ctx, recorded(t, ev))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(got, []byte("198.51.100.77")) || bytes.Contains(got, []byte("old.timer")) || !bytes.Contains(got, []byte(personal.ErasedField)) {
			t.Errorf("node A after the erasure reads %s", got)
		}
		if shown := personal.MarkErased(ev.Type, got); !bytes.Contains(shown, []byte(personal.ErasedValue)) {
			t.Errorf("the erased event is not shown as erased: %s", shown)
		}
	}
	if _, err := b.Seal(ctx, event(domain.SignInFailed{AccountID: account, Source: domain.SourceOfIP("198.51.100.78"), At: now})); err == nil {
		t.Error("a new personal field was sealed under an erased account")
	}
}
