package domain

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// AcknowledgeDelivery is a device telling that it received the challenge.
type AcknowledgeDelivery struct{ DeviceID uuid.UUID }

// ApproveChallenge is a device's YES: the number typed on the device and its signature
// over SignedAnswerPayload(challenge, AnswerApprove, Number, context digest). Lockout is the
// account's lockout state at the answer (Account.Lockout): while it is locked the challenge
// ends, and a wrong number that takes the account's last failure ends it too, in the same
// append, so that no later answer, right or wrong, is evaluated.
type ApproveChallenge struct {
	DeviceID  uuid.UUID
	Number    MatchNumber
	Signature []byte
	Lockout   Lockout
}

// DenyChallenge is a device's NO, signed over SignedAnswerPayload(challenge, AnswerDeny, 0, digest).
type DenyChallenge struct {
	DeviceID  uuid.UUID
	Signature []byte
}

// ReportFraud is a device's "This wasn't me", signed over
// SignedAnswerPayload(challenge, AnswerFraud, 0, digest).
type ReportFraud struct {
	DeviceID  uuid.UUID
	Signature []byte
}

// ExpireChallenge closes a challenge nobody answered in time.
type ExpireChallenge struct{}

// CancelChallenge withdraws a challenge.
type CancelChallenge struct{ Reason CancelReason }

// CompleteWithTOTP passes the challenge with a TOTP code that the account accepted
// (TOTPCodeUsed) for this challenge.
type CompleteWithTOTP struct {
	SecretID uuid.UUID
	Step     uint64
}

// CompleteWithBackupCode passes the challenge with a backup code that the account accepted
// (BackupCodeUsed) for this challenge.
type CompleteWithBackupCode struct {
	SetID uuid.UUID
	Index int
}

// open checks that the challenge can still take an outcome at now. A challenge past its
// expiry that has no final event yet returns the ChallengeExpired event with the error, so
// that the first late answer also closes it.
func (c *Challenge) open(now time.Time) (Decision, bool) {
	switch {
	case !c.Exists():
		return refuse(ErrChallengeNotFound), false
	case c.locked:
		return refuse(ErrChallengeLocked), false
	case !c.outcome.IsZero():
		return refuse(ErrChallengeAlreadyDecided), false
	case !now.Before(c.expiresAt):
		return fail(ErrChallengeExpired, ChallengeExpired{ChallengeID: c.id, AccountID: c.accountID, At: now}), false
	}
	return Decision{}, true
}

// answerable adds to open the checks of a device's answer: listed device, valid signature.
func (c *Challenge) answerable(device uuid.UUID, answer Answer, number MatchNumber, sig []byte, now time.Time) (Decision, bool) {
	if d, ok := c.open(now); !ok {
		return d, false
	}
	listed := c.listed(device)
	if listed == nil {
		return refuse(ErrDeviceNotLinked), false
	}
	if !verifyAnswer(listed.PublicKey, sig, c.id, answer, number, c.digest) {
		return refuse(ErrBadSignature), false
	}
	return Decision{}, true
}

// AcknowledgeDelivery decides AcknowledgeDelivery. A repeated acknowledgement is a no-op.
func (c *Challenge) AcknowledgeDelivery(cmd AcknowledgeDelivery, now time.Time) Decision {
	if d, ok := c.open(now); !ok {
		return d
	}
	switch {
	case c.listed(cmd.DeviceID) == nil:
		return refuse(ErrDeviceNotLinked)
	case slices.Contains(c.delivered, cmd.DeviceID):
		return Decision{}
	}
	return accept(ChallengeDelivered{ChallengeID: c.id, DeviceID: cmd.DeviceID, At: now})
}

