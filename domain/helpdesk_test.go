package domain_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
)

var (
	act          = domain.HelpDeskAct{By: "alice", Reason: "ticket 4711: lost phone, identity checked by video call"}
	resetEvent   = domain.SecondFactorReset{AccountID: accountID, By: act.By, Reason: act.Reason, EnrollBy: t0.Add(-time.Minute + 72*time.Hour), At: t0.Add(-time.Minute)}
	unlocked     = domain.AccountUnlocked{AccountID: accountID, By: act.By, Reason: act.Reason, At: t0.Add(-time.Minute)}
	disabled     = domain.AccountDisabled{AccountID: accountID, By: act.By, Reason: act.Reason, At: t0.Add(-time.Minute)}
	enabled      = domain.AccountEnabled{AccountID: accountID, By: act.By, Reason: act.Reason, At: t0.Add(-time.Minute)}
	noticesSeen  = domain.HelpDeskNoticesSeen{AccountID: accountID, At: t0.Add(-time.Second)}
	deskBypass   = domain.BypassCodesIssued{AccountID: accountID, SetID: bypassSet, Hashes: hashes("desk")[:2], ExpiresAt: t0.Add(time.Hour), By: act.By, Reason: act.Reason, At: t0.Add(-time.Minute)}
	reset72Hours = domain.ResetSecondFactor{HelpDeskAct: act, EnrollWithin: 72 * time.Hour}
)

func init() {
	samples = append(samples, resetEvent, unlocked, disabled, enabled, noticesSeen)
}

func TestHelpDeskDecisions(t *testing.T) {
	t.Parallel()
	noReason := domain.HelpDeskAct{By: "alice"}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "bypass codes name the administrator and the reason",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.IssueHelpDeskBypassCodes(domain.IssueHelpDeskBypassCodes{HelpDeskAct: act, SetID: bypassSet, Hashes: hashes("desk")[:2], ExpiresAt: t0.Add(time.Hour)}, t0.Add(-time.Minute))
			},
			then: []domain.Event{deskBypass},
		},
		{
			name:  "bypass codes without a reason",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.IssueHelpDeskBypassCodes(domain.IssueHelpDeskBypassCodes{HelpDeskAct: noReason, SetID: bypassSet, Hashes: hashes("desk")[:2], ExpiresAt: t0.Add(time.Hour)}, t0)
			},
			err: domain.ErrReasonRequired,
		},
		{
			name:  "bypass codes for an account without a second factor",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.IssueHelpDeskBypassCodes(domain.IssueHelpDeskBypassCodes{HelpDeskAct: act, SetID: bypassSet, Hashes: hashes("desk")[:2], ExpiresAt: t0.Add(time.Hour)}, t0)
			},
			err: domain.ErrMFANotEnabled,
		},
		{
			name:  "reset unlinks every device, turns 2FA off and records who and why",
			given: concat(withMFA, []domain.Event{device2Linked, appAdded, appConfirmed}),
			when: func(a *domain.Account) domain.Decision {
				return a.ResetSecondFactor(reset72Hours, t0.Add(-time.Minute))
			},
			then: []domain.Event{
				domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: t0.Add(-time.Minute)},
				domain.DeviceUnlinked{AccountID: accountID, DeviceID: device2ID, At: t0.Add(-time.Minute)},
				domain.MFADisabled{AccountID: accountID, At: t0.Add(-time.Minute)},
				resetEvent,
			},
		},
		{
			name:  "reset with a reason of blanks only is refused like an empty one",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.ResetSecondFactor(domain.ResetSecondFactor{HelpDeskAct: domain.HelpDeskAct{By: "alice", Reason: " \t\n "}, EnrollWithin: time.Hour}, t0)
			},
			err: domain.ErrReasonRequired,
		},
		{
			name:  "reset with a reason too long",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.ResetSecondFactor(domain.ResetSecondFactor{HelpDeskAct: domain.HelpDeskAct{By: "alice", Reason: strings.Repeat("x", 501)}, EnrollWithin: time.Hour}, t0)
			},
			err: domain.ErrInvalidReason,
		},
		{
			name:  "reset with too short a time to enroll",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.ResetSecondFactor(domain.ResetSecondFactor{HelpDeskAct: act, EnrollWithin: time.Minute}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "reset of an account with nothing to reset",
			given: []domain.Event{registered},
			when:  func(a *domain.Account) domain.Decision { return a.ResetSecondFactor(reset72Hours, t0) },
			err:   domain.ErrMFANotEnabled,
		},
		{
			name:  "unlock a locked second factor",
			given: concat(withMFA, failures(5, t0.Add(-2*time.Minute)), []domain.Event{domain.MFALocked{AccountID: accountID, Failures: 5, Until: t0.Add(time.Hour), At: t0.Add(-2 * time.Minute)}}),
			when: func(a *domain.Account) domain.Decision {
				return a.UnlockAccount(domain.UnlockAccount{HelpDeskAct: act}, t0.Add(-time.Minute))
			},
			then: []domain.Event{unlocked},
		},
		{
			name:  "unlock a source's sign-in lock",
			given: []domain.Event{registered, domain.SignInLocked{AccountID: accountID, Source: "ip:192.0.2.1", Failures: 5, Until: t0.Add(time.Hour), At: t0.Add(-2 * time.Minute)}},
			when: func(a *domain.Account) domain.Decision {
				return a.UnlockAccount(domain.UnlockAccount{HelpDeskAct: act}, t0.Add(-time.Minute))
			},
			then: []domain.Event{unlocked},
		},
		{
			name:  "unlock an account that is not locked",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.UnlockAccount(domain.UnlockAccount{HelpDeskAct: act}, t0)
			},
			err: domain.ErrNotLocked,
		},
		{
			name:  "unlock without a reason",
			given: concat(withMFA, failures(1, t0)),
			when: func(a *domain.Account) domain.Decision {
				return a.UnlockAccount(domain.UnlockAccount{HelpDeskAct: noReason}, t0)
			},
			err: domain.ErrReasonRequired,
		},
		{
			name:  "disable",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.DisableAccount(domain.DisableAccount{HelpDeskAct: act}, t0.Add(-time.Minute))
			},
			then: []domain.Event{disabled},
		},
		{
			name:  "disable twice",
			given: []domain.Event{registered, disabled},
			when: func(a *domain.Account) domain.Decision {
				return a.DisableAccount(domain.DisableAccount{HelpDeskAct: act}, t0)
			},
			err: domain.ErrAccountDisabled,
		},
		{
			name:  "disable without an administrator",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.DisableAccount(domain.DisableAccount{HelpDeskAct: domain.HelpDeskAct{Reason: "why"}}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "enable",
			given: []domain.Event{registered, disabled},
			when: func(a *domain.Account) domain.Decision {
				return a.EnableAccount(domain.EnableAccount{HelpDeskAct: act}, t0.Add(-time.Minute))
			},
			then: []domain.Event{enabled},
		},
		{
			name:  "enable an account that is not disabled",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.EnableAccount(domain.EnableAccount{HelpDeskAct: act}, t0)
			},
			err: domain.ErrAccountNotDisabled,
		},
		{
			name:  "a disabled account is asked for no second factor",
			given: concat(withMFA, []domain.Event{disabled}),
			when: func(a *domain.Account) domain.Decision {
				_, err := a.IssueChallenge(domain.IssueChallenge{ChallengeID: challenge2, Number: 42, Context: domain.LoginContext{IP: "192.0.2.1"}}, t0, policy)
				return domain.Decision{Err: err}
			},
			err: domain.ErrAccountDisabled,
		},
		{
			name:  "a disabled account's pending challenge takes no code",
			given: concat(withMFA, []domain.Event{disabled}),
			when: func(a *domain.Account) domain.Decision {
				return a.UseBackupCode(domain.UseBackupCode{ChallengeID: challengeID, Candidates: []string{hashes("old")[0]}}, t0, policy)
			},
			err: domain.ErrAccountDisabled,
		},
		{
			name:  "mark notices seen",
			given: []domain.Event{registered, disabled, enabled},
			when: func(a *domain.Account) domain.Decision {
				return a.MarkNoticesSeen(domain.MarkNoticesSeen{}, t0.Add(-time.Second))
			},
			then: []domain.Event{noticesSeen},
		},
		{
			name:  "mark notices seen with none",
			given: []domain.Event{registered, disabled, enabled, noticesSeen},
			when:  func(a *domain.Account) domain.Decision { return a.MarkNoticesSeen(domain.MarkNoticesSeen{}, t0) },
		},
	})
}

