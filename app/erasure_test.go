package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/secrets"
	"github.com/assent-dev/assent/snapshots"
)

// sealedFixture is a service whose store seals personal fields, as assent serve runs it.
type sealedFixture struct {
	*fixture
	raw   *sqlite.Store
	path  string
	codec *personal.Codec
	local *localdb.DB
}

func newSealedFixture(t *testing.T) *sealedFixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	raw, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	if err != nil {
		t.Fatal(err)
	}
	keys := personal.NewKeys(raw, kr)
	codec := personal.NewCodec(keys)
	store := personal.Wrap(raw, codec)
	views := projections.NewSet()
	router, err := projections.NewRouter(views, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := router.Run(ctx); err != nil {
			t.Errorf("router: %v", err)
		}
	}()
	<-router.Running()
	t.Cleanup(func() {
		router.Close()
		<-done
		store.Close()
	})
	db, err := localdb.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	snaps, err := snapshots.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: t0}
	s, err := New(Config{Store: store, Keyring: kr, Projections: views, Clock: c.Now, Snapshots: personal.SealSnapshots(snaps, keys), Erasure: keys})
	if err != nil {
		t.Fatal(err)
	}
	return &sealedFixture{fixture: &fixture{t: t, ctx: ctx, s: s, store: raw, views: views, clock: c}, raw: raw, path: path, codec: codec, local: db}
}

// fileHolds reports whether the store's files (database and WAL) hold any of the texts.
func (f *sealedFixture) fileHolds(texts ...string) []string {
	f.t.Helper()
	var found []string
	for _, name := range []string{f.path, f.path + "-wal"} {
		raw, err := os.ReadFile(name)
		if err != nil && !os.IsNotExist(err) {
			f.t.Fatal(err)
		}
		for _, s := range texts {
			if bytes.Contains(raw, []byte(s)) {
				found = append(found, s+" in "+filepath.Base(name))
			}
		}
	}
	return found
}

// logHolds reports which texts a read of the whole log through the sealing store shows.
func (f *sealedFixture) logHolds(texts ...string) []string {
	f.t.Helper()
	evs, err := f.s.store.ReadAll(f.ctx, eventstore.Start, 100000)
	if err != nil {
		f.t.Fatal(err)
	}
	var found []string
	for _, s := range texts {
		for _, ev := range evs {
			if bytes.Contains(ev.Data, []byte(s)) {
				found = append(found, s+" in "+ev.Type)
				break
			}
		}
	}
	return found
}

