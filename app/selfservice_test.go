package app

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// startSession starts a session of the account with the ID {n} and returns its ID.
func (f *fixture) startSession(accountID uuid.UUID, n byte) [16]byte {
	f.t.Helper()
	id := [16]byte{n}
	d := sha256.Sum256(id[:])
	err := f.s.StartSession(f.ctx, domain.StartSession{
		AccountID: accountID, SessionDigest: d[:], IP: "192.0.2.1", UserAgent: "Firefox", Expires: f.clock.Now().Add(12 * time.Hour),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func TestChangePasswordEndsOtherSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id, err := f.s.Register(f.ctx, "change@example.com", "first password")
	if err != nil {
		t.Fatal(err)
	}
	other := f.account("other@example.com")
	here, there := f.startSession(id, 1), f.startSession(id, 2)
	theirs := f.startSession(other, 3)
	if list, _ := f.s.Sessions(f.ctx, id); len(list) != 2 {
		t.Fatalf("sessions before the change: %+v, want 2", list)
	}
	f.clock.Advance(time.Minute)
	keep := sha256.Sum256(here[:])
	if err := f.s.ChangePassword(f.ctx, id, "first password", "second password", domain.EndSessions{KeepDigest: keep[:], Until: f.clock.Now().Add(12 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	list, err := f.s.Sessions(f.ctx, id)
	if err != nil || len(list) != 1 || list[0].Digest != keep {
		t.Fatalf("sessions after the change: %+v, %v; want only the one that asked", list, err)
	}
	issued := f.clock.Now().Add(-time.Minute)
	if !f.views.Sessions.Ended(id, there, issued) || f.views.Sessions.Ended(id, here, issued) || f.views.Sessions.Ended(other, theirs, issued) {
		t.Fatal("the change did not end exactly the other session of the account")
	}
	if f.count(domain.AccountStream(id), "account.sessions.ended") != 1 {
		t.Fatalf("account stream = %v", f.types(domain.AccountStream(id)))
	}
}

func TestEndOneSessionOrAllOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id, other := f.account("end@example.com"), f.account("else@example.com")
	a, b, c := f.startSession(id, 1), f.startSession(id, 2), f.startSession(id, 3)
	theirsID := f.startSession(other, 9)
	theirs := sha256.Sum256(theirsID[:])
	if err := f.s.EndSession(f.ctx, id, theirs); !errors.Is(err, domain.ErrSessionNotFound) {
		t.Fatalf("ending another account's session: %v, want ErrSessionNotFound", err)
	}
	if list, _ := f.s.Sessions(f.ctx, other); len(list) != 1 {
		t.Fatal("another account's session was ended")
	}
	if err := f.s.EndSession(f.ctx, id, sha256.Sum256(b[:])); err != nil {
		t.Fatal(err)
	}
	if !f.views.SignOuts.SignedOut(b) {
		t.Fatal("the ended session is not refused")
	}
	f.clock.Advance(time.Second)
	keep := sha256.Sum256(a[:])
	if err := f.s.EndOtherSessions(f.ctx, id, domain.EndSessions{KeepDigest: keep[:], Until: f.clock.Now().Add(12 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	list, _ := f.s.Sessions(f.ctx, id)
	if len(list) != 1 || list[0].Digest != keep || !f.views.Sessions.Ended(id, c, f.clock.Now().Add(-time.Second)) {
		t.Fatalf("after ending the others: %+v", list)
	}
}

func TestSeeSessionRecordsAtMostOncePerPeriod(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("seen@example.com")
	sess := f.startSession(id, 1)
	d := sha256.Sum256(sess[:])
	stream := domain.SessionStream(d[:])
	for range 3 {
		f.clock.Advance(domain.SessionSeenEvery / 4)
		if err := f.s.SeeSession(f.ctx, id, sess, "198.51.100.7"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count(stream, "session.seen"); n != 0 {
		t.Fatalf("%d uses recorded within the first period, want 0", n)
	}
	f.clock.Advance(domain.SessionSeenEvery / 4)
	for range 3 {
		if err := f.s.SeeSession(f.ctx, id, sess, "198.51.100.7"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Sessions(f.ctx, id); err != nil { // lets the read model catch up
			t.Fatal(err)
		}
	}
	if n := f.count(stream, "session.seen"); n != 1 {
		t.Fatalf("%d uses recorded a period on, want 1", n)
	}
	list, _ := f.s.Sessions(f.ctx, id)
	if len(list) != 1 || !list[0].LastSeen.Equal(f.clock.Now()) || list[0].LastIP != "198.51.100.7" {
		t.Fatalf("session after its use: %+v", list)
	}
	if f.count(domain.AccountStream(id), "session.seen") != 0 {
		t.Fatal("a use was recorded on the account's stream")
	}
}

func TestRenameAndRemoveFactorsInTheView(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("names@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	_, appID, err := f.s.AddTOTPApp(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.RenameDevice(f.ctx, id, phone.id, "terminal on vm (office)"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.RenameTOTPApp(f.ctx, id, appID, "Aegis on tablet"); err != nil {
		t.Fatal(err)
	}
	v, _ := f.s.Account(f.ctx, id)
	if len(v.Devices) != 1 || v.Devices[0].Name != "terminal on vm (office)" || len(v.TOTPApps) != 1 || v.TOTPApps[0].Name != "Aegis on tablet" {
		t.Fatalf("view after renaming: %+v", v)
	}
	if err := f.s.RenameDevice(f.ctx, id, uuid.New(), "x"); !errors.Is(err, domain.ErrDeviceNotLinked) {
		t.Fatalf("renaming a device not linked: %v", err)
	}
	if err := f.s.RemoveTOTPApp(f.ctx, id, appID); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.s.Account(f.ctx, id); len(v.TOTPApps) != 0 || len(v.Devices) != 1 {
		t.Fatalf("view after removing the app: %+v", v)
	}
}

func TestResumePushWithAFreshSecondFactor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("resume@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	early := f.approved(id, phone)
	if err := f.s.ResumePush(f.ctx, id, early.ID); !errors.Is(err, domain.ErrPushNotPaused) {
		t.Fatalf("resume while not paused: %v, want ErrPushNotPaused", err)
	}
	ch := f.challenge(id)
	if err := f.answer(phone, ch.ID, domain.AnswerFraud, 0); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.s.Account(f.ctx, id); !v.MutedUntil.After(f.clock.Now()) {
		t.Fatalf("pushes not paused after the fraud report: %+v", v)
	}
	if err := f.s.ResumePush(f.ctx, id, ch.ID); !errors.Is(err, domain.ErrSecondFactorNeeded) {
		t.Fatalf("resume with the reported challenge: %v, want ErrSecondFactorNeeded", err)
	}
	proof := f.challenge(id)
	code, _ := phone.totp[id].Code(f.clock.Now())
	if err := f.s.CompleteWithTOTP(f.ctx, proof.ID, code); err != nil {
		t.Fatal(err)
	}
	if err := f.s.ResumePush(f.ctx, id, proof.ID); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.s.Account(f.ctx, id); !v.MutedUntil.IsZero() {
		t.Fatalf("pushes still paused after resuming: %+v", v)
	}
	if next := f.challenge(id); next.PushMuted || next.Devices != 1 {
		t.Fatalf("challenge after resuming = %+v, want pushed to the device", next)
	}
}
