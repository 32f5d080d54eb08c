package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/secrets"
)

// New claims are named by a keyed hash: the unkeyed hash of the address, which anyone could
// test an address against, names no stream.
func TestEmailStreamsAreNamedByAKeyedHash(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	addr := mustEmail("keyed@example.com")
	id := f.account(addr.String())
	if _, err := f.store.ReadStream(f.ctx, domain.EmailStream(addr), eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("the unkeyed name holds a stream: %v", err)
	}
	if holder, err := f.s.emailHolder(f.ctx, addr); err != nil || holder != id {
		t.Fatalf("holder %s, %v; want %s", holder, err, id)
	}
}

// A claim made before a key rotation, under the old primary, still holds the address, and one
// written by an earlier version, under the unkeyed name, too: both sign in and neither address
// can be registered again, until the account is erased.
func TestEmailClaimsUnderOlderNamesStillHold(t *testing.T) {
	t.Parallel()
	f := newSealedFixture(t)
	rotated := f.account("rotated@example.com") // under k1, the fixture's primary

	// An account of an earlier version: its claim under the unkeyed name.
	legacy := mustEmail("legacy@example.com")
	legacyID := uuid.Must(uuid.NewV7())
	a, _ := domain.LoadAccount(nil)
	o := f.s.op(f.ctx, accountActor(legacyID))
	if _, err := o.append(domain.EmailStream(legacy), eventstore.NoStream(), []domain.Event{domain.EmailClaimed{AccountID: legacyID, At: f.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	d := a.Register(domain.RegisterAccount{AccountID: legacyID, Email: legacy, PasswordHash: testHash()}, f.clock.Now())
	if _, err := o.append(domain.AccountStream(legacyID), eventstore.NoStream(), d.Events); err != nil {
		t.Fatal(err)
	}

	// The keyring rotates: a new primary, the old key kept after it.
	k2, _ := secrets.ParseKey("k2:" + strings.Repeat("B", 43))
	k1, _ := secrets.ParseKey("k1:" + strings.Repeat("A", 43))
	kr, err := secrets.NewKeyring(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: f.s.store, Keyring: kr, Clock: f.clock.Now, Erasure: f.s.erasure})
	if err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]uuid.UUID{"rotated@example.com": rotated, "legacy@example.com": legacyID} {
		res, err := s.SignIn(f.ctx, email, testPassword, lc)
		if err != nil || res.AccountID != want {
			t.Errorf("sign-in of %s after the rotation: %+v, %v", email, res, err)
		}
		if _, err := s.Register(f.ctx, email, testPassword); !errors.Is(err, domain.ErrEmailTaken) {
			t.Errorf("registering %s again: %v, want ErrEmailTaken", email, err)
		}
	}
	if _, err := s.EraseAccount(f.ctx, legacyID, domain.HelpDeskAct{By: "carol", Reason: "ticket 9"}); err != nil {
		t.Fatal(err)
	}
	again, err := s.Register(f.ctx, "legacy@example.com", testPassword)
	if err != nil || again == legacyID {
		t.Fatalf("registering an erased legacy account's address: %s, %v", again, err)
	}
	if holder, err := s.emailHolder(f.ctx, legacy); err != nil || holder != again {
		t.Fatalf("the address's holder after it came back: %s, %v; want %s", holder, err, again)
	}
}

// newClaimStream returns the stream a new claim of addr goes to.
func newClaimStream(t testing.TB, s *Service, addr domain.Email) string {
	t.Helper()
	names, err := s.emailStreams(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return names[0]
}
