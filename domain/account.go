package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Account is the account aggregate, folded from the account stream. It owns the password
// hash, the 2FA switch, the links to devices and their TOTP secrets, TOTP apps, backup codes,
// the failure count and lockout, the push mute and the pending challenge. Its fields are
// unexported: build one with LoadAccount, change it only by appending the events its
// decisions return and loading again.
type Account struct {
	id           uuid.UUID
	version      int
	email        Email
	passwordHash string
	mfa          bool
	devices      []linkedDevice
	apps         []totpApp
	backup       *backupSet
	failures     []time.Time // second-factor failures since the last lock
	lockedUntil  time.Time
	// signInFailures are wrong passwords by source since that source's last lock; sourceLocks
	// the sign-in locks of sources, oldest first.
	signInFailures []sourceFailure
	sourceLocks    []sourceLock
	mutedUntil     time.Time
	pending        uuid.UUID
	pendingUntil   time.Time
	enrollments    []EnrollmentTokenID
	integration    IntegrationKey // set for a user of an integration (integration.go)
	username       string
	bypass         *backupSet // bypass codes an administrator issued (bypass.go)
	bypassUntil    time.Time
	// The help desk's marks (helpdesk.go).
	disabled     bool
	resetPending bool
	enrollBy     time.Time
	sessionsFrom time.Time
	notices      []Notice
	erased       bool // erasure.go
}

type linkedDevice struct {
	id        uuid.UUID
	name      string
	publicKey []byte
	sealed    []byte
	lastStep  uint64
}

type totpApp struct {
	id        uuid.UUID
	name      string
	sealed    []byte
	confirmed bool
	lastStep  uint64
}

type backupSet struct {
	id     uuid.UUID
	hashes []string
	used   []bool
}

