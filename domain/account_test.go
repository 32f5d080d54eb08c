package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	later := t0.Add(time.Minute)
	newHash := "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdG5ld3NhbHQ$bmV3aGFzaG5ld2hhc2g"
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name: "register a new account",
			when: func(a *domain.Account) domain.Decision {
				return a.Register(domain.RegisterAccount{AccountID: accountID, Email: email, PasswordHash: pwHash}, t0)
			},
			then: []domain.Event{domain.AccountRegistered{AccountID: accountID, Email: email, PasswordHash: pwHash, At: t0}},
		},
		{
			name:  "register refuses an existing account",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.Register(domain.RegisterAccount{AccountID: accountID, Email: email, PasswordHash: pwHash}, t0)
			},
			err: domain.ErrAccountExists,
		},
		{
			name: "register refuses a plain password",
			when: func(a *domain.Account) domain.Decision {
				return a.Register(domain.RegisterAccount{AccountID: accountID, Email: email, PasswordHash: "hunter2"}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name: "register refuses a missing email",
			when: func(a *domain.Account) domain.Decision {
				return a.Register(domain.RegisterAccount{AccountID: accountID, PasswordHash: pwHash}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "change password",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.ChangePassword(domain.ChangePassword{PasswordHash: newHash}, later)
			},
			then: []domain.Event{domain.PasswordChanged{AccountID: accountID, PasswordHash: newHash, At: later}},
		},
		{
			name: "change password of an unknown account",
			when: func(a *domain.Account) domain.Decision {
				return a.ChangePassword(domain.ChangePassword{PasswordHash: newHash}, later)
			},
			err: domain.ErrAccountNotFound,
		},
		{
			name:  "change password refuses a non-hash",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.ChangePassword(domain.ChangePassword{PasswordHash: "new password"}, later)
			},
			err: domain.ErrInvalidCommand,
		},
	})
}

func TestRecordFailedSignInAndLockout(t *testing.T) {
	t.Parallel()
	src, other := domain.SourceOfIP("198.51.100.7"), domain.SourceOfIP("203.0.113.9")
	record := func(s domain.SignInSource) func(a *domain.Account) domain.Decision {
		return func(a *domain.Account) domain.Decision {
			return a.RecordFailedSignIn(domain.RecordFailedSignIn{Source: s}, t0, policy)
		}
	}
	failed := domain.SignInFailed{AccountID: accountID, Source: src, At: t0}
	lockAt := func(at time.Time, d time.Duration) domain.SignInLocked {
		return domain.SignInLocked{AccountID: accountID, Source: src, Failures: 10, Until: at.Add(d), At: at}
	}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "a wrong password is recorded with its source",
			given: []domain.Event{registered},
			when:  record(src),
			then:  []domain.Event{failed},
		},
		{
			name:  "the tenth from one source in the window locks that source, not the second factor",
			given: concat([]domain.Event{registered}, wrongPasswords(9, src, t0.Add(-10*time.Minute))),
			when:  record(src),
			then:  []domain.Event{failed, lockAt(t0, policy.LockoutDuration)},
		},
		{
			name:  "failures of other sources do not count",
			given: concat([]domain.Event{registered}, wrongPasswords(9, other, t0.Add(-10*time.Minute))),
			when:  record(src),
			then:  []domain.Event{failed},
		},
		{
			name:  "failures older than the window do not count",
			given: concat([]domain.Event{registered}, wrongPasswords(9, src, t0.Add(-16*time.Minute))),
			when:  record(src),
			then:  []domain.Event{failed},
		},
		{
			name: "each lock of a source within a day doubles the next",
			given: concat([]domain.Event{registered}, wrongPasswords(9, src, t0.Add(-3*time.Hour)),
				[]domain.Event{lockAt(t0.Add(-3*time.Hour), 15*time.Minute)}, wrongPasswords(9, src, t0.Add(-2*time.Hour)),
				[]domain.Event{lockAt(t0.Add(-2*time.Hour), 30*time.Minute)}, wrongPasswords(9, src, t0.Add(-time.Minute))),
			when: record(src),
			then: []domain.Event{failed, lockAt(t0, time.Hour)},
		},
		{
			name:  "a failure while the source is locked does not lock again",
			given: concat([]domain.Event{registered}, []domain.Event{lockAt(t0.Add(-time.Minute), time.Hour)}, wrongPasswords(9, src, t0.Add(-time.Second))),
			when:  record(src),
			then:  []domain.Event{failed},
		},
		{
			name:  "a source is required",
			given: []domain.Event{registered},
			when:  record(""),
			err:   domain.ErrInvalidCommand,
		},
		{
			name: "an unknown account",
			when: record(src),
			err:  domain.ErrAccountNotFound,
		},
	})
}

