package domain_test

import (
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
)

func TestUseTOTPCode(t *testing.T) {
	t.Parallel()
	used := domain.TOTPCodeUsed{AccountID: accountID, ChallengeID: challengeID, SecretID: deviceID, Step: step0, At: t0.Add(-time.Second)}
	lock := domain.MFALocked{AccountID: accountID, Failures: 10, Until: t0.Add(time.Minute), At: t0.Add(-time.Minute)}
	wrong := domain.TOTPCheckFailed{AccountID: accountID, ChallengeID: challengeID, Reason: domain.FailureWrongCode, At: t0}
	use := func(m *domain.TOTPMatch) func(*domain.Account) domain.Decision {
		return func(a *domain.Account) domain.Decision {
			return a.UseTOTPCode(domain.UseTOTPCode{ChallengeID: challengeID, Match: m}, t0, policy)
		}
	}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "a device's code of the current step",
			given: withMFA,
			when:  use(&domain.TOTPMatch{SecretID: deviceID, Step: step0}),
			then:  []domain.Event{domain.TOTPCodeUsed{AccountID: accountID, ChallengeID: challengeID, SecretID: deviceID, Step: step0, At: t0}},
		},
		{
			name:  "a code of the previous step is within the skew",
			given: withMFA,
			when:  use(&domain.TOTPMatch{SecretID: deviceID, Step: step0 - 1}),
			then:  []domain.Event{domain.TOTPCodeUsed{AccountID: accountID, ChallengeID: challengeID, SecretID: deviceID, Step: step0 - 1, At: t0}},
		},
		{
			name:  "a confirmed app's code",
			given: concat(withMFA, []domain.Event{appAdded, appConfirmed}),
			when:  use(&domain.TOTPMatch{SecretID: appID, Step: step0}),
			then:  []domain.Event{domain.TOTPCodeUsed{AccountID: accountID, ChallengeID: challengeID, SecretID: appID, Step: step0, At: t0}},
		},
		{
			name:  "the same step again is refused as reused",
			given: concat(withMFA, []domain.Event{used}),
			when:  use(&domain.TOTPMatch{SecretID: deviceID, Step: step0}),
			then:  []domain.Event{domain.TOTPCheckFailed{AccountID: accountID, ChallengeID: challengeID, SecretID: deviceID, Reason: domain.FailureReusedCode, At: t0}},
			err:   domain.ErrCodeReused,
		},
		{
			name:  "an older step than the last accepted is refused",
			given: concat(withMFA, []domain.Event{used}),
			when:  use(&domain.TOTPMatch{SecretID: deviceID, Step: step0 - 1}),
			then:  []domain.Event{domain.TOTPCheckFailed{AccountID: accountID, ChallengeID: challengeID, SecretID: deviceID, Reason: domain.FailureReusedCode, At: t0}},
			err:   domain.ErrCodeReused,
		},
		{
			name:  "the next step after the last accepted works",
			given: concat(withMFA, []domain.Event{used}),
			when:  use(&domain.TOTPMatch{SecretID: deviceID, Step: step0 + 1}),
			then:  []domain.Event{domain.TOTPCodeUsed{AccountID: accountID, ChallengeID: challengeID, SecretID: deviceID, Step: step0 + 1, At: t0}},
		},
		{
			name:  "a code that matched nothing",
			given: withMFA,
			when:  use(nil),
			then:  []domain.Event{wrong},
			err:   domain.ErrWrongCode,
		},
		{
			name:  "a step two periods old",
			given: withMFA,
			when:  use(&domain.TOTPMatch{SecretID: deviceID, Step: step0 - 2}),
			then:  []domain.Event{wrong},
			err:   domain.ErrWrongCode,
		},
		{
			name:  "a secret of an unlinked device",
			given: concat(withMFA, []domain.Event{domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: t0}}),
			when:  use(&domain.TOTPMatch{SecretID: deviceID, Step: step0}),
			then:  []domain.Event{wrong},
			err:   domain.ErrWrongCode,
		},
		{
			name:  "an unconfirmed app's secret",
			given: concat(withMFA, []domain.Event{appAdded}),
			when:  use(&domain.TOTPMatch{SecretID: appID, Step: step0}),
			then:  []domain.Event{wrong},
			err:   domain.ErrWrongCode,
		},
		{
			name:  "the tenth wrong code locks",
			given: concat(withMFA, failures(9, t0.Add(-time.Minute))),
			when:  use(nil),
			then:  []domain.Event{wrong, domain.MFALocked{AccountID: accountID, Failures: 10, Until: t0.Add(15 * time.Minute), At: t0}},
			err:   domain.ErrWrongCode,
		},
		{
			name:  "while locked",
			given: concat(withMFA, []domain.Event{lock}),
			when:  use(&domain.TOTPMatch{SecretID: deviceID, Step: step0}),
			err:   domain.ErrLocked,
		},
		{
			name:  "for a challenge that is not pending",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.UseTOTPCode(domain.UseTOTPCode{ChallengeID: challenge2, Match: &domain.TOTPMatch{SecretID: deviceID, Step: step0}}, t0, policy)
			},
			err: domain.ErrChallengeNotPending,
		},
		{
			name:  "without 2FA",
			given: []domain.Event{registered, deviceLinked},
			when:  use(&domain.TOTPMatch{SecretID: deviceID, Step: step0}),
			err:   domain.ErrMFANotEnabled,
		},
		{
			name: "an unknown account",
			when: use(nil),
			err:  domain.ErrAccountNotFound,
		},
	})
}