// LoadAccount folds the events of an account stream, oldest first. No events give an
// account that does not exist yet, on which only Register succeeds.
func LoadAccount(events []Event) (*Account, error) {
	a := &Account{}
	for _, e := range events {
		if err := a.apply(e); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *Account) apply(e Event) error {
	a.version++
	switch e := e.(type) {
	case AccountRegistered:
		a.id, a.email, a.passwordHash = e.AccountID, e.Email, e.PasswordHash
	case IntegrationUserCreated:
		a.id, a.integration, a.username = e.AccountID, e.Integration, e.Username
	case PasswordChanged:
		a.passwordHash = e.PasswordHash
	case SignInFailed:
		a.recordSignInFailure(e)
	case SignInLocked:
		a.recordSignInLock(e)
	case SignedOut, SessionsEnded:
		// Sessions live outside the aggregate: the events are for every node's read model.
	case DeviceRenamed:
		if d := a.device(e.DeviceID); d != nil {
			d.name = e.Name
		}
	case TOTPAppRenamed:
		if app := a.app(e.AppID); app != nil {
			app.name = e.Name
		}
	case TOTPAppRemoved:
		a.apps = slices.DeleteFunc(a.apps, func(app totpApp) bool { return app.id == e.AppID })
	case TOTPCheckFailed:
		a.recordFailure(e.At)
	case BackupCodeCheckFailed:
		a.recordFailure(e.At)
	case ChallengeFailed:
		a.recordFailure(e.At)
	case MFAEnabled:
		a.mfa, a.resetPending, a.enrollBy = true, false, time.Time{}
	case MFADisabled:
		a.mfa, a.apps, a.backup, a.bypass = false, nil, nil, nil
	case MFALocked:
		a.failures, a.lockedUntil = nil, e.Until
	case PushMuted:
		a.mutedUntil = e.Until
	case PushResumed:
		a.mutedUntil = time.Time{}
	case SignInChallenged:
		a.pending, a.pendingUntil = e.ChallengeID, e.ExpiresAt
	case DeviceLinked:
		a.devices = append(a.devices, linkedDevice{id: e.DeviceID, name: e.Name, publicKey: e.PublicKey, sealed: e.SealedTOTPSecret})
		if !e.EnrollmentID.IsZero() {
			a.enrollments = append(a.enrollments, e.EnrollmentID)
		}
	case DeviceUnlinked:
		a.devices = slices.DeleteFunc(a.devices, func(d linkedDevice) bool { return d.id == e.DeviceID })
	case TOTPAppAdded:
		a.apps = append(a.apps, totpApp{id: e.AppID, name: e.Name, sealed: e.SealedSecret})
	case TOTPAppConfirmed:
		if app := a.app(e.AppID); app != nil {
			app.confirmed, app.lastStep = true, e.Step
		}
	case TOTPCodeUsed:
		if d := a.device(e.SecretID); d != nil {
			d.lastStep = e.Step
		} else if app := a.app(e.SecretID); app != nil {
			app.lastStep = e.Step
		}
	case BackupCodesIssued:
		a.backup = &backupSet{id: e.SetID, hashes: e.Hashes, used: make([]bool, len(e.Hashes))}
	case BackupCodeUsed:
		for _, set := range []*backupSet{a.backup, a.bypass} {
			if set != nil && set.id == e.SetID && e.Index >= 0 && e.Index < len(set.used) {
				set.used[e.Index] = true
			}
		}
	case BypassCodesIssued:
		a.bypass, a.bypassUntil = &backupSet{id: e.SetID, hashes: e.Hashes, used: make([]bool, len(e.Hashes))}, e.ExpiresAt
		if e.By != "" {
			a.notice(Notice{Action: HelpDeskBypassCodes, At: e.At, Until: e.ExpiresAt})
		}
	case AccountErased:
		// Nothing personal stays in memory; the account no longer exists for any command.
		*a = Account{id: a.id, version: a.version, erased: true, sessionsFrom: e.At}
	default:
		if a.applyHelpDesk(e) {
			return nil
		}
		return fmt.Errorf("load account: %w: %q does not belong to an account stream", ErrMalformedEvent, e.EventType())
	}
	return nil
}

func (a *Account) recordFailure(at time.Time) {
	a.failures = append(a.failures, at)
	if len(a.failures) > maxTrackedFailures {
		a.failures = a.failures[len(a.failures)-maxTrackedFailures:]
	}
}

func (a *Account) device(id uuid.UUID) *linkedDevice {
	for i := range a.devices {
		if a.devices[i].id == id {
			return &a.devices[i]
		}
	}
	return nil
}

func (a *Account) app(id uuid.UUID) *totpApp {
	for i := range a.apps {
		if a.apps[i].id == id {
			return &a.apps[i]
		}
	}
	return nil
}

// Exists reports whether the account was registered.
func (a *Account) Exists() bool { return a.id != uuid.Nil && !a.erased }

// ID returns the account's ID.
func (a *Account) ID() uuid.UUID { return a.id }

// Version returns the number of events folded: 0 means the stream does not exist, n means
// the next append expects stream version n-1.
func (a *Account) Version() int { return a.version }

// Email returns the normalized email.
func (a *Account) Email() Email { return a.email }

// PasswordHash returns the argon2id PHC hash, for the caller to verify a password with.
func (a *Account) PasswordHash() string { return a.passwordHash }

// MFAEnabled reports whether two-factor authentication is on.
func (a *Account) MFAEnabled() bool { return a.mfa }

// Locked reports whether the second factor is locked at now, and until when.
func (a *Account) Locked(now time.Time) (bool, time.Time) {
	return now.Before(a.lockedUntil), a.lockedUntil
}

// Lockout is the state of the second factor's lockout at a moment: whether it is locked and
// until when, and how many more failures it takes before it locks (1: the next one locks it).
type Lockout struct {
	Locked       bool
	Until        time.Time
	FailuresLeft int
}

// Lockout returns the second factor's lockout state at now under p.
func (a *Account) Lockout(now time.Time, p Policy) Lockout {
	if locked, until := a.Locked(now); locked {
		return Lockout{Locked: true, Until: until}
	}
	return Lockout{FailuresLeft: max(p.LockoutThreshold-a.recentFailures(now, p), 1)}
}

// recentFailures counts the failures within p.LockoutWindow before now, since the last lock.
func (a *Account) recentFailures(now time.Time, p Policy) int {
	n := 0
	for _, at := range a.failures {
		if at.After(now.Add(-p.LockoutWindow)) && !at.After(now) {
			n++
		}
	}
	return n
}

// PushMuted reports whether pushes are muted at now, and until when.
func (a *Account) PushMuted(now time.Time) (bool, time.Time) {
	return now.Before(a.mutedUntil), a.mutedUntil
}

// PendingChallenge returns the account's pending challenge, if one has not expired at now.
// It may have been answered already: the challenge stream is the authority on that.
func (a *Account) PendingChallenge(now time.Time) (uuid.UUID, bool) {
	if a.pending == uuid.Nil || !now.Before(a.pendingUntil) {
		return uuid.Nil, false
	}
	return a.pending, true
}

// LinkedDevice is a device linked to the account, as the caller needs it.
type LinkedDevice struct {
	DeviceID  uuid.UUID
	Name      string
	PublicKey []byte
}

// LinkedDevices returns the linked devices in the order they were linked.
func (a *Account) LinkedDevices() []LinkedDevice {
	out := make([]LinkedDevice, 0, len(a.devices))
	for _, d := range a.devices {
		out = append(out, LinkedDevice{DeviceID: d.id, Name: d.name, PublicKey: slices.Clone(d.publicKey)})
	}
	return out
}

// SealedTOTPSecret is a TOTP secret of the account as events hold it: sealed bytes that
// only the application layer's keyring opens. ID is the device ID or the TOTP app ID.
type SealedTOTPSecret struct {
	ID     uuid.UUID
	Sealed []byte
}

// TOTPSecrets returns the sealed secrets a typed code may match: one per linked device and
// one per confirmed TOTP app. The caller opens each, matches the code (secrets.TOTPSecret
// .Match) and passes the result as a TOTPMatch.
func (a *Account) TOTPSecrets() []SealedTOTPSecret {
	var out []SealedTOTPSecret
	for _, d := range a.devices {
		out = append(out, SealedTOTPSecret{ID: d.id, Sealed: slices.Clone(d.sealed)})
	}
	for _, app := range a.apps {
		if app.confirmed {
			out = append(out, SealedTOTPSecret{ID: app.id, Sealed: slices.Clone(app.sealed)})
		}
	}
	return out
}

// UnconfirmedTOTPApp returns the sealed secret of a TOTP app that awaits its first code.
func (a *Account) UnconfirmedTOTPApp(appID uuid.UUID) (SealedTOTPSecret, bool) {
	app := a.app(appID)
	if app == nil || app.confirmed {
		return SealedTOTPSecret{}, false
	}
	return SealedTOTPSecret{ID: app.id, Sealed: slices.Clone(app.sealed)}, true
}

// BackupCodesLeft returns the number of unused codes of the current set.
func (a *Account) BackupCodesLeft() int {
	if a.backup == nil {
		return 0
	}
	n := 0
	for _, u := range a.backup.used {
		if !u {
			n++
		}
	}
	return n
}

// hasSecondFactor reports whether a device is linked or a TOTP app confirmed.
func (a *Account) hasSecondFactor() bool {
	if len(a.devices) > 0 {
		return true
	}
	return slices.ContainsFunc(a.apps, func(app totpApp) bool { return app.confirmed })
}
