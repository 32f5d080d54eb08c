package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// The help desk's acts on an account. Each names the administrator who did it and the reason
// they wrote, so that the log answers "who let this person in without their phone, and why".

// SecondFactorReset: an administrator reset the account's second factor. It follows, in the
// same append, a device.unlinked for every linked device and an account.mfa.disabled (which
// drops TOTP apps, backup codes and bypass codes). Until EnrollBy, a correct password signs
// in to a session for setting up a new second factor (no other application accepts it); after
// it, the password alone no longer signs in, until the help desk acts again.
type SecondFactorReset struct {
	AccountID uuid.UUID `json:"account_id" assent:"owner"`
	By        string    `json:"by"`
	Reason    string    `json:"reason" assent:"personal"`
	EnrollBy  time.Time `json:"enroll_by"`
	At        time.Time `json:"at"`
}

// AccountUnlocked: an administrator lifted the second factor's lock and every source's
// sign-in lock, and cleared the failures counted toward them.
type AccountUnlocked struct {
	AccountID uuid.UUID `json:"account_id" assent:"owner"`
	By        string    `json:"by"`
	Reason    string    `json:"reason" assent:"personal"`
	At        time.Time `json:"at"`
}

// AccountDisabled: an administrator disabled the account. It cannot sign in, answer or be
// asked for a second factor, through the pages, the Duo-compatible API or OpenID Connect,
// and every session it had ends.
type AccountDisabled struct {
	AccountID uuid.UUID `json:"account_id" assent:"owner"`
	By        string    `json:"by"`
	Reason    string    `json:"reason" assent:"personal"`
	At        time.Time `json:"at"`
}

// AccountEnabled: an administrator enabled a disabled account again. The sessions that the
// disabling ended stay ended.
type AccountEnabled struct {
	AccountID uuid.UUID `json:"account_id" assent:"owner"`
	By        string    `json:"by"`
	Reason    string    `json:"reason" assent:"personal"`
	At        time.Time `json:"at"`
}

// HelpDeskNoticesSeen: the person read the notices of what the help desk did to the account
// (Account.Notices), which are then no longer shown.
type HelpDeskNoticesSeen struct {
	AccountID uuid.UUID `json:"account_id"`
	At        time.Time `json:"at"`
}

func (SecondFactorReset) EventType() string   { return "account.helpdesk.second_factor_reset" }
func (AccountUnlocked) EventType() string     { return "account.helpdesk.unlocked" }
func (AccountDisabled) EventType() string     { return "account.helpdesk.disabled" }
func (AccountEnabled) EventType() string      { return "account.helpdesk.enabled" }
func (HelpDeskNoticesSeen) EventType() string { return "account.helpdesk.notices_seen" }

func (e SecondFactorReset) OccurredAt() time.Time   { return e.At }
func (e AccountUnlocked) OccurredAt() time.Time     { return e.At }
func (e AccountDisabled) OccurredAt() time.Time     { return e.At }
func (e AccountEnabled) OccurredAt() time.Time      { return e.At }
func (e HelpDeskNoticesSeen) OccurredAt() time.Time { return e.At }

// HelpDeskAction names what the help desk did, in a notice to the person.
type HelpDeskAction struct{ slug string }

// Help-desk actions.
var (
	HelpDeskBypassCodes = HelpDeskAction{"bypass_codes_issued"}
	HelpDeskReset       = HelpDeskAction{"second_factor_reset"}
	HelpDeskUnlock      = HelpDeskAction{"unlocked"}
	HelpDeskDisable     = HelpDeskAction{"disabled"}
	HelpDeskEnable      = HelpDeskAction{"enabled"}
)

func (a HelpDeskAction) String() string { return a.slug }

// helpDeskActionOf returns the action of a slug, for a snapshot's notices.
func helpDeskActionOf(slug string) (HelpDeskAction, bool) {
	for _, a := range []HelpDeskAction{HelpDeskBypassCodes, HelpDeskReset, HelpDeskUnlock, HelpDeskDisable, HelpDeskEnable} {
		if a.slug == slug {
			return a, true
		}
	}
	return HelpDeskAction{}, false
}

// Notice tells the person one thing the help desk did to their account and when. It does
// not carry the administrator's reason, which is the help desk's internal record (it may
// name how the person's identity was checked); the audit holds it.
type Notice struct {
	Action HelpDeskAction
	At     time.Time
	// Until is when bypass codes stop working (HelpDeskBypassCodes) or the last moment to set
	// up a new second factor (HelpDeskReset); zero otherwise.
	Until time.Time
}

// maxNotices bounds the notices an account keeps until they are seen.
const maxNotices = 20

