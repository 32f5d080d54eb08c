package domain_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

func loadDevice(t *testing.T, id uuid.UUID, pub []byte) *domain.Device {
	t.Helper()
	d, err := domain.LoadDevice([]domain.Event{domain.DeviceRegistered{DeviceID: id, PublicKey: pub, Name: "Pixel", Platform: "android", At: t0}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var tokenID = domain.EnrollmentTokenID{1, 2, 3}

func loadEnrollment(t *testing.T, completedBy uuid.UUID, pub []byte) *domain.Enrollment {
	t.Helper()
	en, err := domain.LoadEnrollment([]domain.Event{
		domain.EnrollmentStarted{EnrollmentID: tokenID, AccountID: accountID, ExpiresAt: t0.Add(time.Minute), At: t0.Add(-time.Minute)},
		domain.EnrollmentCompleted{EnrollmentID: tokenID, AccountID: accountID, DeviceID: completedBy, PublicKey: pub, At: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return en
}

func loadPassed(t *testing.T, account uuid.UUID, at time.Time) *domain.Challenge {
	t.Helper()
	c, err := domain.LoadChallenge([]domain.Event{
		domain.ChallengeIssued{ChallengeID: challenge2, AccountID: account, Number: 42, ExpiresAt: at.Add(time.Minute), At: at.Add(-time.Second)},
		domain.ChallengeCompletedTOTP{ChallengeID: challenge2, AccountID: account, SecretID: deviceID, Step: 1, At: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLinkDevice(t *testing.T) {
	t.Parallel()
	dev := loadDevice(t, device2ID, dev2Pub)
	linked := domain.DeviceLinked{AccountID: accountID, DeviceID: device2ID, PublicKey: dev2Pub, Name: "Pixel", Method: domain.LinkFromComputer, EnrollmentID: tokenID, SealedTOTPSecret: sealed, At: t0}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "link the device that completed the enrollment",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.LinkDevice(domain.LinkDevice{Device: dev, Enrollment: loadEnrollment(t, device2ID, dev2Pub), SealedTOTPSecret: sealed}, t0)
			},
			then: []domain.Event{linked},
		},
		{
			name:  "an enrollment completed by another device",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.LinkDevice(domain.LinkDevice{Device: dev, Enrollment: loadEnrollment(t, deviceID, devPub), SealedTOTPSecret: sealed}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "an enrollment completed with another key",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.LinkDevice(domain.LinkDevice{Device: dev, Enrollment: loadEnrollment(t, device2ID, devPub), SealedTOTPSecret: sealed}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "an enrollment used for an earlier link",
			given: []domain.Event{registered, linked, domain.DeviceUnlinked{AccountID: accountID, DeviceID: device2ID, At: t0}},
			when: func(a *domain.Account) domain.Decision {
				return a.LinkDevice(domain.LinkDevice{Device: dev, Enrollment: loadEnrollment(t, device2ID, dev2Pub), SealedTOTPSecret: sealed}, t0)
			},
			err: domain.ErrEnrollmentUsed,
		},
		{
			name:  "no enrollment",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.LinkDevice(domain.LinkDevice{Device: dev, SealedTOTPSecret: sealed}, t0)
			},
			err: domain.ErrEnrollmentNotFound,
		},
		{
			name:  "a device already linked",
			given: []domain.Event{registered, device2Linked},
			when: func(a *domain.Account) domain.Decision {
				return a.LinkDevice(domain.LinkDevice{Device: dev, Enrollment: loadEnrollment(t, device2ID, dev2Pub), SealedTOTPSecret: sealed}, t0)
			},
			err: domain.ErrDeviceAlreadyLinked,
		},
		{
			name:  "an unregistered device",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.LinkDevice(domain.LinkDevice{Device: &domain.Device{}, Enrollment: loadEnrollment(t, device2ID, dev2Pub), SealedTOTPSecret: sealed}, t0)
			},
			err: domain.ErrDeviceNotFound,
		},
		{
			name:  "no sealed secret",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.LinkDevice(domain.LinkDevice{Device: dev, Enrollment: loadEnrollment(t, device2ID, dev2Pub)}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name: "an unknown account",
			when: func(a *domain.Account) domain.Decision {
				return a.LinkDevice(domain.LinkDevice{Device: dev, Enrollment: loadEnrollment(t, device2ID, dev2Pub), SealedTOTPSecret: sealed}, t0)
			},
			err: domain.ErrAccountNotFound,
		},
	})
}

func TestAuthorizePhoneLink(t *testing.T) {
	t.Parallel()
	dev := loadDevice(t, device2ID, dev2Pub)
	linked := domain.DeviceLinked{AccountID: accountID, DeviceID: device2ID, PublicKey: dev2Pub, Name: "Pixel", Method: domain.LinkFromPhone, SealedTOTPSecret: sealed, At: t0}
	other := uuid.MustParse("0195a1b2-0000-7000-8000-00000000ffff")
	lock := domain.MFALocked{AccountID: accountID, Failures: 10, Until: t0.Add(time.Minute), At: t0.Add(-time.Minute)}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "without 2FA the password is enough",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, PasswordVerified: true, SealedTOTPSecret: sealed}, t0, policy)
			},
			then: []domain.Event{linked},
		},
		{
			name:  "the password was not verified",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, SealedTOTPSecret: sealed}, t0, policy)
			},
			err: domain.ErrPasswordNotChecked,
		},
		{
			name:  "with 2FA a passed challenge is required",
			given: []domain.Event{registered, deviceLinked, mfaEnabled},
			when: func(a *domain.Account) domain.Decision {
				return a.AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, PasswordVerified: true, SealedTOTPSecret: sealed}, t0, policy)
			},
			err: domain.ErrSecondFactorNeeded,
		},
		{
			name:  "with 2FA and a recently passed challenge",
			given: []domain.Event{registered, deviceLinked, mfaEnabled},
			when: func(a *domain.Account) domain.Decision {
				return a.AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, PasswordVerified: true, SecondFactor: loadPassed(t, accountID, t0.Add(-time.Minute)), SealedTOTPSecret: sealed}, t0, policy)
			},
			then: []domain.Event{linked},
		},
		{
			name:  "a challenge passed too long ago",
			given: []domain.Event{registered, deviceLinked, mfaEnabled},
			when: func(a *domain.Account) domain.Decision {
				return a.AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, PasswordVerified: true, SecondFactor: loadPassed(t, accountID, t0.Add(-time.Hour)), SealedTOTPSecret: sealed}, t0, policy)
			},
			err: domain.ErrSecondFactorNeeded,
		},
		{
			name:  "a challenge of another account",
			given: []domain.Event{registered, deviceLinked, mfaEnabled},
			when: func(a *domain.Account) domain.Decision {
				return a.AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, PasswordVerified: true, SecondFactor: loadPassed(t, other, t0), SealedTOTPSecret: sealed}, t0, policy)
			},
			err: domain.ErrSecondFactorNeeded,
		},
		{
			name:  "while locked",
			given: []domain.Event{registered, deviceLinked, mfaEnabled, lock},
			when: func(a *domain.Account) domain.Decision {
				return a.AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, PasswordVerified: true, SecondFactor: loadPassed(t, accountID, t0), SealedTOTPSecret: sealed}, t0, policy)
			},
			err: domain.ErrLocked,
		},
		{
			name:  "a device already linked",
			given: []domain.Event{registered, device2Linked},
			when: func(a *domain.Account) domain.Decision {
				return a.AuthorizePhoneLink(domain.AuthorizePhoneLink{Device: dev, PasswordVerified: true, SealedTOTPSecret: sealed}, t0, policy)
			},
			err: domain.ErrDeviceAlreadyLinked,
		},
	})
}

