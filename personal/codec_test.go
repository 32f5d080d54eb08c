package personal_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
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

// countingKeys counts the one-subject and the many-subject key lookups of the store under it.
type countingKeys struct {
	*sqlite.Store
	one, many int
}

func (c *countingKeys) SubjectKey(ctx context.Context, subject string) ([]byte, error) {
	c.one++
	return c.Store.SubjectKey(ctx, subject)
}

func (c *countingKeys) SubjectKeysOf(ctx context.Context, subjects []string) (map[string][]byte, error) {
	c.many++
	return c.Store.SubjectKeysOf(ctx, subjects)
}

// OpenAll opens a page as Open opens each of its events, for every kind of owner (a live key
// and sealed fields, a destroyed key over sealed and clear fields, no key and clear fields),
// and looks their keys up in one query, not one per owner.
func TestOpenAllOpensAsOpenWithOneLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr, _ := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	writer := personal.NewCodec(personal.NewKeys(st, kr))
	now := time.Now().UTC()
	var page []eventstore.RecordedEvent
	add := func(e domain.Event, seal bool) {
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		ev := eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data}
		if seal {
			if ev, err = writer.Seal(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		page = append(page, eventstore.RecordedEvent{ID: ev.ID, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data, Position: eventstore.Position(len(page) + 1)})
	}
	live, gone, clear := uuid.New(), uuid.New(), uuid.New()
	for i, owner := range []uuid.UUID{live, gone, clear} {
		email, _ := domain.ParseEmail(fmt.Sprintf("owner%d@example.com", i))
		add(domain.AccountRegistered{AccountID: owner, Email: email, PasswordHash: "$argon2id$x", At: now}, owner != clear)
		add(domain.SignInFailed{AccountID: owner, Source: domain.SourceOfIP(fmt.Sprintf("198.51.100.%d", i+1)), At: now}, false)
		add(domain.MFAEnabled{AccountID: owner, At: now}, false)
	}
	if err := writer.Keys().Erase(ctx, gone); err != nil {
		t.Fatal(err)
	}

	want := make([][]byte, len(page))
	single := personal.NewCodec(personal.NewKeys(st, kr))
	for i := range page {
		ev := page[i]
		if want[i], err = single.Open(ctx, &ev); err != nil {
			t.Fatal(err)
		}
	}
	counting := &countingKeys{Store: st}
	batch := personal.NewCodec(personal.NewKeys(counting, kr))
	got := slices.Clone(page)
	if err := batch.OpenAll(ctx, got); err != nil {
		t.Fatal(err)
	}
	for i := range page {
		if !bytes.Equal(got[i].Data, want[i]) {
			t.Errorf("%s of event %d: OpenAll gives %s, Open %s", page[i].Type, i, got[i].Data, want[i])
		}
	}
	if !bytes.Contains(got[0].Data, []byte("owner0@example.com")) || bytes.Contains(got[3].Data, []byte("owner1@example.com")) || !bytes.Contains(got[6].Data, []byte("owner2@example.com")) {
		t.Fatalf("the page does not hold an opened, an erased and a clear account: %s | %s | %s", got[0].Data, got[3].Data, got[6].Data)
	}
	if counting.many != 1 || counting.one != 0 {
		t.Fatalf("%d lookups of many subjects and %d of one, want 1 and 0", counting.many, counting.one)
	}
}