// TestHelpDeskBypassCodeSignsIn: a help-desk bypass code completes the pending challenge like
// a backup code, once.
func TestHelpDeskBypassCodeSignsIn(t *testing.T) {
	t.Parallel()
	a := load(t, concat(withMFA, []domain.Event{deskBypass}))
	d := a.UseBackupCode(domain.UseBackupCode{ChallengeID: challengeID, Candidates: []string{hashes("desk")[1]}}, t0, policy)
	want := []domain.Event{domain.BackupCodeUsed{AccountID: accountID, SetID: bypassSet, Index: 1, ChallengeID: challengeID, At: t0}}
	checkDecision(t, d, want, nil)
	a = load(t, concat(withMFA, []domain.Event{deskBypass}, want))
	if d := a.UseBackupCode(domain.UseBackupCode{ChallengeID: challengeID, Candidates: []string{hashes("desk")[1]}}, t0, policy); !errors.Is(d.Err, domain.ErrCodeReused) {
		t.Fatalf("second use: %v, want ErrCodeReused", d.Err)
	}
}

// TestHelpDeskState checks what the account says after the help desk's acts: access,
// enrollment, sessions and notices.
func TestHelpDeskState(t *testing.T) {
	t.Parallel()
	t.Run("reset requires enrollment until a new second factor is on", func(t *testing.T) {
		t.Parallel()
		given := concat(withMFA, []domain.Event{domain.DeviceUnlinked{AccountID: accountID, DeviceID: deviceID, At: resetEvent.At}, domain.MFADisabled{AccountID: accountID, At: resetEvent.At}, resetEvent})
		a := load(t, given)
		if a.MFAEnabled() || len(a.LinkedDevices()) != 0 || a.BackupCodesLeft() != 0 {
			t.Fatalf("after reset: mfa %t, devices %d, backup codes %d", a.MFAEnabled(), len(a.LinkedDevices()), a.BackupCodesLeft())
		}
		if req, by := a.EnrollmentRequired(); !req || !by.Equal(resetEvent.EnrollBy) {
			t.Fatalf("enrollment required = %t, %v", req, by)
		}
		if err := a.CheckAccess(t0); err != nil {
			t.Fatalf("access within the time to enroll: %v", err)
		}
		if err := a.CheckAccess(resetEvent.EnrollBy); !errors.Is(err, domain.ErrResetExpired) {
			t.Fatalf("access after the time to enroll: %v, want ErrResetExpired", err)
		}
		if !a.SessionsValidFrom().Equal(resetEvent.At) {
			t.Fatalf("sessions valid from %v, want %v", a.SessionsValidFrom(), resetEvent.At)
		}
		a = load(t, concat(given, []domain.Event{deviceLinked, mfaEnabled}))
		if req, _ := a.EnrollmentRequired(); req {
			t.Fatal("enrollment still required after a new second factor")
		}
		if err := a.CheckAccess(resetEvent.EnrollBy.Add(time.Hour)); err != nil {
			t.Fatalf("access after enrolling: %v", err)
		}
	})
	t.Run("unlock lifts both locks", func(t *testing.T) {
		t.Parallel()
		src := domain.SignInSource("ip:192.0.2.1")
		a := load(t, concat(withMFA, []domain.Event{
			domain.MFALocked{AccountID: accountID, Failures: 5, Until: t0.Add(time.Hour), At: t0.Add(-2 * time.Minute)},
			domain.SignInLocked{AccountID: accountID, Source: src, Failures: 5, Until: t0.Add(time.Hour), At: t0.Add(-2 * time.Minute)},
		}))
		if err := a.CheckSignIn(src, t0); err == nil {
			t.Fatal("the locks do not hold before the unlock")
		}
		if l := a.SignInLocks(t0); len(l) != 1 || l[0].Source != src || !l[0].Until.Equal(t0.Add(time.Hour)) {
			t.Fatalf("sign-in locks before the unlock: %+v", l)
		}
		a = load(t, concat(withMFA, []domain.Event{
			domain.MFALocked{AccountID: accountID, Failures: 5, Until: t0.Add(time.Hour), At: t0.Add(-2 * time.Minute)},
			domain.SignInLocked{AccountID: accountID, Source: src, Failures: 5, Until: t0.Add(time.Hour), At: t0.Add(-2 * time.Minute)},
			unlocked,
		}))
		if err := a.CheckSignIn(src, t0); err != nil {
			t.Fatalf("after unlock: %v", err)
		}
		if l := a.SignInLocks(t0); len(l) != 0 {
			t.Fatalf("sign-in locks after the unlock: %+v", l)
		}
		if l := a.Lockout(t0, policy); l.Locked || l.FailuresLeft != policy.LockoutThreshold {
			t.Fatalf("lockout after unlock: %+v", l)
		}
	})
	t.Run("disable refuses access and ends sessions; enable restores access", func(t *testing.T) {
		t.Parallel()
		a := load(t, []domain.Event{registered, disabled})
		if err := a.CheckAccess(t0); !errors.Is(err, domain.ErrAccountDisabled) {
			t.Fatalf("access when disabled: %v", err)
		}
		if !a.SessionsValidFrom().Equal(disabled.At) {
			t.Fatalf("sessions valid from %v", a.SessionsValidFrom())
		}
		a = load(t, []domain.Event{registered, disabled, enabled})
		if err := a.CheckAccess(t0); err != nil || a.Disabled() {
			t.Fatalf("access when enabled again: %v", err)
		}
		if !a.SessionsValidFrom().Equal(disabled.At) {
			t.Fatal("enabling revived the sessions the disabling ended")
		}
	})
	t.Run("notices list each act without its reason until seen", func(t *testing.T) {
		t.Parallel()
		a := load(t, concat(withMFA, []domain.Event{deskBypass, disabled, enabled, bypassIssued}))
		want := []domain.Notice{
			{Action: domain.HelpDeskBypassCodes, At: deskBypass.At, Until: deskBypass.ExpiresAt},
			{Action: domain.HelpDeskDisable, At: disabled.At},
			{Action: domain.HelpDeskEnable, At: enabled.At},
		}
		if got := a.Notices(); !reflect.DeepEqual(got, want) {
			t.Fatalf("notices:\n got  %+v\n want %+v", got, want)
		}
		a = load(t, concat(withMFA, []domain.Event{deskBypass, disabled, enabled, noticesSeen}))
		if n := a.Notices(); len(n) != 0 {
			t.Fatalf("notices after seen: %+v", n)
		}
	})
}

func load(t *testing.T, events []domain.Event) *domain.Account {
	t.Helper()
	a, err := domain.LoadAccount(events)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
