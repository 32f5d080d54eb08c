package domain

import (
	"time"

	"github.com/google/uuid"
)

// DeviceRegistered: a device introduced its Ed25519 public key. It is the first event of
// the device stream; links to accounts live in the accounts' streams.
type DeviceRegistered struct {
	DeviceID  uuid.UUID `json:"device_id" assent:"owner"`
	PublicKey []byte    `json:"public_key"`
	Name      string    `json:"name" assent:"personal"`
	Platform  string    `json:"platform" assent:"personal"`
	At        time.Time `json:"at"`
}

// EnrollmentStarted: an enrollment link for the account was created. The token itself is
// never stored; EnrollmentID is a hash of it.
type EnrollmentStarted struct {
	EnrollmentID EnrollmentTokenID `json:"enrollment_id"`
	AccountID    uuid.UUID         `json:"account_id"`
	ExpiresAt    time.Time         `json:"expires_at"`
	At           time.Time         `json:"at"`
}

// EnrollmentCompleted: a device presented the token and its public key. The link itself is
// the DeviceLinked event that follows in the account stream.
type EnrollmentCompleted struct {
	EnrollmentID EnrollmentTokenID `json:"enrollment_id"`
	AccountID    uuid.UUID         `json:"account_id"`
	DeviceID     uuid.UUID         `json:"device_id"`
	PublicKey    []byte            `json:"public_key"`
	At           time.Time         `json:"at"`
}

// EnrollmentExpired: the enrollment link ran out unused.
type EnrollmentExpired struct {
	EnrollmentID EnrollmentTokenID `json:"enrollment_id"`
	AccountID    uuid.UUID         `json:"account_id"`
	At           time.Time         `json:"at"`
}

// ChallengeDevice is a device a challenge was sent to, with the key its answer must verify under.
type ChallengeDevice struct {
	DeviceID  uuid.UUID `json:"device_id"`
	PublicKey []byte    `json:"public_key"`
}

// ChallengeIssued: a sign-in needs a second factor. Number is shown on the login page only;
// transport must never send it to a device. Devices is empty when pushes are muted or no
// device is linked; the login page then asks for a code.
type ChallengeIssued struct {
	ChallengeID   uuid.UUID         `json:"challenge_id"`
	AccountID     uuid.UUID         `json:"account_id" assent:"owner"`
	Number        MatchNumber       `json:"number"`
	Context       LoginContext      `json:"context"`
	ContextDigest []byte            `json:"context_digest"`
	Devices       []ChallengeDevice `json:"devices"`
	PushMuted     bool              `json:"push_muted,omitempty"`
	ExpiresAt     time.Time         `json:"expires_at"`
	At            time.Time         `json:"at"`
}

// ChallengeDelivered: a device acknowledged that it received the challenge.
type ChallengeDelivered struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	DeviceID    uuid.UUID `json:"device_id"`
	At          time.Time `json:"at"`
}

// ChallengeApproved: a device approved with the right number and a valid signature over
// SignedAnswerPayload(challenge, AnswerApprove, Number, context digest). Final.
type ChallengeApproved struct {
	ChallengeID uuid.UUID   `json:"challenge_id"`
	AccountID   uuid.UUID   `json:"account_id"`
	DeviceID    uuid.UUID   `json:"device_id"`
	Number      MatchNumber `json:"number"`
	Signature   []byte      `json:"signature"`
	At          time.Time   `json:"at"`
}

// ChallengeDenied: a device said NO, signed with the number 00. Final.
type ChallengeDenied struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	AccountID   uuid.UUID `json:"account_id"`
	DeviceID    uuid.UUID `json:"device_id"`
	Signature   []byte    `json:"signature"`
	At          time.Time `json:"at"`
}

// FraudReported: a device said "This wasn't me", signed with the number 00. Final; the
// account's pushes are then muted.
type FraudReported struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	AccountID   uuid.UUID `json:"account_id"`
	DeviceID    uuid.UUID `json:"device_id"`
	Signature   []byte    `json:"signature"`
	At          time.Time `json:"at"`
}

// NumberMismatched: a device approved, with a valid signature, a number other than the one
// shown. Not final: the challenge stays pending.
type NumberMismatched struct {
	ChallengeID uuid.UUID   `json:"challenge_id"`
	AccountID   uuid.UUID   `json:"account_id"`
	DeviceID    uuid.UUID   `json:"device_id"`
	Typed       MatchNumber `json:"typed"`
	Signature   []byte      `json:"signature"`
	At          time.Time   `json:"at"`
}