func TestUnlinkDevices(t *testing.T) {
	t.Parallel()
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "unlink one of two devices",
			given: []domain.Event{registered, deviceLinked, device2Linked, mfaEnabled},
			when: func(a *domain.Account) domain.Decision {
				return a.UnlinkDevice(domain.UnlinkDevice{DeviceID: deviceID}, t0)
			},
			then: []domain.Event{domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: t0}},
		},
		{
			name:  "the last factor is not unlinked: turning 2FA off needs its own proof",
			given: []domain.Event{registered, deviceLinked, mfaEnabled},
			when: func(a *domain.Account) domain.Decision {
				return a.UnlinkDevice(domain.UnlinkDevice{DeviceID: deviceID}, t0)
			},
			err: domain.ErrLastSecondFactor,
		},
		{
			name:  "nor every device when no TOTP app is confirmed",
			given: []domain.Event{registered, deviceLinked, device2Linked, appAdded, mfaEnabled},
			when:  func(a *domain.Account) domain.Decision { return a.UnlinkAllDevices(domain.UnlinkAllDevices{}, t0) },
			err:   domain.ErrLastSecondFactor,
		},
		{
			name:  "the last device when a TOTP app is confirmed",
			given: []domain.Event{registered, deviceLinked, appAdded, appConfirmed, mfaEnabled},
			when: func(a *domain.Account) domain.Decision {
				return a.UnlinkDevice(domain.UnlinkDevice{DeviceID: deviceID}, t0)
			},
			then: []domain.Event{domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: t0}},
		},
		{
			name:  "unlink a device that is not linked",
			given: []domain.Event{registered, deviceLinked},
			when: func(a *domain.Account) domain.Decision {
				return a.UnlinkDevice(domain.UnlinkDevice{DeviceID: device2ID}, t0)
			},
			err: domain.ErrDeviceNotLinked,
		},
		{
			name:  "turning the app off unlinks all, 2FA stays on with a TOTP app",
			given: []domain.Event{registered, deviceLinked, device2Linked, appAdded, appConfirmed, mfaEnabled},
			when:  func(a *domain.Account) domain.Decision { return a.UnlinkAllDevices(domain.UnlinkAllDevices{}, t0) },
			then: []domain.Event{
				domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: t0},
				domain.DeviceUnlinked{AccountID: accountID, DeviceID: device2ID, At: t0},
			},
		},
		{
			name:  "turning the app off without devices",
			given: []domain.Event{registered},
			when:  func(a *domain.Account) domain.Decision { return a.UnlinkAllDevices(domain.UnlinkAllDevices{}, t0) },
			err:   domain.ErrDeviceNotLinked,
		},
		{
			name: "an unknown account",
			when: func(a *domain.Account) domain.Decision {
				return a.UnlinkDevice(domain.UnlinkDevice{DeviceID: deviceID}, t0)
			},
			err: domain.ErrAccountNotFound,
		},
	})
}

