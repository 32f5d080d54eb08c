package app

import (
	"errors"
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
)

var deskAct = domain.HelpDeskAct{By: "alice", Reason: "ticket 4711"}

// TestHelpDeskResetSignInAndEvidence: after a reset, the password signs in to a session that
// must set up a new second factor, which OpenID Connect refuses as evidence; after the window
// the password alone no longer signs in; a new device ends the requirement.
func TestHelpDeskResetSignInAndEvidence(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("reset@example.com")
	f.enroll(id, newDevice(t))
	ic := f.challenge(id)

	by, err := f.s.ResetSecondFactor(f.ctx, id, deskAct, 2*time.Hour)
	if err != nil || !by.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("reset: %v %v", by, err)
	}
	if c, err := f.s.loadChallenge(f.ctx, ic.ID); err != nil || c.Passed() || c.Pending(t0) {
		t.Fatalf("the pending challenge after the reset: %v", err)
	}
	f.clock.Advance(time.Minute)
	res, err := f.s.SignIn(f.ctx, "reset@example.com", testPassword, lc)
	if err != nil || !res.SessionGranted || !res.EnrollmentRequired || !res.EnrollBy.Equal(by) {
		t.Fatalf("sign-in after the reset: %+v %v", res, err)
	}
	if _, err := f.s.SessionEvidence(f.ctx, id, make([]byte, 32), [16]byte{}, f.clock.Now()); !errors.Is(err, ErrEnrollmentRequired) {
		t.Fatalf("evidence while a second factor is due: %v", err)
	}
	if _, err := f.s.SessionEvidence(f.ctx, id, make([]byte, 32), [16]byte{}, t0.Add(-time.Hour)); !errors.Is(err, ErrNoSignInEvidence) {
		t.Fatalf("evidence of a session begun before the reset: %v", err)
	}

	f.clock.Advance(2 * time.Hour)
	if _, err := f.s.SignIn(f.ctx, "reset@example.com", testPassword, lc); !errors.Is(err, domain.ErrResetExpired) {
		t.Fatalf("sign-in after the window: %v", err)
	}
	if _, err := f.s.SignIn(f.ctx, "reset@example.com", "wrong password!", lc); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("a wrong password after the window: %v", err)
	}
	if _, err := f.s.ResetSecondFactor(f.ctx, id, deskAct, 0); !errors.Is(err, domain.ErrMFANotEnabled) {
		t.Fatalf("a second reset with nothing to reset: %v", err)
	}
}

// TestHelpDeskDisableStopsEverything: a disabled account does not sign in, its challenge
// passed before the disabling redeems nothing, and an integration user's challenge is refused.
func TestHelpDeskDisableStopsEverything(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("disabled@example.com")
	d := newDevice(t)
	f.enroll(id, d)
	ic := f.challenge(id)
	if err := f.answer(d, ic.ID, domain.AnswerApprove, ic.Number); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DisableAccount(f.ctx, id, deskAct); err != nil {
		t.Fatal(err)
	}
	if err := f.s.RedeemChallenge(f.ctx, ic.ID, id, domain.RedeemSession, make([]byte, 32)); !errors.Is(err, domain.ErrAccountDisabled) {
		t.Fatalf("redeem after disabling: %v", err)
	}
	if _, err := f.s.SignIn(f.ctx, "disabled@example.com", testPassword, lc); !errors.Is(err, domain.ErrAccountDisabled) {
		t.Fatalf("sign-in when disabled: %v", err)
	}
	if _, err := f.s.SignIn(f.ctx, "disabled@example.com", "wrong password!", lc); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("a wrong password when disabled tells nothing more: %v", err)
	}
	if _, err := f.s.SessionEvidence(f.ctx, id, make([]byte, 32), [16]byte{}, f.clock.Now().Add(time.Hour)); !errors.Is(err, domain.ErrAccountDisabled) {
		t.Fatalf("evidence when disabled: %v", err)
	}
	if err := f.s.DisableAccount(f.ctx, id, domain.HelpDeskAct{By: "alice"}); !errors.Is(err, domain.ErrAccountDisabled) {
		t.Fatalf("disable twice: %v", err)
	}
	events, _, err := f.s.load(f.ctx, domain.AccountStream(id))
	if err != nil {
		t.Fatal(err)
	}
	var disabled []domain.AccountDisabled
	for _, e := range events {
		if d, ok := e.(domain.AccountDisabled); ok {
			disabled = append(disabled, d)
		}
	}
	if len(disabled) != 1 || disabled[0].By != "alice" || disabled[0].Reason != deskAct.Reason {
		t.Fatalf("account.helpdesk.disabled events: %+v", disabled)
	}

	key, err := f.s.CreateIntegration(f.ctx, "VPN")
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := f.s.EnsureIntegrationUser(f.ctx, key.Key, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.DisableAccount(f.ctx, u.ID, deskAct); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.IntegrationUser(f.ctx, key.Key, u.ID); err != nil || !got.Disabled {
		t.Fatalf("integration user after disabling: %+v %v", got, err)
	}
}
