package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// ErrSessionNotFound: no session of the account has this ID.
var ErrSessionNotFound = fmt.Errorf("session not found")

// DeviceRenamed: the account holder gave a linked device a new name, as this account shows it.
type DeviceRenamed struct {
	AccountID uuid.UUID `json:"account_id" assent:"owner"`
	DeviceID  uuid.UUID `json:"device_id"`
	Name      string    `json:"name" assent:"personal"`
	At        time.Time `json:"at"`
}

// TOTPAppRenamed: the account holder gave an authenticator app a new name.
type TOTPAppRenamed struct {
	AccountID uuid.UUID `json:"account_id" assent:"owner"`
	AppID     uuid.UUID `json:"app_id"`
	Name      string    `json:"name" assent:"personal"`
	At        time.Time `json:"at"`
}

// TOTPAppRemoved: one authenticator app was removed: its codes no longer count.
type TOTPAppRemoved struct {
	AccountID uuid.UUID `json:"account_id"`
	AppID     uuid.UUID `json:"app_id"`
	At        time.Time `json:"at"`
}

func (DeviceRenamed) EventType() string  { return "device.renamed" }
func (TOTPAppRenamed) EventType() string { return "totpapp.renamed" }
func (TOTPAppRemoved) EventType() string { return "totpapp.removed" }

func (e DeviceRenamed) OccurredAt() time.Time  { return e.At }
func (e TOTPAppRenamed) OccurredAt() time.Time { return e.At }
func (e TOTPAppRemoved) OccurredAt() time.Time { return e.At }

// MaxFactorName is the longest name of a device or an authenticator app, in characters.
const MaxFactorName = 64

// RenameDevice names a linked device anew, for this account.
type RenameDevice struct {
	DeviceID uuid.UUID
	Name     string
}

// RenameTOTPApp names an authenticator app anew.
type RenameTOTPApp struct {
	AppID uuid.UUID
	Name  string
}

// RemoveTOTPApp removes one authenticator app.
type RemoveTOTPApp struct{ AppID uuid.UUID }

// RenameDevice decides RenameDevice. The name is 1 to MaxFactorName printable characters.
func (a *Account) RenameDevice(cmd RenameDevice, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case a.device(cmd.DeviceID) == nil:
		return refuse(ErrDeviceNotLinked)
	case !validName(cmd.Name, MaxFactorName):
		return refuse(fmt.Errorf("rename device: %w: a name of 1 to %d printable characters is required", ErrInvalidCommand, MaxFactorName))
	}
	return accept(DeviceRenamed{AccountID: a.id, DeviceID: cmd.DeviceID, Name: cmd.Name, At: now})
}

// RenameTOTPApp decides RenameTOTPApp, with the rule of RenameDevice for the name.
func (a *Account) RenameTOTPApp(cmd RenameTOTPApp, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrAccountNotFound)
	case a.app(cmd.AppID) == nil:
		return refuse(ErrTOTPAppNotFound)
	case !validName(cmd.Name, MaxFactorName):
		return refuse(fmt.Errorf("rename totp app: %w: a name of 1 to %d printable characters is required", ErrInvalidCommand, MaxFactorName))
	}
	return accept(TOTPAppRenamed{AccountID: a.id, AppID: cmd.AppID, Name: cmd.Name, At: now})
}

// RemoveTOTPApp decides RemoveTOTPApp. With 2FA on, the last second factor is not removed
// (ErrLastSecondFactor), as UnlinkDevice rules: an app that was never confirmed always may go.
func (a *Account) RemoveTOTPApp(cmd RemoveTOTPApp, now time.Time) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	app := a.app(cmd.AppID)
	if app == nil {
		return refuse(ErrTOTPAppNotFound)
	}
	others := slices.ContainsFunc(a.apps, func(o totpApp) bool { return o.confirmed && o.id != cmd.AppID })
	if a.mfa && app.confirmed && !others && len(a.devices) == 0 {
		return refuse(ErrLastSecondFactor)
	}
	return accept(TOTPAppRemoved{AccountID: a.id, AppID: cmd.AppID, At: now})
}

// ErrPushNotPaused: pushes of the account are not paused, there is nothing to resume.
var ErrPushNotPaused = fmt.Errorf("push not paused")

// PushResumed: the account holder resumed pushes that a fraud report had paused, with a fresh
// second factor (ChallengeID, redeemed for RedeemResumePush).
type PushResumed struct {
	AccountID   uuid.UUID `json:"account_id"`
	ChallengeID uuid.UUID `json:"challenge_id"`
	At          time.Time `json:"at"`
}

func (PushResumed) EventType() string       { return "account.push.resumed" }
func (e PushResumed) OccurredAt() time.Time { return e.At }

// ResumePush ends a pause of pushes before its time. The caller redeems ChallengeID, a fresh
// second factor, for RedeemResumePush.
type ResumePush struct{ ChallengeID uuid.UUID }

// ResumePush decides ResumePush: refused when pushes are not paused (ErrPushNotPaused) or the
// second factor is locked.
func (a *Account) ResumePush(cmd ResumePush, now time.Time) Decision {
	if !a.Exists() {
		return refuse(ErrAccountNotFound)
	}
	if muted, _ := a.PushMuted(now); !muted {
		return refuse(ErrPushNotPaused)
	}
	if locked, _ := a.Locked(now); locked {
		return refuse(a.lockedErr())
	}
	return accept(PushResumed{AccountID: a.id, ChallengeID: cmd.ChallengeID, At: now})
}