func TestCheckSignIn(t *testing.T) {
	t.Parallel()
	src, other := domain.SourceOfIP("198.51.100.7"), domain.SourceOfIP("203.0.113.9")
	srcLock := domain.SignInLocked{AccountID: accountID, Source: src, Failures: 10, Until: t0.Add(time.Minute), At: t0.Add(-time.Minute)}
	mfaLock := domain.MFALocked{AccountID: accountID, Failures: 10, Until: t0.Add(2 * time.Minute), At: t0.Add(-time.Minute)}
	for _, c := range []struct {
		name  string
		given []domain.Event
		src   domain.SignInSource
		lock  error
		until time.Time
	}{
		{"no lock", []domain.Event{registered}, src, nil, time.Time{}},
		{"the locked source", []domain.Event{registered, srcLock}, src, domain.ErrSignInLocked, srcLock.Until},
		{"another source", []domain.Event{registered, srcLock}, other, nil, time.Time{}},
		{"the source's lock has ended", []domain.Event{registered, srcLock}, src, nil, time.Time{}},
		{"the second factor is locked", []domain.Event{registered, deviceLinked, mfaEnabled, mfaLock}, other, domain.ErrLocked, mfaLock.Until},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := domain.LoadAccount(c.given)
			if err != nil {
				t.Fatal(err)
			}
			now := t0
			if c.name == "the source's lock has ended" {
				now = srcLock.Until
			}
			err = a.CheckSignIn(c.src, now)
			le, ok := domain.AsLocked(err)
			switch {
			case c.lock == nil && err != nil:
				t.Fatalf("CheckSignIn = %v, want nil", err)
			case c.lock != nil && (!ok || !errors.Is(err, c.lock) || !le.Until.Equal(c.until)):
				t.Fatalf("CheckSignIn = %v, want a LockedError of %v until %s", err, c.lock, c.until)
			}
		})
	}
}