// Bounds of a help-desk act's fields.
const (
	maxReasonRunes  = 500
	maxAdminRunes   = 64
	minEnrollWithin = time.Hour
	maxEnrollWithin = 30 * 24 * time.Hour
)

// HelpDeskAct is what every help-desk command carries: who acts and why. By is the
// administrator's credential name; Reason is their written reason, required.
type HelpDeskAct struct {
	By     string
	Reason string
}

func (h HelpDeskAct) validate() error {
	if strings.TrimSpace(h.Reason) == "" {
		return ErrReasonRequired
	}
	if !utf8.ValidString(h.Reason) || utf8.RuneCountInString(h.Reason) > maxReasonRunes {
		return fmt.Errorf("%w: the reason must be valid text of at most %d characters", ErrInvalidReason, maxReasonRunes)
	}
	if !validName(h.By, maxAdminRunes) {
		return fmt.Errorf("%w: the administrator's name is required", ErrInvalidCommand)
	}
	return nil
}

// IssueHelpDeskBypassCodes issues bypass codes to a person who has lost their second
// factor: 1 to 10 keyed hashes, valid until ExpiresAt, used on the code form like backup
// codes, each once. They replace earlier bypass codes, not the backup codes.
type IssueHelpDeskBypassCodes struct {
	HelpDeskAct
	SetID     uuid.UUID
	Hashes    []string
	ExpiresAt time.Time
}

// ResetSecondFactor unlinks every device and revokes TOTP apps, backup codes and bypass
// codes; the person must set up a new second factor within EnrollWithin (1 hour to 30 days)
// of their next sign-in's password.
type ResetSecondFactor struct {
	HelpDeskAct
	EnrollWithin time.Duration
}

// UnlockAccount lifts the second factor's lock and every source's sign-in lock.
type UnlockAccount struct{ HelpDeskAct }

// DisableAccount disables the account and ends its sessions.
type DisableAccount struct{ HelpDeskAct }

// EnableAccount enables a disabled account.
type EnableAccount struct{ HelpDeskAct }

// MarkNoticesSeen records that the person read the help desk's notices.
type MarkNoticesSeen struct{}

// IssueHelpDeskBypassCodes decides IssueHelpDeskBypassCodes: the second factor must be on
// (the codes stand in for it).
func (a *Account) IssueHelpDeskBypassCodes(cmd IssueHelpDeskBypassCodes, now time.Time) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	if err := cmd.validate(); err != nil {
		return refuse(fmt.Errorf("issue bypass codes: %w", err))
	}
	d := a.IssueBypassCodes(IssueBypassCodes{SetID: cmd.SetID, Hashes: cmd.Hashes, ExpiresAt: cmd.ExpiresAt}, now)
	if d.Err != nil {
		return d
	}
	e := d.Events[0].(BypassCodesIssued)
	e.By, e.Reason = cmd.By, cmd.Reason
	return accept(e)
}

// ResetSecondFactor decides ResetSecondFactor. An account with no second factor on and none
// linked has nothing to reset (ErrMFANotEnabled).
func (a *Account) ResetSecondFactor(cmd ResetSecondFactor, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case !a.mfa && len(a.devices) == 0 && len(a.apps) == 0:
		return refuse(ErrMFANotEnabled)
	}
	if err := cmd.validate(); err != nil {
		return refuse(fmt.Errorf("reset second factor: %w", err))
	}
	if cmd.EnrollWithin < minEnrollWithin || cmd.EnrollWithin > maxEnrollWithin {
		return refuse(fmt.Errorf("reset second factor: %w: the time to enroll must be from %s to %s", ErrInvalidCommand, minEnrollWithin, maxEnrollWithin))
	}
	var events []Event
	for _, d := range a.devices {
		events = append(events, DeviceUnlinked{AccountID: a.id, DeviceID: d.id, At: now})
	}
	events = append(events,
		MFADisabled{AccountID: a.id, At: now},
		SecondFactorReset{AccountID: a.id, By: cmd.By, Reason: cmd.Reason, EnrollBy: now.Add(cmd.EnrollWithin), At: now})
	return accept(events...)
}

// UnlockAccount decides UnlockAccount. An account with no lock in force and no failures
// counted is refused (ErrNotLocked): there is nothing to undo.
func (a *Account) UnlockAccount(cmd UnlockAccount, now time.Time) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	if err := cmd.validate(); err != nil {
		return refuse(fmt.Errorf("unlock account: %w", err))
	}
	locked, _ := a.Locked(now)
	sourceLocked := slices.ContainsFunc(a.sourceLocks, func(l sourceLock) bool { return now.Before(l.until) })
	if !locked && !sourceLocked && len(a.failures) == 0 && len(a.signInFailures) == 0 {
		return refuse(ErrNotLocked)
	}
	return accept(AccountUnlocked{AccountID: a.id, By: cmd.By, Reason: cmd.Reason, At: now})
}

