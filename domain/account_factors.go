package domain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// TOTP time steps, as secrets.TOTPPeriod and secrets.TOTPSkew define them (a test checks
// that they agree).
const (
	totpPeriodSeconds = 30
	totpSkew          = 1
	// backupCodesPerSet is secrets.BackupCodesPerSet.
	backupCodesPerSet = 10
)

// BackupCodeSet is a new set of backup codes as the domain sees it: keyed hashes only
// (secrets.CodeHasher.Hash), never the codes.
type BackupCodeSet struct {
	SetID  uuid.UUID
	Hashes []string
}

func (s BackupCodeSet) validate() error {
	if s.SetID == uuid.Nil || len(s.Hashes) != backupCodesPerSet {
		return fmt.Errorf("%w: a backup code set needs an ID and %d hashes", ErrInvalidCommand, backupCodesPerSet)
	}
	seen := make(map[string]bool, len(s.Hashes))
	for _, h := range s.Hashes {
		if id, mac, ok := strings.Cut(h, ":"); !ok || id == "" || mac == "" || len(h) > 256 || seen[h] {
			return fmt.Errorf("%w: backup code hashes must be distinct 'keyID:mac' strings", ErrInvalidCommand)
		}
		seen[h] = true
	}
	return nil
}

// TOTPMatch is what the caller found by opening the account's TOTP secrets and matching a
// typed code (secrets.TOTPSecret.Match): the secret that matched and the time step.
type TOTPMatch struct {
	SecretID uuid.UUID
	Step     uint64
}

// LinkDevice links a device that completed an enrollment from a computer. Device and
// Enrollment are the folded aggregates; SealedTOTPSecret is the device's new TOTP secret for
// this account, sealed by the caller.
type LinkDevice struct {
	Device           *Device
	Enrollment       *Enrollment
	SealedTOTPSecret []byte
}

// AuthorizePhoneLink links a device from the phone itself, after the person tapped
// Authorize. PasswordVerified is the caller's argon2id check of the password the device
// sent. When 2FA is on, SecondFactor must be a challenge of this account that passed at most
// p.EnrollmentTTL ago.
type AuthorizePhoneLink struct {
	Device           *Device
	PasswordVerified bool
	SecondFactor     *Challenge
	SealedTOTPSecret []byte
}

// UnlinkDevice unlinks one device.
type UnlinkDevice struct{ DeviceID uuid.UUID }

// UnlinkAllDevices turns the app method off: every device is unlinked.
type UnlinkAllDevices struct{}

// AddTOTPApp offers a standard authenticator app a secret, sealed by the caller.
type AddTOTPApp struct {
	AppID        uuid.UUID
	Name         string
	SealedSecret []byte
}

// ConfirmTOTPApp confirms an app with its first code. Match is nil when the code matched
// nothing.
type ConfirmTOTPApp struct {
	AppID uuid.UUID
	Match *TOTPMatch
}

// IssueBackupCodes replaces the backup codes with a new set.
type IssueBackupCodes struct{ Set BackupCodeSet }

// UseTOTPCode spends a TOTP code for the account's pending challenge. Match is nil when the
// code matched none of the account's secrets.
type UseTOTPCode struct {
	ChallengeID uuid.UUID
	Match       *TOTPMatch
}

// UseBackupCode spends a backup code for the account's pending challenge. Candidates are
// the keyed hashes of the typed code under every key (secrets.CodeHasher.Candidates).
type UseBackupCode struct {
	ChallengeID uuid.UUID
	Candidates  []string
}

// LinkDevice decides LinkDevice.
func (a *Account) LinkDevice(cmd LinkDevice, now time.Time) Decision {
	if err := a.checkLink(cmd.Device, cmd.SealedTOTPSecret); err != nil {
		return refuse(fmt.Errorf("link device: %w", err))
	}
	en := cmd.Enrollment
	switch {
	case en == nil || !en.Exists() || en.accountID != a.id:
		return refuse(ErrEnrollmentNotFound)
	case slices.Contains(a.enrollments, en.id):
		return refuse(ErrEnrollmentUsed)
	case en.completedBy != cmd.Device.id || !bytes.Equal(en.completedKey, cmd.Device.publicKey):
		return refuse(fmt.Errorf("link device: %w: the enrollment was not completed by this device and key", ErrInvalidCommand))
	}
	return accept(a.linked(cmd.Device, LinkFromComputer, en.id, cmd.SealedTOTPSecret, now))
}