func TestErasureLeavesNoPersonalFieldReadableAndOthersUntouched(t *testing.T) {
	t.Parallel()
	f := newSealedFixture(t)
	alice, bob := f.account("alice@example.com"), f.account("bob@example.com")
	d := newDevice(t)
	f.enroll(alice, d)
	aliceCtx := domain.LoginContext{UserAgent: "AliceBrowser/1.0", IP: "198.51.100.23", Place: "Alicetown, FR"}
	bobCtx := domain.LoginContext{UserAgent: "BobBrowser/2.0", IP: "203.0.113.99"}
	if _, err := f.s.SignIn(f.ctx, "alice@example.com", "wrong password!", aliceCtx); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := f.s.SignIn(f.ctx, "alice@example.com", testPassword, aliceCtx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.SignIn(f.ctx, "bob@example.com", "wrong password!", bobCtx); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	digest := bytes.Repeat([]byte{9}, 32)
	if err := f.s.StartSession(f.ctx, domain.StartSession{AccountID: alice, SessionDigest: digest, IP: "198.51.100.24", UserAgent: "AliceSessionBrowser", Expires: f.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.caughtUp(f.ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.views.Sessions.ForAccount(alice, f.clock.Now())) != 1 {
		t.Fatal("the session is not in the read model: the check after erasure would prove nothing")
	}
	if len(f.views.Pending.ForDevice(d.id, f.clock.Now())) != 1 {
		t.Fatal("the sign-in is not pending for the device: the check after erasure would prove nothing")
	}
	if h, _, err := f.views.History.ForAccount(alice); err != nil || len(h) == 0 {
		t.Fatalf("the history holds nothing of the account (%v): the check after erasure would prove nothing", err)
	}
	aliceData := []string{"alice@example.com", "AliceBrowser", "198.51.100.23", "Alicetown", "Pixel 9", "AliceSessionBrowser", "198.51.100.24"}
	bobData := []string{"bob@example.com", "203.0.113.99"}

	// Sealed from the start: the files never hold the personal fields, reads show them.
	if found := f.fileHolds(append(aliceData, bobData...)...); len(found) > 0 {
		t.Fatalf("the store's files hold personal fields in the clear: %v", found)
	}
	if found := f.logHolds(append(aliceData, bobData...)...); len(found) != len(aliceData)+len(bobData) {
		t.Fatalf("a read of the log shows only %v of the personal fields: the checks below would prove nothing", found)
	}

	er, err := f.s.EraseAccount(f.ctx, alice, domain.HelpDeskAct{By: "carol", Reason: "ticket 7: asked to be forgotten"})
	if err != nil {
		t.Fatal(err)
	}
	if er.ClearEvents != 0 {
		t.Fatalf("erasure reports %d events in the clear in a log sealed from the start", er.ClearEvents)
	}

	// The log, read as every consumer reads it.
	if found := f.logHolds(aliceData...); len(found) > 0 {
		t.Fatalf("after erasure the log still shows %v", found)
	}
	if found := f.logHolds(bobData...); len(found) != len(bobData) {
		t.Fatalf("another account's data went too: only %v left", found)
	}
	// A replay and a timeline, as auditors see them.
	reader := audit.NewReader(f.s.store, f.local)
	timeline, err := reader.Timeline(f.ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	var shown bytes.Buffer
	for _, v := range timeline {
		shown.Write(v.Data)
		shown.WriteString(v.Summary)
	}
	for _, s := range aliceData {
		if bytes.Contains(shown.Bytes(), []byte(s)) {
			t.Errorf("the timeline shows %q after erasure", s)
		}
	}
	if !bytes.Contains(shown.Bytes(), []byte(personal.ErasedValue)) || !bytes.Contains(shown.Bytes(), []byte("account.erased")) && !strings.Contains(timeline[len(timeline)-1].Type, "erased") {
		t.Errorf("the timeline does not show where the data was erased: %s", shown.String())
	}
	// The read models.
	if _, err := f.s.Account(f.ctx, alice); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Errorf("the accounts read model still has the erased account: %v", err)
	}
	if v, err := f.s.Account(f.ctx, bob); err != nil || v.Email != "bob@example.com" {
		t.Errorf("the other account's view: %+v, %v", v, err)
	}
	if _, err := f.views.Accounts.ByEmail(domain.Email{}); err == nil {
		t.Errorf("an account row with no email is left")
	}
	if v, err := f.views.Devices.Get(d.id); err != nil || v.Name != "" || v.Platform != "" || len(v.Accounts) != 0 {
		t.Errorf("the devices read model after erasure: %+v, %v", v, err)
	}
	for _, p := range f.views.Pending.All() {
		if p.Challenge.AccountID == alice {
			t.Errorf("the erased account's sign-in is still pending, with its context: %+v", p.Challenge)
		}
	}
	if s := f.views.Sessions.ForAccount(alice, f.clock.Now()); len(s) != 0 {
		t.Errorf("sessions of the erased account are left: %+v", s)
	}
	if h, names, err := f.views.History.ForAccount(alice); err != nil || len(h) != 0 || len(names.Devices) != 0 {
		t.Errorf("the history of the erased account is left: %d entries, %v names, %v", len(h), names.Devices, err)
	}
	// The log still verifies.
	rep, err := audit.Verify(f.ctx, f.raw, audit.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("verify after erasure: %+v, %v", rep, err)
	}
	// The erased account signs in no more; its address may be registered again.
	if _, err := f.s.SignIn(f.ctx, "alice@example.com", testPassword, aliceCtx); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("sign-in of an erased account: %v, want ErrInvalidCredentials", err)
	}
	if _, err := f.s.EraseAccount(f.ctx, alice, domain.HelpDeskAct{By: "carol", Reason: "again"}); !errors.Is(err, domain.ErrAccountErased) {
		t.Errorf("erasing twice: %v, want ErrAccountErased", err)
	}
	again, err := f.s.Register(f.ctx, "alice@example.com", testPassword)
	if err != nil || again == alice || again == uuid.Nil {
		t.Fatalf("registering the erased account's email again: %s, %v", again, err)
	}
	if _, err := f.s.SignIn(f.ctx, "bob@example.com", testPassword, bobCtx); err != nil {
		t.Errorf("the other account signs in no more: %v", err)
	}
}

// An account from a log written before sealing: its stored bytes hold its personal fields in
// the clear and cannot change. Erasure blanks them in every read and says how many there are.
func TestErasureOfAnAccountWrittenInTheClear(t *testing.T) {
	t.Parallel()
	f := newSealedFixture(t)
	// Written by a build without keys: the same store, unsealed.
	old, err := New(Config{Store: f.raw, Keyring: f.s.keyring, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := domain.ParseEmail("old@example.com")
	id, err := old.register(f.ctx, addr, testHash())
	if err != nil {
		t.Fatal(err)
	}
	if found := f.fileHolds("old@example.com"); len(found) == 0 {
		t.Fatal("the old account's email is not in the file: the test proves nothing")
	}
	er, err := f.s.EraseAccount(f.ctx, id, domain.HelpDeskAct{By: "carol", Reason: "ticket 8"})
	if err != nil {
		t.Fatal(err)
	}
	if er.ClearEvents != 1 {
		t.Errorf("erasure counts %d events in the clear, want 1 (account.registered)", er.ClearEvents)
	}
	if found := f.logHolds("old@example.com"); len(found) > 0 {
		t.Errorf("reads still show the old account's email: %v", found)
	}
	if found := f.fileHolds("old@example.com"); len(found) == 0 {
		t.Errorf("the file no longer holds the email: the documented limit is wrong")
	}
	if rep, err := audit.Verify(f.ctx, f.raw, audit.VerifyOptions{}); err != nil || !rep.OK {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}
