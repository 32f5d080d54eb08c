package app

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

func TestRegisterSignInAndChangePassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id, err := f.s.Register(f.ctx, "Ada@Example.com ", "first password")
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.s.SignIn(f.ctx, "ada@example.com", "first password", lc)
	if err != nil || !res.SessionGranted || res.Challenge != nil || res.AccountID != id {
		t.Fatalf("sign in without 2FA = %+v, %v; want a session for %s", res, err, id)
	}
	if _, err := f.s.Register(f.ctx, "ADA@example.com", "another password"); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("second registration of the address: %v, want ErrEmailTaken", err)
	}
	if _, err := f.s.Register(f.ctx, "bob@example.com", "short"); !errors.Is(err, ErrInvalidPassword) {
		t.Fatalf("short password: %v, want ErrInvalidPassword", err)
	}
	if err := f.s.ChangePassword(f.ctx, id, "not it", "second password", domain.EndSessions{Until: f.clock.Now().Add(time.Hour)}); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("change with a wrong password: %v, want ErrInvalidCredentials", err)
	}
	if err := f.s.ChangePassword(f.ctx, id, "first password", "second password", domain.EndSessions{Until: f.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.SignIn(f.ctx, "ada@example.com", "first password", lc); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("old password after the change: %v, want ErrInvalidCredentials", err)
	}
	if _, err := f.s.SignIn(f.ctx, "nobody@example.com", "first password", lc); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("unknown email: %v, want ErrInvalidCredentials", err)
	}
	if got := f.count(domain.AccountStream(id), "account.signin.failed"); got != 2 {
		t.Fatalf("recorded %d failed sign-ins, want 2 (wrong current password, old password)", got)
	}
	if got := f.count(domain.AccountStream(id), "account.password.changed"); got != 1 {
		t.Fatalf("recorded %d password changes, want 1", got)
	}
}

func TestConcurrentRegistrationsOfOneEmailHaveOneWinner(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	addr, _ := domain.ParseEmail("race@example.com")
	const n = 8
	var wg sync.WaitGroup
	ids := make([]uuid.UUID, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { ids[i], errs[i] = f.s.register(f.ctx, addr, testHash()) })
	}
	wg.Wait()
	won := 0
	for i := range n {
		switch {
		case errs[i] == nil:
			won++
		case !errors.Is(errs[i], domain.ErrEmailTaken):
			t.Fatalf("loser %d: %v, want ErrEmailTaken", i, errs[i])
		}
	}
	if won != 1 {
		t.Fatalf("%d registrations won, want exactly 1", won)
	}
	if got := f.count(newClaimStream(t, f.s, addr), "email.claimed"); got != 1 {
		t.Fatalf("email stream holds %d claims, want 1", got)
	}
}

// TestWrongPasswordsLockOnlyTheirSource checks the sign-in lock: wrong passwords from one
// address lock that address out of the account, for a time that doubles with each lock, and
// nothing else; while locked, a right and a wrong password get the same refusal and neither is
// checked nor recorded; the owner elsewhere still signs in and gets the push.
func TestWrongPasswordsLockOnlyTheirSource(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{LockoutThreshold: 3})
	const email = "lock@example.com"
	id := f.account(email)
	f.enroll(id, newDevice(t))
	attacker, owner := lc, lc
	attacker.IP, owner.IP = "198.51.100.7", "203.0.113.9"
	for i := range 3 {
		if _, err := f.s.SignIn(f.ctx, email, "wrong password", attacker); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("wrong password %d: %v, want ErrInvalidCredentials", i, err)
		}
	}
	stream := domain.AccountStream(id)
	if f.count(stream, "account.signin.failed") != 3 || f.count(stream, "account.signin.locked") != 1 || f.count(stream, "account.mfa.locked") != 0 {
		t.Fatalf("account stream %v: want 3 failures, one sign-in lock, no second-factor lock", f.types(stream))
	}
	before := len(f.types(stream))
	for _, pw := range []string{testPassword, "wrong password"} {
		_, err := f.s.SignIn(f.ctx, email, pw, attacker)
		le, ok := domain.AsLocked(err)
		if !ok || !errors.Is(err, domain.ErrSignInLocked) || !le.Until.Equal(f.clock.Now().Add(15*time.Minute)) {
			t.Fatalf("a password from the locked address: %v, want ErrSignInLocked until 15 minutes from now", err)
		}
		if _, err := f.s.PhoneLinkBegin(f.ctx, email, pw, attacker); !errors.Is(err, domain.ErrSignInLocked) {
			t.Fatalf("phone link from the locked address: %v, want ErrSignInLocked", err)
		}
	}
	if after := len(f.types(stream)); after != before {
		t.Fatalf("the refused attempts appended %d events, want none", after-before)
	}
	res, err := f.s.SignIn(f.ctx, email, testPassword, owner)
	if err != nil || res.Challenge == nil || res.Challenge.Devices != 1 {
		t.Fatalf("the owner from another address: %+v, %v; want a challenge pushed to 1 device", res, err)
	}

	// After the lock, the address may try again; its next lock lasts twice as long.
	f.clock.Advance(15 * time.Minute)
	if _, err := f.s.SignIn(f.ctx, email, testPassword, attacker); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	for range 3 {
		_, _ = f.s.SignIn(f.ctx, email, "wrong password", attacker)
	}
	_, err = f.s.SignIn(f.ctx, email, testPassword, attacker)
	if le, ok := domain.AsLocked(err); !ok || !le.Until.Equal(f.clock.Now().Add(30*time.Minute)) {
		t.Fatalf("second lock: %v, want it until 30 minutes from now", err)
	}
}

// TestSignOutReturnsOnceThisNodeRefusesTheSession checks that SignOut returns only once this
// node's read model has the sign-out, so that the next request here is refused.
func TestSignOutReturnsOnceThisNodeRefusesTheSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("out@example.com")
	for i := range 20 {
		session := [16]byte{byte(i), 1}
		if err := f.s.SignOut(f.ctx, id, session, f.clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if !f.views.SignOuts.SignedOut(session) {
			t.Fatalf("sign-out %d returned before this node refuses the session", i)
		}
	}
	if got := f.count(domain.AccountStream(id), "account.signed_out"); got != 20 {
		t.Fatalf("%d sign-outs recorded, want 20", got)
	}
}