// AuthorizePhoneLink decides AuthorizePhoneLink.
func (a *Account) AuthorizePhoneLink(cmd AuthorizePhoneLink, now time.Time, p Policy) Decision {
	if err := a.checkLink(cmd.Device, cmd.SealedTOTPSecret); err != nil {
		return refuse(fmt.Errorf("authorize phone link: %w", err))
	}
	if !cmd.PasswordVerified {
		return refuse(ErrPasswordNotChecked)
	}
	if a.mfa {
		if locked, _ := a.Locked(now); locked {
			return refuse(a.lockedErr())
		}
		ch := cmd.SecondFactor
		if ch == nil || ch.accountID != a.id || !ch.Passed() || now.Sub(ch.decidedAt) > p.EnrollmentTTL {
			return refuse(ErrSecondFactorNeeded)
		}
	}
	return accept(a.linked(cmd.Device, LinkFromPhone, EnrollmentTokenID{}, cmd.SealedTOTPSecret, now))
}

func (a *Account) checkLink(d *Device, sealed []byte) error {
	switch {
	case !a.Exists():
		return ErrAccountNotFound
	case d == nil || !d.Exists():
		return ErrDeviceNotFound
	case a.device(d.id) != nil:
		return ErrDeviceAlreadyLinked
	case len(sealed) == 0:
		return fmt.Errorf("%w: a sealed TOTP secret is required", ErrInvalidCommand)
	}
	return nil
}

func (a *Account) linked(d *Device, m LinkMethod, enrollment EnrollmentTokenID, sealed []byte, now time.Time) Event {
	return DeviceLinked{
		AccountID: a.id, DeviceID: d.id, PublicKey: d.publicKey, Name: d.name, Method: m,
		EnrollmentID: enrollment, SealedTOTPSecret: sealed, At: now,
	}
}

// UnlinkDevice decides UnlinkDevice. With 2FA on, the last second factor is not unlinked
// (ErrLastSecondFactor): that would turn 2FA off, which needs the password and a fresh second
// factor (DisableMFA), not a session alone.
func (a *Account) UnlinkDevice(cmd UnlinkDevice, now time.Time) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	if a.device(cmd.DeviceID) == nil {
		return refuse(ErrDeviceNotLinked)
	}
	return a.unlink([]uuid.UUID{cmd.DeviceID}, now)
}

// UnlinkAllDevices decides UnlinkAllDevices. With 2FA on and no confirmed TOTP app, it is
// refused as UnlinkDevice refuses the last device (ErrLastSecondFactor).
func (a *Account) UnlinkAllDevices(_ UnlinkAllDevices, now time.Time) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	if len(a.devices) == 0 {
		return refuse(ErrDeviceNotLinked)
	}
	ids := make([]uuid.UUID, 0, len(a.devices))
	for _, d := range a.devices {
		ids = append(ids, d.id)
	}
	return a.unlink(ids, now)
}

// unlink unlinks ids, unless that leaves an account with 2FA on without a second factor.
func (a *Account) unlink(ids []uuid.UUID, now time.Time) Decision {
	hasApp := slices.ContainsFunc(a.apps, func(app totpApp) bool { return app.confirmed })
	if a.mfa && len(ids) == len(a.devices) && !hasApp {
		return refuse(ErrLastSecondFactor)
	}
	var events []Event
	for _, id := range ids {
		events = append(events, DeviceUnlinked{AccountID: a.id, DeviceID: id, At: now})
	}
	return accept(events...)
}

// AddTOTPApp decides AddTOTPApp. Name is 1 to 64 printable characters.
func (a *Account) AddTOTPApp(cmd AddTOTPApp, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case cmd.AppID == uuid.Nil || len(cmd.SealedSecret) == 0 || !validName(cmd.Name, 64):
		return refuse(fmt.Errorf("add totp app: %w: app ID, a name of 1 to 64 characters and a sealed secret are required", ErrInvalidCommand))
	case a.app(cmd.AppID) != nil || a.device(cmd.AppID) != nil:
		return refuse(fmt.Errorf("add totp app: %w: app ID already used", ErrInvalidCommand))
	}
	return accept(TOTPAppAdded{AccountID: a.id, AppID: cmd.AppID, Name: cmd.Name, SealedSecret: cmd.SealedSecret, At: now})
}

// ConfirmTOTPApp decides ConfirmTOTPApp. A wrong code is a failure: events and ErrWrongCode.
func (a *Account) ConfirmTOTPApp(cmd ConfirmTOTPApp, now time.Time, p Policy) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	app := a.app(cmd.AppID)
	switch {
	case app == nil:
		return refuse(ErrTOTPAppNotFound)
	case app.confirmed:
		return refuse(ErrTOTPAppAlreadyConfirmed)
	}
	if locked, _ := a.Locked(now); locked {
		return refuse(a.lockedErr())
	}
	if cmd.Match == nil || cmd.Match.SecretID != app.id || !stepNear(cmd.Match.Step, now) {
		return fail(ErrWrongCode, a.failure(TOTPCheckFailed{AccountID: a.id, SecretID: cmd.AppID, Reason: FailureWrongCode, At: now}, now, p)...)
	}
	return accept(TOTPAppConfirmed{AccountID: a.id, AppID: app.id, Step: cmd.Match.Step, At: now})
}

