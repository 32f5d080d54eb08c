package app

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/secrets"
)

func TestTOTPCodeCompletesOnceAndReuseIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("totp@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	code, _ := phone.totp[id].Code(f.clock.Now())
	ch := f.challenge(id)
	wrong := code[:5] + string(rune('0'+(code[5]-'0'+1)%10))
	if err := f.s.CompleteWithTOTP(f.ctx, ch.ID, wrong); !errors.Is(err, domain.ErrWrongCode) {
		t.Fatalf("wrong code: %v, want ErrWrongCode", err)
	}
	if err := f.s.CompleteWithTOTP(f.ctx, ch.ID, code); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.s.ChallengeStatus(f.ctx, ch.ID); st.State != domain.StateOf(domain.OutcomeCompletedTOTP) {
		t.Fatalf("status = %+v, want completed_totp", st)
	}
	again := f.challenge(id)
	if err := f.s.CompleteWithTOTP(f.ctx, again.ID, code); !errors.Is(err, domain.ErrCodeReused) {
		t.Fatalf("same code on a new challenge: %v, want ErrCodeReused", err)
	}
	f.clock.Advance(secrets.TOTPPeriod)
	next, _ := phone.totp[id].Code(f.clock.Now())
	if err := f.s.CompleteWithTOTP(f.ctx, again.ID, next); err != nil {
		t.Fatalf("next step's code: %v", err)
	}
	stream := domain.AccountStream(id)
	if f.count(stream, "totp.code.used") != 2 || f.count(stream, "totp.check.failed") != 2 {
		t.Fatalf("account stream = %v: want 2 codes used, 2 failed checks", f.types(stream))
	}
}

func TestBackupCodesWorkOnceAndRegenerationRevokes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("backup@example.com")
	codes := f.enroll(id, newDevice(t)).BackupCodes
	ch := f.challenge(id)
	if err := f.s.CompleteWithBackupCode(f.ctx, ch.ID, "not a code"); !errors.Is(err, domain.ErrWrongCode) {
		t.Fatalf("malformed code: %v, want ErrWrongCode", err)
	}
	if err := f.s.CompleteWithBackupCode(f.ctx, ch.ID, codes[0]); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.s.ChallengeStatus(f.ctx, ch.ID); st.State != domain.StateOf(domain.OutcomeCompletedBackupCode) {
		t.Fatalf("status = %+v", st)
	}
	ch = f.challenge(id)
	if err := f.s.CompleteWithBackupCode(f.ctx, ch.ID, codes[0]); !errors.Is(err, domain.ErrCodeReused) {
		t.Fatalf("used code: %v, want ErrCodeReused", err)
	}
	if view, _ := f.s.Account(f.ctx, id); view.BackupCodesLeft != 9 {
		t.Fatalf("codes left = %d, want 9", view.BackupCodesLeft)
	}
	fresh, err := f.s.IssueBackupCodes(f.ctx, id)
	if err != nil || len(fresh) != 10 {
		t.Fatalf("regenerate: %d codes, %v", len(fresh), err)
	}
	if err := f.s.CompleteWithBackupCode(f.ctx, ch.ID, codes[1]); !errors.Is(err, domain.ErrWrongCode) {
		t.Fatalf("code of the revoked set: %v, want ErrWrongCode", err)
	}
	if err := f.s.CompleteWithBackupCode(f.ctx, ch.ID, fresh[3]); err != nil {
		t.Fatal(err)
	}
	if view, _ := f.s.Account(f.ctx, id); view.BackupCodesLeft != 9 {
		t.Fatalf("codes left after regeneration and one use = %d, want 9", view.BackupCodesLeft)
	}
}

func TestTOTPAppTurnsMFAOnWhenConfirmed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("app@example.com")
	uri, appID, err := f.s.AddTOTPApp(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("issuer") != secrets.TOTPIssuer {
		t.Fatalf("uri %q: %v", uri, err)
	}
	secret, err := secretFromBase32(u.Query().Get("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ConfirmTOTPApp(f.ctx, id, appID, "12345"); !errors.Is(err, domain.ErrWrongCode) {
		t.Fatalf("wrong first code: %v, want ErrWrongCode", err)
	}
	code, _ := secret.Code(f.clock.Now())
	codes, err := f.s.ConfirmTOTPApp(f.ctx, id, appID, code)
	if err != nil || len(codes) != 10 {
		t.Fatalf("confirm: %d backup codes, %v; want 2FA on with 10", len(codes), err)
	}
	ch := f.challenge(id)
	if ch.Devices != 0 {
		t.Fatalf("challenge pushed to %d devices, want 0 (app only)", ch.Devices)
	}
	f.clock.Advance(secrets.TOTPPeriod)
	code, _ = secret.Code(f.clock.Now())
	if err := f.s.CompleteWithTOTP(f.ctx, ch.ID, code); err != nil {
		t.Fatal(err)
	}
}

func TestDisableMFANeedsAFreshSecondFactor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("off@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	ch := f.challenge(id)
	if err := f.s.DisableMFA(f.ctx, id, ch.ID); !errors.Is(err, domain.ErrSecondFactorNeeded) {
		t.Fatalf("disable with a pending challenge: %v, want ErrSecondFactorNeeded", err)
	}
	if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(domain.DefaultPolicy().EnrollmentTTL + time.Second)
	if err := f.s.DisableMFA(f.ctx, id, ch.ID); !errors.Is(err, domain.ErrSecondFactorNeeded) {
		t.Fatalf("disable with a stale approval: %v, want ErrSecondFactorNeeded", err)
	}
	ch = f.challenge(id)
	if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DisableMFA(f.ctx, id, ch.ID); err != nil {
		t.Fatal(err)
	}
	view, err := f.s.Account(f.ctx, id)
	if err != nil || view.MFAEnabled || len(view.Devices) != 0 || view.BackupCodesLeft != 0 {
		t.Fatalf("after disabling: %+v, %v", view, err)
	}
}