func TestUseBackupCode(t *testing.T) {
	t.Parallel()
	old := hashes("old")
	lock := domain.MFALocked{AccountID: accountID, Failures: 10, Until: t0.Add(time.Minute), At: t0.Add(-time.Minute)}
	use := func(cands ...string) func(*domain.Account) domain.Decision {
		return func(a *domain.Account) domain.Decision {
			return a.UseBackupCode(domain.UseBackupCode{ChallengeID: challengeID, Candidates: cands}, t0, policy)
		}
	}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "an unused code, found under any key",
			given: withMFA,
			when:  use("k2:other", old[4]),
			then:  []domain.Event{domain.BackupCodeUsed{AccountID: accountID, SetID: setID, Index: 4, ChallengeID: challengeID, At: t0}},
		},
		{
			name:  "a used code is refused as reused",
			given: concat(withMFA, []domain.Event{domain.BackupCodeUsed{AccountID: accountID, SetID: setID, Index: 4, ChallengeID: challengeID, At: t0}}),
			when:  use(old[4]),
			then:  []domain.Event{domain.BackupCodeCheckFailed{AccountID: accountID, ChallengeID: challengeID, Reason: domain.FailureReusedBackupCode, At: t0}},
			err:   domain.ErrCodeReused,
		},
		{
			name:  "a wrong code",
			given: withMFA,
			when:  use("k1:nope"),
			then:  []domain.Event{domain.BackupCodeCheckFailed{AccountID: accountID, ChallengeID: challengeID, Reason: domain.FailureWrongBackupCode, At: t0}},
			err:   domain.ErrWrongCode,
		},
		{
			name:  "no backup codes",
			given: []domain.Event{registered, deviceLinked, mfaEnabled, challenged},
			when:  use(old[0]),
			err:   domain.ErrNoBackupSet,
		},
		{
			name:  "while locked",
			given: concat(withMFA, []domain.Event{lock}),
			when:  use(old[0]),
			err:   domain.ErrLocked,
		},
		{
			name:  "for a superseded challenge",
			given: concat(withMFA, []domain.Event{domain.SignInChallenged{AccountID: accountID, ChallengeID: challenge2, Superseded: challengeID, ExpiresAt: t0.Add(time.Minute), At: t0}}),
			when:  use(old[0]),
			err:   domain.ErrChallengeNotPending,
		},
	})
}