// Approve decides ApproveChallenge. A valid signature over a wrong number returns the
// NumberMismatched event with ErrWrongNumber and leaves the challenge open, unless that
// failure locks the account: then the challenge is cancelled (CancelLocked) in the same
// decision. While the account is locked, any approval cancels the challenge unevaluated and
// returns ErrChallengeLocked.
func (c *Challenge) Approve(cmd ApproveChallenge, now time.Time) Decision {
	if d, ok := c.answerable(cmd.DeviceID, AnswerApprove, cmd.Number, cmd.Signature, now); !ok {
		return d
	}
	if cmd.Lockout.Locked {
		return fail(ErrChallengeLocked, c.lockedOut(now))
	}
	if cmd.Number != c.number {
		mismatch := NumberMismatched{
			ChallengeID: c.id, AccountID: c.accountID, DeviceID: cmd.DeviceID, Typed: cmd.Number, Signature: cmd.Signature, At: now,
		}
		if cmd.Lockout.FailuresLeft <= 1 {
			return fail(ErrWrongNumber, mismatch, c.lockedOut(now))
		}
		return fail(ErrWrongNumber, mismatch)
	}
	return accept(ChallengeApproved{ChallengeID: c.id, AccountID: c.accountID, DeviceID: cmd.DeviceID, Number: cmd.Number, Signature: cmd.Signature, At: now})
}

// Deny decides DenyChallenge.
func (c *Challenge) Deny(cmd DenyChallenge, now time.Time) Decision {
	if d, ok := c.answerable(cmd.DeviceID, AnswerDeny, 0, cmd.Signature, now); !ok {
		return d
	}
	return accept(ChallengeDenied{ChallengeID: c.id, AccountID: c.accountID, DeviceID: cmd.DeviceID, Signature: cmd.Signature, At: now})
}

// ReportFraud decides ReportFraud.
func (c *Challenge) ReportFraud(cmd ReportFraud, now time.Time) Decision {
	if d, ok := c.answerable(cmd.DeviceID, AnswerFraud, 0, cmd.Signature, now); !ok {
		return d
	}
	return accept(FraudReported{ChallengeID: c.id, AccountID: c.accountID, DeviceID: cmd.DeviceID, Signature: cmd.Signature, At: now})
}

// Expire decides ExpireChallenge: ErrChallengeNotExpired before the expiry.
func (c *Challenge) Expire(_ ExpireChallenge, now time.Time) Decision {
	if d, ok := c.open(now); !ok {
		if errors.Is(d.Err, ErrChallengeExpired) {
			return Decision{Events: d.Events}
		}
		return d
	}
	return refuse(ErrChallengeNotExpired)
}

func (c *Challenge) lockedOut(now time.Time) Event {
	return ChallengeCancelled{ChallengeID: c.id, AccountID: c.accountID, Reason: CancelLocked, At: now}
}

// Cancel decides CancelChallenge.
func (c *Challenge) Cancel(cmd CancelChallenge, now time.Time) Decision {
	if d, ok := c.open(now); !ok {
		return d
	}
	if cmd.Reason == (CancelReason{}) {
		return refuse(fmt.Errorf("cancel challenge: %w: a reason is required", ErrInvalidCommand))
	}
	return accept(ChallengeCancelled{ChallengeID: c.id, AccountID: c.accountID, Reason: cmd.Reason, At: now})
}

// CompleteWithTOTP decides CompleteWithTOTP. Decide it before UseTOTPCode so that a code
// is not spent on a challenge that cannot take it.
func (c *Challenge) CompleteWithTOTP(cmd CompleteWithTOTP, now time.Time) Decision {
	if d, ok := c.open(now); !ok {
		return d
	}
	if cmd.SecretID == uuid.Nil {
		return refuse(fmt.Errorf("complete with totp: %w: secret ID is required", ErrInvalidCommand))
	}
	return accept(ChallengeCompletedTOTP{ChallengeID: c.id, AccountID: c.accountID, SecretID: cmd.SecretID, Step: cmd.Step, At: now})
}

// CompleteWithBackupCode decides CompleteWithBackupCode. Decide it before UseBackupCode.
func (c *Challenge) CompleteWithBackupCode(cmd CompleteWithBackupCode, now time.Time) Decision {
	if d, ok := c.open(now); !ok {
		return d
	}
	if cmd.SetID == uuid.Nil || cmd.Index < 0 || cmd.Index >= backupCodesPerSet {
		return refuse(fmt.Errorf("complete with backup code: %w: set ID and an index from 0 to %d are required", ErrInvalidCommand, backupCodesPerSet-1))
	}
	return accept(ChallengeCompletedBackupCode{ChallengeID: c.id, AccountID: c.accountID, SetID: cmd.SetID, Index: cmd.Index, At: now})
}
