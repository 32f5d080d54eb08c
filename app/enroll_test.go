package app

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/projections"
)

func TestEnrollmentTurnsMFAOnOnceAndIsSingleUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("enroll@example.com")
	phone := newDevice(t)
	token, expires, err := f.s.StartEnrollment(f.ctx, id)
	if err != nil || !expires.Equal(t0.Add(domain.DefaultPolicy().EnrollmentTTL)) {
		t.Fatalf("start: %v, expires %v", err, expires)
	}
	res, err := f.s.CompleteEnrollment(f.ctx, token, phone.pub, "Pixel 9", "android")
	if err != nil {
		t.Fatal(err)
	}
	if !res.MFAEnabled || len(res.BackupCodes) != 10 || res.TOTPSecret == "" || res.DeviceID != phone.id || res.AccountID != id {
		t.Fatalf("first enrollment = %+v: want 2FA on, 10 backup codes, a TOTP secret", res)
	}
	other := newDevice(t)
	if _, err := f.s.CompleteEnrollment(f.ctx, token, other.pub, "Other", "ios"); !errors.Is(err, domain.ErrEnrollmentUsed) {
		t.Fatalf("second device on the same link: %v, want ErrEnrollmentUsed", err)
	}
	if _, err := f.s.CompleteEnrollment(f.ctx, token, phone.pub, "Pixel 9", "android"); !errors.Is(err, domain.ErrDeviceAlreadyLinked) {
		t.Fatalf("same device on the same link again: %v, want ErrDeviceAlreadyLinked", err)
	}
	second := f.enroll(id, other)
	if second.MFAEnabled || second.BackupCodes != nil {
		t.Fatalf("second device = %+v: want no new backup codes", second)
	}
	late, _, err := f.s.StartEnrollment(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(domain.DefaultPolicy().EnrollmentTTL)
	if _, err := f.s.CompleteEnrollment(f.ctx, late, newDevice(t).pub, "Late", "ios"); !errors.Is(err, domain.ErrEnrollmentExpired) {
		t.Fatalf("expired link: %v, want ErrEnrollmentExpired", err)
	}
	view, err := f.s.Account(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !view.MFAEnabled || len(view.Devices) != 2 || view.BackupCodesLeft != 10 ||
		!slices.Equal(view.Methods(), []string{projections.MethodPush, projections.MethodBackupCodes}) {
		t.Fatalf("account view = %+v", view)
	}
}

func TestOneDeviceLinksSeveralAccounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	a, b := f.account("a@example.com"), f.account("b@example.com")
	phone := newDevice(t)
	ra, rb := f.enroll(a, phone), f.enroll(b, phone)
	if ra.DeviceID != rb.DeviceID || ra.TOTPSecret == rb.TOTPSecret {
		t.Fatalf("one device, two accounts: IDs %s, %s, secrets equal %v: want one device with a secret per account", ra.DeviceID, rb.DeviceID, ra.TOTPSecret == rb.TOTPSecret)
	}
	dev, err := f.s.Device(f.ctx, phone.id)
	if err != nil || !slices.Equal(dev.Accounts, []uuid.UUID{a, b}) {
		t.Fatalf("device view = %+v, %v; want linked to both accounts", dev, err)
	}
	if got := f.count(domain.DeviceStream(phone.id), "device.registered"); got != 1 {
		t.Fatalf("device registered %d times, want 1", got)
	}
	key, err := f.s.DevicePublicKey(f.ctx, phone.id)
	if err != nil || !key.Equal(phone.pub) {
		t.Fatalf("device public key: %v", err)
	}
}

func TestPhoneLinkNeedsThePasswordAndAPassedChallenge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("phone@example.com")
	first := newDevice(t)
	start, err := f.s.PhoneLinkBegin(f.ctx, "phone@example.com", testPassword, lc)
	if err != nil || start.Challenge != nil || start.AccountID != id {
		t.Fatalf("begin without 2FA = %+v, %v; want no challenge", start, err)
	}
	req := PhoneLinkRequest{Email: "phone@example.com", Password: testPassword, PublicKey: first.pub, Name: "iPhone", Platform: "ios"}
	res, err := f.s.PhoneLinkAuthorize(f.ctx, req)
	if err != nil || !res.MFAEnabled || len(res.BackupCodes) != 10 {
		t.Fatalf("first phone link = %+v, %v; want 2FA on with backup codes", res, err)
	}
	first.totp[id], _ = secretFromBase32(res.TOTPSecret)

	second := newDevice(t)
	if _, err := f.s.PhoneLinkBegin(f.ctx, "phone@example.com", "wrong password", lc); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("begin with a wrong password: %v", err)
	}
	start, err = f.s.PhoneLinkBegin(f.ctx, "phone@example.com", testPassword, lc)
	if err != nil || start.Challenge == nil {
		t.Fatalf("begin with 2FA = %+v, %v; want a challenge", start, err)
	}
	req = PhoneLinkRequest{Email: "phone@example.com", Password: testPassword, PublicKey: second.pub, Name: "iPad", Platform: "ios", ChallengeID: start.Challenge.ID}
	if _, err := f.s.PhoneLinkAuthorize(f.ctx, req); !errors.Is(err, domain.ErrSecondFactorNeeded) {
		t.Fatalf("authorize before the challenge passed: %v, want ErrSecondFactorNeeded", err)
	}
	if err := f.answer(first, start.Challenge.ID, domain.AnswerApprove, start.Challenge.Number); err != nil {
		t.Fatal(err)
	}
	res, err = f.s.PhoneLinkAuthorize(f.ctx, req)
	if err != nil || res.MFAEnabled || res.BackupCodes != nil || res.DeviceID != second.id {
		t.Fatalf("second phone link = %+v, %v", res, err)
	}
	if got := f.count(domain.AccountStream(id), "device.linked"); got != 2 {
		t.Fatalf("%d devices linked, want 2", got)
	}

}
