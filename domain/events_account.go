package domain

import (
	"time"

	"github.com/google/uuid"
)

// Event is a fact that happened. Every event type has a permanent, dotted type string and is
// listed in the registry; its fields are its JSON schema. Events hold no secret in the
// clear: passwords are argon2id hashes, TOTP secrets are sealed (AES-256-GCM) bytes and
// backup codes are keyed hashes.
type Event interface {
	// EventType returns the permanent type string.
	EventType() string
	// OccurredAt returns the time passed to the decision that produced the event.
	OccurredAt() time.Time
}

// EmailClaimed: an email address was reserved for an account. It is the only event of
// the email's uniqueness stream and carries no address: the stream name is its hash.
type EmailClaimed struct {
	AccountID uuid.UUID `json:"account_id"`
	At        time.Time `json:"at"`
}

// AccountRegistered: an account was created with an email and an argon2id password hash.
type AccountRegistered struct {
	AccountID    uuid.UUID `json:"account_id" assent:"owner"`
	Email        Email     `json:"email" assent:"personal"`
	PasswordHash string    `json:"password_hash" assent:"secret,personal"`
	At           time.Time `json:"at"`
}

// PasswordChanged: the account's password hash was replaced.
type PasswordChanged struct {
	AccountID    uuid.UUID `json:"account_id" assent:"owner"`
	PasswordHash string    `json:"password_hash" assent:"secret,personal"`
	At           time.Time `json:"at"`
}

// SignInFailed: a wrong password was given for the account, from Source (empty in events
// older than the field). It counts toward that source's sign-in lock, not the second factor's.
type SignInFailed struct {
	AccountID uuid.UUID    `json:"account_id" assent:"owner"`
	Source    SignInSource `json:"source,omitempty" assent:"personal"`
	At        time.Time    `json:"at"`
}

// SignInLocked: wrong passwords from Source reached the threshold: until Until, no password
// for the account from that source is checked. Other sources are not affected.
type SignInLocked struct {
	AccountID uuid.UUID    `json:"account_id" assent:"owner"`
	Source    SignInSource `json:"source" assent:"personal"`
	Failures  int          `json:"failures"`
	Until     time.Time    `json:"until"`
	At        time.Time    `json:"at"`
}

// SignedOut: a session of the account was signed out before it expired. Every node refuses
// the session from then on, until Until, when it would have expired anyway. The session is
// named by the SHA-256 of its ID, which is all a node needs to recognise it.
type SignedOut struct {
	AccountID     uuid.UUID `json:"account_id"`
	SessionDigest []byte    `json:"session_digest"`
	Until         time.Time `json:"until"`
	At            time.Time `json:"at"`
}

// MFAEnabled: two-factor authentication was turned on.
type MFAEnabled struct {
	AccountID uuid.UUID `json:"account_id"`
	At        time.Time `json:"at"`
}

// MFADisabled: two-factor authentication was turned off; TOTP apps and backup codes are
// dropped with it (devices are unlinked by their own events just before).
type MFADisabled struct {
	AccountID uuid.UUID `json:"account_id"`
	At        time.Time `json:"at"`
}

// MFALocked: too many failures in the window; the second factor is locked until Until.
type MFALocked struct {
	AccountID uuid.UUID `json:"account_id"`
	Failures  int       `json:"failures"`
	Until     time.Time `json:"until"`
	At        time.Time `json:"at"`
}

// PushMuted: a fraud report muted pushes for the account until Until.
type PushMuted struct {
	AccountID   uuid.UUID `json:"account_id"`
	ChallengeID uuid.UUID `json:"challenge_id"`
	Until       time.Time `json:"until"`
	At          time.Time `json:"at"`
}

