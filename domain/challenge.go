package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Challenge is the challenge aggregate: one sign-in's request for a second factor, folded
// from the challenge stream. It ends in exactly one final outcome: approved, denied, fraud
// reported, expired, cancelled, or completed with a TOTP or a backup code.
type Challenge struct {
	id        uuid.UUID
	accountID uuid.UUID
	number    MatchNumber
	context   LoginContext
	digest    []byte
	devices   []ChallengeDevice
	delivered []uuid.UUID
	muted     bool
	expiresAt time.Time
	outcome   Outcome
	decidedAt time.Time
	redeemed  RedeemPurpose
	locked    bool // cancelled because the account's second factor locked
}

// LoadChallenge folds the events of a challenge stream.
func LoadChallenge(events []Event) (*Challenge, error) {
	c := &Challenge{}
	for _, e := range events {
		switch e := e.(type) {
		case ChallengeIssued:
			c.id, c.accountID, c.number, c.context = e.ChallengeID, e.AccountID, e.Number, e.Context
			c.digest, c.devices, c.muted, c.expiresAt = e.ContextDigest, e.Devices, e.PushMuted, e.ExpiresAt
		case ChallengeDelivered:
			c.delivered = append(c.delivered, e.DeviceID)
		case NumberMismatched:
		case ChallengeCancelled:
			c.outcome, c.decidedAt, c.locked = e.Outcome(), e.At, e.Reason == CancelLocked
		case FinalEvent:
			c.outcome, c.decidedAt = e.Outcome(), e.OccurredAt()
		case ChallengeRedeemed:
			c.redeemed = e.Purpose
		default:
			return nil, fmt.Errorf("load challenge: %w: %q does not belong to a challenge stream", ErrMalformedEvent, e.EventType())
		}
	}
	return c, nil
}

// Exists reports whether the challenge was issued.
func (c *Challenge) Exists() bool { return c.id != uuid.Nil }

// ID returns the challenge's ID.
func (c *Challenge) ID() uuid.UUID { return c.id }

// AccountID returns the account the challenge is for.
func (c *Challenge) AccountID() uuid.UUID { return c.accountID }

// Number returns the number the login page shows. Never send it to a device.
func (c *Challenge) Number() MatchNumber { return c.number }

// Context returns the login context the device shows.
func (c *Challenge) Context() LoginContext { return c.context }

// ContextDigest returns the digest that answers sign.
func (c *Challenge) ContextDigest() []byte { return slices.Clone(c.digest) }

// Devices returns the devices the challenge was sent to.
func (c *Challenge) Devices() []ChallengeDevice { return slices.Clone(c.devices) }

// ExpiresAt returns when the challenge expires.
func (c *Challenge) ExpiresAt() time.Time { return c.expiresAt }

// Outcome returns how the challenge ended, or the zero Outcome while it is open.
func (c *Challenge) Outcome() Outcome { return c.outcome }

// Pending reports whether the challenge still waits for an answer at now.
func (c *Challenge) Pending(now time.Time) bool {
	return c.Exists() && c.outcome.IsZero() && now.Before(c.expiresAt)
}

// PendingFor reports whether the challenge waits at now for an answer from device: what a
// reconnecting device is sent again.
func (c *Challenge) PendingFor(device uuid.UUID, now time.Time) bool {
	return c.Pending(now) && c.listed(device) != nil
}

// Passed reports whether the challenge was approved or completed with a code.
func (c *Challenge) Passed() bool { return c.outcome.Passed() }

// Redeemed returns what the passed challenge was spent on, or the zero purpose while it is
// unspent.
func (c *Challenge) Redeemed() RedeemPurpose { return c.redeemed }

// DecidedAt returns the time of the final outcome, or the zero time.
func (c *Challenge) DecidedAt() time.Time { return c.decidedAt }

func (c *Challenge) listed(device uuid.UUID) *ChallengeDevice {
	for i := range c.devices {
		if c.devices[i].DeviceID == device {
			return &c.devices[i]
		}
	}
	return nil
}
