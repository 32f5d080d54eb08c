package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Enrollment is the enrollment aggregate: a single-use link, bound to an account, that a
// device completes by presenting its public key.
type Enrollment struct {
	id           EnrollmentTokenID
	accountID    uuid.UUID
	expiresAt    time.Time
	completedBy  uuid.UUID
	completedKey []byte
	completedAt  time.Time
	expired      bool
}

// StartEnrollment opens an enrollment for Account (the folded account aggregate). TokenID
// is the ID of a token drawn with NewEnrollmentToken; the token itself stays with the caller.
type StartEnrollment struct {
	TokenID EnrollmentTokenID
	Account *Account
}

// CompleteEnrollment is a device presenting the token and its public key.
type CompleteEnrollment struct {
	DeviceID  uuid.UUID
	PublicKey []byte
}

// ExpireEnrollment closes an enrollment whose time ran out.
type ExpireEnrollment struct{}

// LoadEnrollment folds the events of an enrollment stream.
func LoadEnrollment(events []Event) (*Enrollment, error) {
	en := &Enrollment{}
	for _, e := range events {
		switch e := e.(type) {
		case EnrollmentStarted:
			en.id, en.accountID, en.expiresAt = e.EnrollmentID, e.AccountID, e.ExpiresAt
		case EnrollmentCompleted:
			en.completedBy, en.completedKey, en.completedAt = e.DeviceID, e.PublicKey, e.At
		case EnrollmentExpired:
			en.expired = true
		default:
			return nil, fmt.Errorf("load enrollment: %w: %q does not belong to an enrollment stream", ErrMalformedEvent, e.EventType())
		}
	}
	return en, nil
}

// Exists reports whether the enrollment was started.
func (en *Enrollment) Exists() bool { return en.accountID != uuid.Nil }

// ID returns the enrollment's ID.
func (en *Enrollment) ID() EnrollmentTokenID { return en.id }

// AccountID returns the account the enrollment is bound to.
func (en *Enrollment) AccountID() uuid.UUID { return en.accountID }

// ExpiresAt returns when the enrollment link stops working.
func (en *Enrollment) ExpiresAt() time.Time { return en.expiresAt }

// CompletedBy returns the device that completed the enrollment, or uuid.Nil.
func (en *Enrollment) CompletedBy() uuid.UUID { return en.completedBy }

// Start decides StartEnrollment; the link expires after p.EnrollmentTTL.
func (en *Enrollment) Start(cmd StartEnrollment, now time.Time, p Policy) Decision {
	switch {
	case en.Exists():
		return refuse(ErrEnrollmentExists)
	case cmd.Account == nil || !cmd.Account.Exists():
		return refuse(ErrAccountNotFound)
	case cmd.TokenID.IsZero():
		return refuse(fmt.Errorf("start enrollment: %w: token ID is required", ErrInvalidCommand))
	}
	return accept(EnrollmentStarted{EnrollmentID: cmd.TokenID, AccountID: cmd.Account.id, ExpiresAt: now.Add(p.EnrollmentTTL), At: now})
}

// Complete decides CompleteEnrollment. A late device gets ErrEnrollmentExpired (with the
// EnrollmentExpired event, the first time); a second device gets ErrEnrollmentUsed.
func (en *Enrollment) Complete(cmd CompleteEnrollment, now time.Time) Decision {
	switch {
	case !en.Exists():
		return refuse(ErrEnrollmentNotFound)
	case en.completedBy != uuid.Nil:
		return refuse(ErrEnrollmentUsed)
	case en.expired:
		return refuse(ErrEnrollmentExpired)
	case !now.Before(en.expiresAt):
		return fail(ErrEnrollmentExpired, EnrollmentExpired{EnrollmentID: en.id, AccountID: en.accountID, At: now})
	case cmd.DeviceID == uuid.Nil || !validPublicKey(cmd.PublicKey):
		return refuse(fmt.Errorf("complete enrollment: %w: device ID and a 32-byte Ed25519 public key are required", ErrInvalidCommand))
	}
	return accept(EnrollmentCompleted{EnrollmentID: en.id, AccountID: en.accountID, DeviceID: cmd.DeviceID, PublicKey: slices.Clone(cmd.PublicKey), At: now})
}

// Expire decides ExpireEnrollment. Expiring an expired enrollment is a no-op.
func (en *Enrollment) Expire(_ ExpireEnrollment, now time.Time) Decision {
	switch {
	case !en.Exists():
		return refuse(ErrEnrollmentNotFound)
	case en.completedBy != uuid.Nil:
		return refuse(ErrEnrollmentUsed)
	case en.expired:
		return Decision{}
	case now.Before(en.expiresAt):
		return refuse(fmt.Errorf("expire enrollment: %w: the enrollment has not expired yet", ErrInvalidCommand))
	}
	return accept(EnrollmentExpired{EnrollmentID: en.id, AccountID: en.accountID, At: now})
}