// IssueBackupCodes decides IssueBackupCodes: the new set revokes the old one.
func (a *Account) IssueBackupCodes(cmd IssueBackupCodes, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case !a.mfa:
		return refuse(ErrMFANotEnabled)
	}
	if err := cmd.Set.validate(); err != nil {
		return refuse(fmt.Errorf("issue backup codes: %w", err))
	}
	return accept(BackupCodesIssued{AccountID: a.id, SetID: cmd.Set.SetID, Hashes: cmd.Set.Hashes, At: now})
}

// checkSecondFactor holds the checks shared by UseTOTPCode and UseBackupCode.
func (a *Account) checkSecondFactor(challengeID uuid.UUID, now time.Time) error {
	switch {
	case !a.Exists():
		return ErrAccountNotFound
	case !a.mfa:
		return ErrMFANotEnabled
	case a.disabled:
		return ErrAccountDisabled
	}
	if locked, _ := a.Locked(now); locked {
		return a.lockedErr()
	}
	if pending, ok := a.PendingChallenge(now); !ok || pending != challengeID {
		return ErrChallengeNotPending
	}
	return nil
}

// UseTOTPCode decides UseTOTPCode. The step must be within one step of now and newer than
// the last step accepted for that secret: a code works once.
func (a *Account) UseTOTPCode(cmd UseTOTPCode, now time.Time, p Policy) Decision {
	if err := a.checkSecondFactor(cmd.ChallengeID, now); err != nil {
		return refuse(err)
	}
	failed := func(reason FailureReason, secret uuid.UUID, err error) Decision {
		e := TOTPCheckFailed{AccountID: a.id, ChallengeID: cmd.ChallengeID, SecretID: secret, Reason: reason, At: now}
		return fail(err, a.failure(e, now, p)...)
	}
	if cmd.Match == nil || !stepNear(cmd.Match.Step, now) {
		return failed(FailureWrongCode, uuid.Nil, ErrWrongCode)
	}
	var last uint64
	if d := a.device(cmd.Match.SecretID); d != nil {
		last = d.lastStep
	} else if app := a.app(cmd.Match.SecretID); app != nil && app.confirmed {
		last = app.lastStep
	} else {
		return failed(FailureWrongCode, uuid.Nil, ErrWrongCode)
	}
	if cmd.Match.Step <= last {
		return failed(FailureReusedCode, cmd.Match.SecretID, ErrCodeReused)
	}
	return accept(TOTPCodeUsed{AccountID: a.id, ChallengeID: cmd.ChallengeID, SecretID: cmd.Match.SecretID, Step: cmd.Match.Step, At: now})
}

// UseBackupCode decides UseBackupCode. Every stored hash is compared in constant time.
func (a *Account) UseBackupCode(cmd UseBackupCode, now time.Time, p Policy) Decision {
	if err := a.checkSecondFactor(cmd.ChallengeID, now); err != nil {
		return refuse(err)
	}
	sets := a.codeSets(now) // backup codes, then valid bypass codes (bypass.go)
	if len(sets) == 0 {
		return refuse(ErrNoBackupSet)
	}
	var set *backupSet
	found, used := -1, false
	for _, s := range sets {
		for i, stored := range s.hashes {
			for _, c := range cmd.Candidates {
				if subtle.ConstantTimeCompare([]byte(stored), []byte(c)) == 1 && found < 0 {
					set, found, used = s, i, s.used[i]
				}
			}
		}
	}
	failed := func(reason FailureReason, err error) Decision {
		e := BackupCodeCheckFailed{AccountID: a.id, ChallengeID: cmd.ChallengeID, Reason: reason, At: now}
		return fail(err, a.failure(e, now, p)...)
	}
	switch {
	case found < 0:
		return failed(FailureWrongBackupCode, ErrWrongCode)
	case used:
		return failed(FailureReusedBackupCode, ErrCodeReused)
	}
	return accept(BackupCodeUsed{AccountID: a.id, SetID: set.id, Index: found, ChallengeID: cmd.ChallengeID, At: now})
}

// stepNear reports whether step is within totpSkew steps of now's step.
func stepNear(step uint64, now time.Time) bool {
	cur := uint64(now.Unix()) / totpPeriodSeconds
	return step+totpSkew >= cur && step <= cur+totpSkew
}

// validPublicKey reports whether b is an Ed25519 public key.
func validPublicKey(b []byte) bool { return len(b) == ed25519.PublicKeySize }