// ChallengeExpired: nobody answered in time. Final.
type ChallengeExpired struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	AccountID   uuid.UUID `json:"account_id"`
	At          time.Time `json:"at"`
}

// ChallengeCancelled: the challenge was withdrawn. Final.
type ChallengeCancelled struct {
	ChallengeID uuid.UUID    `json:"challenge_id"`
	AccountID   uuid.UUID    `json:"account_id"`
	Reason      CancelReason `json:"reason"`
	At          time.Time    `json:"at"`
}

// ChallengeCompletedTOTP: the challenge passed with a TOTP code (recorded as TOTPCodeUsed in
// the account stream first). Final.
type ChallengeCompletedTOTP struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	AccountID   uuid.UUID `json:"account_id"`
	SecretID    uuid.UUID `json:"secret_id"`
	Step        uint64    `json:"step"`
	At          time.Time `json:"at"`
}

// ChallengeCompletedBackupCode: the challenge passed with a backup code (recorded as
// BackupCodeUsed in the account stream first). Final.
type ChallengeCompletedBackupCode struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	AccountID   uuid.UUID `json:"account_id"`
	SetID       uuid.UUID `json:"set_id"`
	Index       int       `json:"index"`
	At          time.Time `json:"at"`
}

// ChallengeRedeemed: a passed challenge was spent, once, on Purpose. For RedeemSession,
// SessionDigest is the SHA-256 of the new session's ID (as account.signed_out names it).
// After it, the challenge opens nothing more.
type ChallengeRedeemed struct {
	ChallengeID   uuid.UUID     `json:"challenge_id"`
	AccountID     uuid.UUID     `json:"account_id"`
	Purpose       RedeemPurpose `json:"purpose"`
	SessionDigest []byte        `json:"session_digest,omitempty"`
	At            time.Time     `json:"at"`
}

func (DeviceRegistered) EventType() string             { return "device.registered" }
func (EnrollmentStarted) EventType() string            { return "enrollment.started" }
func (EnrollmentCompleted) EventType() string          { return "enrollment.completed" }
func (EnrollmentExpired) EventType() string            { return "enrollment.expired" }
func (ChallengeIssued) EventType() string              { return "challenge.issued" }
func (ChallengeDelivered) EventType() string           { return "challenge.delivered" }
func (ChallengeApproved) EventType() string            { return "challenge.approved" }
func (ChallengeDenied) EventType() string              { return "challenge.denied" }
func (FraudReported) EventType() string                { return "challenge.fraud.reported" }
func (NumberMismatched) EventType() string             { return "challenge.number.mismatched" }
func (ChallengeExpired) EventType() string             { return "challenge.expired" }
func (ChallengeCancelled) EventType() string           { return "challenge.cancelled" }
func (ChallengeCompletedTOTP) EventType() string       { return "challenge.completed.totp" }
func (ChallengeCompletedBackupCode) EventType() string { return "challenge.completed.backupcode" }
func (ChallengeRedeemed) EventType() string            { return "challenge.redeemed" }

func (e DeviceRegistered) OccurredAt() time.Time             { return e.At }
func (e EnrollmentStarted) OccurredAt() time.Time            { return e.At }
func (e EnrollmentCompleted) OccurredAt() time.Time          { return e.At }
func (e EnrollmentExpired) OccurredAt() time.Time            { return e.At }
func (e ChallengeIssued) OccurredAt() time.Time              { return e.At }
func (e ChallengeDelivered) OccurredAt() time.Time           { return e.At }
func (e ChallengeApproved) OccurredAt() time.Time            { return e.At }
func (e ChallengeDenied) OccurredAt() time.Time              { return e.At }
func (e FraudReported) OccurredAt() time.Time                { return e.At }
func (e NumberMismatched) OccurredAt() time.Time             { return e.At }
func (e ChallengeExpired) OccurredAt() time.Time             { return e.At }
func (e ChallengeCancelled) OccurredAt() time.Time           { return e.At }
func (e ChallengeCompletedTOTP) OccurredAt() time.Time       { return e.At }
func (e ChallengeCompletedBackupCode) OccurredAt() time.Time { return e.At }
func (e ChallengeRedeemed) OccurredAt() time.Time            { return e.At }
