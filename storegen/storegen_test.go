package storegen_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/keyfile"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/storegen"
)

// TestGeneratedStoreIsWhatTheApplicationReads generates a small store and checks it as a
// server would use it: every event decodes with the domain's registry, the hash chains and the
// stream index hold, the read models fold it, and a generated account signs in with its
// password and passes its challenge with its device's TOTP code.
func TestGeneratedStoreIsWhatTheApplicationReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	res, err := storegen.Generate(ctx, storegen.Config{DataDir: dir, Accounts: 40, Events: 600, Seed: "test", BatchEvents: 64})
	if err != nil {
		t.Fatal(err)
	}
	ended := time.Now()
	if res.Events < 600 || res.Events > 700 || res.SignIns == 0 {
		t.Fatalf("generated %+v, want about 600 events with sign-ins", res)
	}
	if _, err := storegen.Generate(ctx, storegen.Config{DataDir: dir, Accounts: 40, Events: 600}); !errors.Is(err, storegen.ErrNotEmpty) {
		t.Fatalf("a second run into the same directory: %v, want ErrNotEmpty", err)
	}

	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if int(store.Head()) != res.Events {
		t.Fatalf("head = %d, want %d events", store.Head(), res.Events)
	}
	types := map[string]int{}
	heads := map[string]eventstore.Hash{}
	for after := eventstore.Start; ; {
		evs, err := store.ReadAllChained(ctx, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for i := range evs {
			ev := &evs[i]
			if _, err := domain.Decode(ev.Type, ev.SchemaVersion, ev.Data); err != nil {
				t.Fatalf("event at %d (%s) does not decode: %v", ev.Position, ev.Type, err)
			}
			if ev.PrevHash != heads[ev.Stream] {
				t.Fatalf("event at %d breaks the chain of %s", ev.Position, ev.Stream)
			}
			heads[ev.Stream] = ev.Hash()
			if ev.Metadata.RecordedAt.After(ended) {
				t.Fatalf("event at %d is recorded at %s, after the run ended (%s): the history must not be in the future", ev.Position, ev.Metadata.RecordedAt, ended)
			}
			types[ev.Type]++
			after = ev.Position
		}
	}
	for _, typ := range []string{"email.claimed", "account.registered", "enrollment.started", "enrollment.completed",
		"device.registered", "device.linked", "account.mfa.enabled", "backupcodes.issued", "account.signin.challenged",
		"challenge.issued", "challenge.delivered", "challenge.approved", "challenge.redeemed"} {
		if types[typ] == 0 {
			t.Errorf("no %s event in the generated store (%v)", typ, types)
		}
	}
	if types["account.registered"] != 40 {
		t.Errorf("%d accounts registered, want 40", types["account.registered"])
	}
	if problems, err := store.VerifyIndex(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("VerifyIndex = %v, %v", problems, err)
	}
	views := projections.NewSet()
	if _, err := views.CatchUp(ctx, store); err != nil {
		t.Fatalf("the read models do not fold the generated store: %v", err)
	}

	m, err := storegen.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := keyfile.LoadOrCreate(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := app.New(app.Config{Store: store, Keyring: keyring, Projections: views})
	if err != nil {
		t.Fatal(err)
	}
	i := 0 // a linked account
	if !m.Linked(i) {
		t.Fatal("account 0 should have a device")
	}
	signIn, err := svc.SignIn(ctx, m.Email(i), m.Password, domain.LoginContext{UserAgent: "test", IP: "192.0.2.1"})
	if err != nil || signIn.Challenge == nil {
		t.Fatalf("sign in on generated account %d = %+v, %v; want a challenge", i, signIn, err)
	}
	secret, err := m.TOTPSecret(i)
	if err != nil {
		t.Fatal(err)
	}
	// The step after the last the generated history may have spent.
	code, err := secret.Code(time.Now().Add(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.CompleteWithTOTP(ctx, signIn.Challenge.ID, code); err != nil {
		t.Fatalf("the device's TOTP code does not pass the challenge: %v", err)
	}
	unlinked := m.LinkedEvery - 1
	res2, err := svc.SignIn(ctx, m.Email(unlinked), m.Password, domain.LoginContext{UserAgent: "test", IP: "192.0.2.1"})
	if err != nil || !res2.SessionGranted {
		t.Fatalf("sign in on generated account %d without 2FA = %+v, %v; want a session", unlinked, res2, err)
	}
}

func TestGenerateRefusesABadConfiguration(t *testing.T) {
	t.Parallel()
	_, err := storegen.Generate(context.Background(), storegen.Config{DataDir: t.TempDir(), Accounts: 10, Events: 5, Password: "short"})
	if !errors.Is(err, storegen.ErrInvalidConfig) {
		t.Fatalf("Generate = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"option 'events'", "option 'password'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %s: %v", want, err)
		}
	}
}