func TestTOTPApps(t *testing.T) {
	t.Parallel()
	lock := domain.MFALocked{AccountID: accountID, Failures: 10, Until: t0.Add(time.Minute), At: t0.Add(-time.Minute)}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "add an app",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.AddTOTPApp(domain.AddTOTPApp{AppID: appID, Name: "Aegis", SealedSecret: sealed}, t0)
			},
			then: []domain.Event{domain.TOTPAppAdded{AccountID: accountID, AppID: appID, Name: "Aegis", SealedSecret: sealed, At: t0}},
		},
		{
			name:  "add an app with an empty name",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.AddTOTPApp(domain.AddTOTPApp{AppID: appID, Name: " ", SealedSecret: sealed}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "add an app twice",
			given: []domain.Event{registered, appAdded},
			when: func(a *domain.Account) domain.Decision {
				return a.AddTOTPApp(domain.AddTOTPApp{AppID: appID, Name: "Aegis", SealedSecret: sealed}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "confirm with a first valid code",
			given: []domain.Event{registered, appAdded},
			when: func(a *domain.Account) domain.Decision {
				return a.ConfirmTOTPApp(domain.ConfirmTOTPApp{AppID: appID, Match: &domain.TOTPMatch{SecretID: appID, Step: step0}}, t0, policy)
			},
			then: []domain.Event{domain.TOTPAppConfirmed{AccountID: accountID, AppID: appID, Step: step0, At: t0}},
		},
		{
			name:  "confirm with a wrong code records the failure",
			given: []domain.Event{registered, appAdded},
			when: func(a *domain.Account) domain.Decision {
				return a.ConfirmTOTPApp(domain.ConfirmTOTPApp{AppID: appID}, t0, policy)
			},
			then: []domain.Event{domain.TOTPCheckFailed{AccountID: accountID, SecretID: appID, Reason: domain.FailureWrongCode, At: t0}},
			err:  domain.ErrWrongCode,
		},
		{
			name:  "confirm with a code of a step far from now",
			given: []domain.Event{registered, appAdded},
			when: func(a *domain.Account) domain.Decision {
				return a.ConfirmTOTPApp(domain.ConfirmTOTPApp{AppID: appID, Match: &domain.TOTPMatch{SecretID: appID, Step: step0 - 2}}, t0, policy)
			},
			then: []domain.Event{domain.TOTPCheckFailed{AccountID: accountID, SecretID: appID, Reason: domain.FailureWrongCode, At: t0}},
			err:  domain.ErrWrongCode,
		},
		{
			name:  "confirm an unknown app",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.ConfirmTOTPApp(domain.ConfirmTOTPApp{AppID: appID}, t0, policy)
			},
			err: domain.ErrTOTPAppNotFound,
		},
		{
			name:  "confirm twice",
			given: []domain.Event{registered, appAdded, appConfirmed},
			when: func(a *domain.Account) domain.Decision {
				return a.ConfirmTOTPApp(domain.ConfirmTOTPApp{AppID: appID, Match: &domain.TOTPMatch{SecretID: appID, Step: step0}}, t0, policy)
			},
			err: domain.ErrTOTPAppAlreadyConfirmed,
		},
		{
			name:  "confirm while locked",
			given: []domain.Event{registered, appAdded, lock},
			when: func(a *domain.Account) domain.Decision {
				return a.ConfirmTOTPApp(domain.ConfirmTOTPApp{AppID: appID, Match: &domain.TOTPMatch{SecretID: appID, Step: step0}}, t0, policy)
			},
			err: domain.ErrLocked,
		},
	})
}