// SignInChallenged: the account opened a challenge after a correct password; it is the
// account's pending challenge until it expires or a newer one replaces it.
type SignInChallenged struct {
	AccountID   uuid.UUID `json:"account_id"`
	ChallengeID uuid.UUID `json:"challenge_id"`
	Superseded  uuid.UUID `json:"superseded,omitzero"`
	ExpiresAt   time.Time `json:"expires_at"`
	At          time.Time `json:"at"`
}

// ChallengeFailed mirrors, in the account stream, a failure recorded in a challenge stream
// (a wrong number, a denial, a fraud report) so that it counts toward the lockout.
type ChallengeFailed struct {
	AccountID   uuid.UUID     `json:"account_id"`
	ChallengeID uuid.UUID     `json:"challenge_id"`
	DeviceID    uuid.UUID     `json:"device_id"`
	Reason      FailureReason `json:"reason"`
	At          time.Time     `json:"at"`
}

// DeviceLinked: a device was linked to the account and given its own TOTP secret for it,
// sealed by the application layer. It lives in the account stream, which owns the link.
type DeviceLinked struct {
	AccountID        uuid.UUID         `json:"account_id" assent:"owner"`
	DeviceID         uuid.UUID         `json:"device_id"`
	PublicKey        []byte            `json:"public_key"`
	Name             string            `json:"name" assent:"personal"`
	Method           LinkMethod        `json:"method"`
	EnrollmentID     EnrollmentTokenID `json:"enrollment_id,omitzero"`
	SealedTOTPSecret []byte            `json:"sealed_totp_secret" assent:"secret"`
	At               time.Time         `json:"at"`
}

// DeviceUnlinked: a device was unlinked from the account; it gets no further challenges
// for it and its TOTP secret for the account stops working.
type DeviceUnlinked struct {
	AccountID uuid.UUID `json:"account_id"`
	DeviceID  uuid.UUID `json:"device_id"`
	At        time.Time `json:"at"`
}

// TOTPAppAdded: a standard authenticator app was offered a secret (sealed); it works once
// confirmed.
type TOTPAppAdded struct {
	AccountID    uuid.UUID `json:"account_id" assent:"owner"`
	AppID        uuid.UUID `json:"app_id"`
	Name         string    `json:"name" assent:"personal"`
	SealedSecret []byte    `json:"sealed_secret" assent:"secret"`
	At           time.Time `json:"at"`
}

// TOTPAppConfirmed: the app proved it holds the secret with a first valid code of Step.
type TOTPAppConfirmed struct {
	AccountID uuid.UUID `json:"account_id"`
	AppID     uuid.UUID `json:"app_id"`
	Step      uint64    `json:"step"`
	At        time.Time `json:"at"`
}

// TOTPCodeUsed: a TOTP code of Step for the secret SecretID (a device ID or an app ID) was
// accepted for a challenge; no code of that step or older works again for that secret.
type TOTPCodeUsed struct {
	AccountID   uuid.UUID `json:"account_id"`
	ChallengeID uuid.UUID `json:"challenge_id"`
	SecretID    uuid.UUID `json:"secret_id"`
	Step        uint64    `json:"step"`
	At          time.Time `json:"at"`
}

// TOTPCheckFailed: a typed TOTP code matched no secret, or matched a used step. SecretID is
// zero when no secret matched; ChallengeID is zero for an app's confirmation.
type TOTPCheckFailed struct {
	AccountID   uuid.UUID     `json:"account_id"`
	ChallengeID uuid.UUID     `json:"challenge_id,omitzero"`
	SecretID    uuid.UUID     `json:"secret_id,omitzero"`
	Reason      FailureReason `json:"reason"`
	At          time.Time     `json:"at"`
}

// BackupCodesIssued: a new set of backup codes, kept only as keyed hashes ("keyID:mac"),
// replaced any earlier set.
type BackupCodesIssued struct {
	AccountID uuid.UUID `json:"account_id"`
	SetID     uuid.UUID `json:"set_id"`
	Hashes    []string  `json:"hashes" assent:"secret"`
	At        time.Time `json:"at"`
}