func TestSourceOfIP(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]domain.SignInSource{
		"192.0.2.7":            "ip:192.0.2.7",
		"::ffff:192.0.2.7":     "ip:192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "ip:2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "ip:2001:db8:1:2::/64",
		"fe80::1%eth0":         "ip:fe80::/64",
		"not an address":       "ip:unknown",
	} {
		if got := domain.SourceOfIP(in); got != want {
			t.Errorf("SourceOfIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEnableAndDisableMFA(t *testing.T) {
	t.Parallel()
	set := domain.BackupCodeSet{SetID: setID, Hashes: hashes("new")}
	lock := domain.MFALocked{AccountID: accountID, Failures: 10, Until: t0.Add(time.Minute), At: t0.Add(-time.Minute)}
	dup := hashes("dup")
	dup[9] = dup[0]
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "enable with a linked device issues the first backup codes",
			given: []domain.Event{registered, deviceLinked},
			when:  func(a *domain.Account) domain.Decision { return a.EnableMFA(domain.EnableMFA{BackupCodes: set}, t0) },
			then: []domain.Event{
				domain.MFAEnabled{AccountID: accountID, At: t0},
				domain.BackupCodesIssued{AccountID: accountID, SetID: setID, Hashes: hashes("new"), At: t0},
			},
		},
		{
			name:  "enable with a confirmed TOTP app",
			given: []domain.Event{registered, appAdded, appConfirmed},
			when:  func(a *domain.Account) domain.Decision { return a.EnableMFA(domain.EnableMFA{BackupCodes: set}, t0) },
			then: []domain.Event{
				domain.MFAEnabled{AccountID: accountID, At: t0},
				domain.BackupCodesIssued{AccountID: accountID, SetID: setID, Hashes: hashes("new"), At: t0},
			},
		},
		{
			name:  "enable without a confirmed factor",
			given: []domain.Event{registered, appAdded},
			when:  func(a *domain.Account) domain.Decision { return a.EnableMFA(domain.EnableMFA{BackupCodes: set}, t0) },
			err:   domain.ErrNoSecondFactor,
		},
		{
			name:  "enable twice",
			given: []domain.Event{registered, deviceLinked, mfaEnabled},
			when:  func(a *domain.Account) domain.Decision { return a.EnableMFA(domain.EnableMFA{BackupCodes: set}, t0) },
			err:   domain.ErrMFAAlreadyEnabled,
		},
		{
			name:  "enable with nine backup codes",
			given: []domain.Event{registered, deviceLinked},
			when: func(a *domain.Account) domain.Decision {
				return a.EnableMFA(domain.EnableMFA{BackupCodes: domain.BackupCodeSet{SetID: setID, Hashes: hashes("x")[:9]}}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "enable with a repeated hash",
			given: []domain.Event{registered, deviceLinked},
			when: func(a *domain.Account) domain.Decision {
				return a.EnableMFA(domain.EnableMFA{BackupCodes: domain.BackupCodeSet{SetID: setID, Hashes: dup}}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name: "enable on an unknown account",
			when: func(a *domain.Account) domain.Decision { return a.EnableMFA(domain.EnableMFA{BackupCodes: set}, t0) },
			err:  domain.ErrAccountNotFound,
		},
		{
			name:  "disable unlinks every device, then turns 2FA off",
			given: []domain.Event{registered, deviceLinked, device2Linked, mfaEnabled},
			when:  func(a *domain.Account) domain.Decision { return a.DisableMFA(domain.DisableMFA{}, t0) },
			then: []domain.Event{
				domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: t0},
				domain.DeviceUnlinked{AccountID: accountID, DeviceID: device2ID, At: t0},
				domain.MFADisabled{AccountID: accountID, At: t0},
			},
		},
		{
			name:  "disable when off",
			given: []domain.Event{registered},
			when:  func(a *domain.Account) domain.Decision { return a.DisableMFA(domain.DisableMFA{}, t0) },
			err:   domain.ErrMFANotEnabled,
		},
		{
			name:  "disable while locked",
			given: []domain.Event{registered, deviceLinked, mfaEnabled, lock},
			when:  func(a *domain.Account) domain.Decision { return a.DisableMFA(domain.DisableMFA{}, t0) },
			err:   domain.ErrLocked,
		},
		{
			name: "disable on an unknown account",
			when: func(a *domain.Account) domain.Decision { return a.DisableMFA(domain.DisableMFA{}, t0) },
			err:  domain.ErrAccountNotFound,
		},
	})
}

func TestDisableMFADropsAppsAndBackupCodes(t *testing.T) {
	t.Parallel()
	a, _ := domain.LoadAccount([]domain.Event{registered, appAdded, appConfirmed, mfaEnabled, codesIssued, domain.MFADisabled{AccountID: accountID, At: t0}})
	if a.MFAEnabled() || len(a.TOTPSecrets()) != 0 || a.BackupCodesLeft() != 0 {
		t.Fatalf("after account.mfa.disabled: mfa=%v secrets=%d codes=%d", a.MFAEnabled(), len(a.TOTPSecrets()), a.BackupCodesLeft())
	}
}

func TestRecordChallengeFailure(t *testing.T) {
	t.Parallel()
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "a wrong number counts as a failure",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.RecordChallengeFailure(domain.RecordChallengeFailure{ChallengeID: challengeID, DeviceID: deviceID, Reason: domain.FailureNumberMismatched}, t0, policy)
			},
			then: []domain.Event{domain.ChallengeFailed{AccountID: accountID, ChallengeID: challengeID, DeviceID: deviceID, Reason: domain.FailureNumberMismatched, At: t0}},
		},
		{
			name:  "a fraud report mutes pushes for 20 minutes",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.RecordChallengeFailure(domain.RecordChallengeFailure{ChallengeID: challengeID, DeviceID: deviceID, Reason: domain.FailureFraudReported}, t0, policy)
			},
			then: []domain.Event{
				domain.ChallengeFailed{AccountID: accountID, ChallengeID: challengeID, DeviceID: deviceID, Reason: domain.FailureFraudReported, At: t0},
				domain.PushMuted{AccountID: accountID, ChallengeID: challengeID, Until: t0.Add(20 * time.Minute), At: t0},
			},
		},
		{
			name:  "a denial that reaches the threshold locks",
			given: concat(withMFA, failures(9, t0.Add(-time.Minute))),
			when: func(a *domain.Account) domain.Decision {
				return a.RecordChallengeFailure(domain.RecordChallengeFailure{ChallengeID: challengeID, DeviceID: deviceID, Reason: domain.FailureDenied}, t0, policy)
			},
			then: []domain.Event{
				domain.ChallengeFailed{AccountID: accountID, ChallengeID: challengeID, DeviceID: deviceID, Reason: domain.FailureDenied, At: t0},
				domain.MFALocked{AccountID: accountID, Failures: 10, Until: t0.Add(15 * time.Minute), At: t0},
			},
		},
		{
			name:  "a reason that is not a challenge failure",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.RecordChallengeFailure(domain.RecordChallengeFailure{ChallengeID: challengeID, Reason: domain.FailurePassword}, t0, policy)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name: "an unknown account",
			when: func(a *domain.Account) domain.Decision {
				return a.RecordChallengeFailure(domain.RecordChallengeFailure{ChallengeID: challengeID, Reason: domain.FailureDenied}, t0, policy)
			},
			err: domain.ErrAccountNotFound,
		},
	})
}