func TestIssueBackupCodes(t *testing.T) {
	t.Parallel()
	newSet := uuid.MustParse("0195a1b2-0000-7000-8000-0000000000b2")
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "a new set",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.IssueBackupCodes(domain.IssueBackupCodes{Set: domain.BackupCodeSet{SetID: newSet, Hashes: hashes("new")}}, t0)
			},
			then: []domain.Event{domain.BackupCodesIssued{AccountID: accountID, SetID: newSet, Hashes: hashes("new"), At: t0}},
		},
		{
			name:  "without 2FA",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.IssueBackupCodes(domain.IssueBackupCodes{Set: domain.BackupCodeSet{SetID: newSet, Hashes: hashes("new")}}, t0)
			},
			err: domain.ErrMFANotEnabled,
		},
		{
			name:  "a set without ID",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.IssueBackupCodes(domain.IssueBackupCodes{Set: domain.BackupCodeSet{Hashes: hashes("new")}}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
	})
}

func TestNewBackupSetRevokesTheOld(t *testing.T) {
	t.Parallel()
	newSet := uuid.MustParse("0195a1b2-0000-7000-8000-0000000000b2")
	a, _ := domain.LoadAccount(concat(withMFA, []domain.Event{
		domain.BackupCodeUsed{AccountID: accountID, SetID: setID, Index: 0, ChallengeID: challengeID, At: t0},
	}))
	if a.BackupCodesLeft() != 9 {
		t.Fatalf("codes left = %d, want 9", a.BackupCodesLeft())
	}
	a, _ = domain.LoadAccount(concat(withMFA, []domain.Event{
		domain.BackupCodesIssued{AccountID: accountID, SetID: newSet, Hashes: hashes("new"), At: t0},
	}))
	d := a.UseBackupCode(domain.UseBackupCode{ChallengeID: challengeID, Candidates: []string{hashes("old")[3]}}, t0, policy)
	checkDecision(t, d, []domain.Event{
		domain.BackupCodeCheckFailed{AccountID: accountID, ChallengeID: challengeID, Reason: domain.FailureWrongBackupCode, At: t0},
	}, domain.ErrWrongCode)
}