// DisableAccount decides DisableAccount.
func (a *Account) DisableAccount(cmd DisableAccount, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case a.disabled:
		return refuse(ErrAccountDisabled)
	}
	if err := cmd.validate(); err != nil {
		return refuse(fmt.Errorf("disable account: %w", err))
	}
	return accept(AccountDisabled{AccountID: a.id, By: cmd.By, Reason: cmd.Reason, At: now})
}

// EnableAccount decides EnableAccount.
func (a *Account) EnableAccount(cmd EnableAccount, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case !a.disabled:
		return refuse(ErrAccountNotDisabled)
	}
	if err := cmd.validate(); err != nil {
		return refuse(fmt.Errorf("enable account: %w", err))
	}
	return accept(AccountEnabled{AccountID: a.id, By: cmd.By, Reason: cmd.Reason, At: now})
}

// MarkNoticesSeen decides MarkNoticesSeen: with no notice to clear, nothing is appended.
func (a *Account) MarkNoticesSeen(_ MarkNoticesSeen, now time.Time) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	if len(a.notices) == 0 {
		return accept()
	}
	return accept(HelpDeskNoticesSeen{AccountID: a.id, At: now})
}

// applyHelpDesk folds the help desk's events; ok is false for any other event.
func (a *Account) applyHelpDesk(e Event) bool {
	switch e := e.(type) {
	case SecondFactorReset:
		a.mfa, a.apps, a.backup, a.bypass = false, nil, nil, nil
		a.resetPending, a.enrollBy, a.sessionsFrom = true, e.EnrollBy, e.At
		a.notice(Notice{Action: HelpDeskReset, At: e.At, Until: e.EnrollBy})
	case AccountUnlocked:
		a.failures, a.lockedUntil, a.signInFailures, a.sourceLocks = nil, time.Time{}, nil, nil
		a.notice(Notice{Action: HelpDeskUnlock, At: e.At})
	case AccountDisabled:
		a.disabled, a.sessionsFrom = true, e.At
		a.notice(Notice{Action: HelpDeskDisable, At: e.At})
	case AccountEnabled:
		a.disabled = false
		a.notice(Notice{Action: HelpDeskEnable, At: e.At})
	case HelpDeskNoticesSeen:
		a.notices = nil
	default:
		return false
	}
	return true
}

func (a *Account) notice(n Notice) {
	a.notices = append(a.notices, n)
	if len(a.notices) > maxNotices {
		a.notices = a.notices[len(a.notices)-maxNotices:]
	}
}

// Disabled reports whether an administrator disabled the account.
func (a *Account) Disabled() bool { return a.disabled }

// EnrollmentRequired reports whether the help desk reset the second factor and no new one
// was set up since, and the last moment to set one up.
func (a *Account) EnrollmentRequired() (bool, time.Time) { return a.resetPending, a.enrollBy }

// SessionsValidFrom is the time before which no session of the account is valid: the last
// disabling or second-factor reset (zero when there was none).
func (a *Account) SessionsValidFrom() time.Time { return a.sessionsFrom }

// Notices returns what the help desk did since the person last marked the notices seen,
// oldest first.
func (a *Account) Notices() []Notice { return slices.Clone(a.notices) }

// CheckAccess is asked after a correct password: ErrAccountDisabled for a disabled account,
// ErrEnrollmentExpired when the help desk reset the second factor and the time to set up a
// new one is over, nil otherwise.
func (a *Account) CheckAccess(now time.Time) error {
	switch {
	case a.disabled:
		return ErrAccountDisabled
	case a.resetPending && !now.Before(a.enrollBy):
		return ErrResetExpired
	}
	return nil
}

// SignInLockView is a source's sign-in lock in force.
type SignInLockView struct {
	Source SignInSource
	Until  time.Time
}

// SignInLocks returns the sources whose passwords are locked out of the account at now, each
// with the end of its lock, in the order they were locked.
func (a *Account) SignInLocks(now time.Time) []SignInLockView {
	var out []SignInLockView
	for _, l := range a.sourceLocks {
		if locked, until := a.SignInLock(l.source, now); locked && !slices.ContainsFunc(out, func(v SignInLockView) bool { return v.Source == l.source }) {
			out = append(out, SignInLockView{Source: l.source, Until: until})
		}
	}
	return out
}