func TestLoadAccountRefusesForeignEvents(t *testing.T) {
	t.Parallel()
	if _, err := domain.LoadAccount([]domain.Event{registered, domain.ChallengeExpired{ChallengeID: challengeID}}); err == nil {
		t.Fatal("a challenge event folded into an account")
	}
	a, _ := domain.LoadAccount(withMFA)
	if a.Version() != len(withMFA) || a.ID() != accountID || a.Email().String() != "ada@example.com" || a.PasswordHash() != pwHash {
		t.Fatalf("queries disagree with the events: version %d id %s email %s", a.Version(), a.ID(), a.Email())
	}
	if id, ok := a.PendingChallenge(t0); !ok || id != challengeID {
		t.Fatalf("PendingChallenge = %s, %v", id, ok)
	}
	if _, ok := a.PendingChallenge(t0.Add(time.Hour)); ok {
		t.Fatal("an expired challenge is still pending")
	}
	_ = uuid.Nil
}

func TestAccountSignOut(t *testing.T) {
	t.Parallel()
	digest := make([]byte, 32)
	digest[0] = 7
	until := t0.Add(12 * time.Hour)
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "sign out of a live session",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.SignOut(domain.SignOut{SessionDigest: digest, Until: until}, t0)
			},
			then: []domain.Event{domain.SignedOut{AccountID: accountID, SessionDigest: digest, Until: until, At: t0}},
		},
		{
			name:  "an account with sign-outs still loads and decides",
			given: []domain.Event{registered, domain.SignedOut{AccountID: accountID, SessionDigest: digest, Until: until, At: t0}},
			when: func(a *domain.Account) domain.Decision {
				return a.SignOut(domain.SignOut{SessionDigest: digest, Until: until}, t0)
			},
			then: []domain.Event{domain.SignedOut{AccountID: accountID, SessionDigest: digest, Until: until, At: t0}},
		},
		{
			name:  "a session that has expired needs no sign-out",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.SignOut(domain.SignOut{SessionDigest: digest, Until: t0}, t0)
			},
		},
		{
			name:  "sign out refuses a digest that is not a SHA-256",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.SignOut(domain.SignOut{SessionDigest: digest[:16], Until: until}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name: "sign out of an unknown account",
			when: func(a *domain.Account) domain.Decision {
				return a.SignOut(domain.SignOut{SessionDigest: digest, Until: until}, t0)
			},
			err: domain.ErrAccountNotFound,
		},
	})
}