// BackupCodeUsed: the code at Index of set SetID was used for a challenge.
type BackupCodeUsed struct {
	AccountID   uuid.UUID `json:"account_id"`
	SetID       uuid.UUID `json:"set_id"`
	Index       int       `json:"index"`
	ChallengeID uuid.UUID `json:"challenge_id"`
	At          time.Time `json:"at"`
}

// BackupCodeCheckFailed: a typed backup code matched no unused code of the current set.
type BackupCodeCheckFailed struct {
	AccountID   uuid.UUID     `json:"account_id"`
	ChallengeID uuid.UUID     `json:"challenge_id"`
	Reason      FailureReason `json:"reason"`
	At          time.Time     `json:"at"`
}

func (EmailClaimed) EventType() string          { return "email.claimed" }
func (AccountRegistered) EventType() string     { return "account.registered" }
func (PasswordChanged) EventType() string       { return "account.password.changed" }
func (SignInFailed) EventType() string          { return "account.signin.failed" }
func (SignInLocked) EventType() string          { return "account.signin.locked" }
func (SignedOut) EventType() string             { return "account.signed_out" }
func (MFAEnabled) EventType() string            { return "account.mfa.enabled" }
func (MFADisabled) EventType() string           { return "account.mfa.disabled" }
func (MFALocked) EventType() string             { return "account.mfa.locked" }
func (PushMuted) EventType() string             { return "account.push.muted" }
func (SignInChallenged) EventType() string      { return "account.signin.challenged" }
func (ChallengeFailed) EventType() string       { return "account.challenge.failed" }
func (DeviceLinked) EventType() string          { return "device.linked" }
func (DeviceUnlinked) EventType() string        { return "device.unlinked" }
func (TOTPAppAdded) EventType() string          { return "totpapp.added" }
func (TOTPAppConfirmed) EventType() string      { return "totpapp.confirmed" }
func (TOTPCodeUsed) EventType() string          { return "totp.code.used" }
func (TOTPCheckFailed) EventType() string       { return "totp.check.failed" }
func (BackupCodesIssued) EventType() string     { return "backupcodes.issued" }
func (BackupCodeUsed) EventType() string        { return "backupcodes.used" }
func (BackupCodeCheckFailed) EventType() string { return "backupcodes.check.failed" }

func (e EmailClaimed) OccurredAt() time.Time          { return e.At }
func (e AccountRegistered) OccurredAt() time.Time     { return e.At }
func (e PasswordChanged) OccurredAt() time.Time       { return e.At }
func (e SignInFailed) OccurredAt() time.Time          { return e.At }
func (e SignInLocked) OccurredAt() time.Time          { return e.At }
func (e SignedOut) OccurredAt() time.Time             { return e.At }
func (e MFAEnabled) OccurredAt() time.Time            { return e.At }
func (e MFADisabled) OccurredAt() time.Time           { return e.At }
func (e MFALocked) OccurredAt() time.Time             { return e.At }
func (e PushMuted) OccurredAt() time.Time             { return e.At }
func (e SignInChallenged) OccurredAt() time.Time      { return e.At }
func (e ChallengeFailed) OccurredAt() time.Time       { return e.At }
func (e DeviceLinked) OccurredAt() time.Time          { return e.At }
func (e DeviceUnlinked) OccurredAt() time.Time        { return e.At }
func (e TOTPAppAdded) OccurredAt() time.Time          { return e.At }
func (e TOTPAppConfirmed) OccurredAt() time.Time      { return e.At }
func (e TOTPCodeUsed) OccurredAt() time.Time          { return e.At }
func (e TOTPCheckFailed) OccurredAt() time.Time       { return e.At }
func (e BackupCodesIssued) OccurredAt() time.Time     { return e.At }
func (e BackupCodeUsed) OccurredAt() time.Time        { return e.At }
func (e BackupCodeCheckFailed) OccurredAt() time.Time { return e.At }
