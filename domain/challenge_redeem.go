package domain

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// RedeemWindow is how long after it passed a challenge can still be redeemed: the login page
// exchanges it at once, and a step-up (turning 2FA off, linking from the phone) follows the
// approval within minutes.
const RedeemWindow = 5 * time.Minute

// RedeemChallenge spends a passed challenge on one purpose. A challenge is redeemed once: an
// approval cannot mint a second session, nor serve both a session and a step-up.
type RedeemChallenge struct {
	Purpose RedeemPurpose
	// AccountID is the account that redeems. A step-up states the signed-in account; the
	// challenge must be that account's.
	AccountID uuid.UUID
	// SessionDigest is the SHA-256 of the new session's ID, for RedeemSession.
	SessionDigest []byte
}

// Redeem decides RedeemChallenge. A challenge of another account, one that has not passed
// and one that passed more than RedeemWindow ago give ErrSecondFactorNeeded; a challenge
// already redeemed gives ErrChallengeRedeemed. The event is appended at the challenge's exact
// version, so of two redemptions racing exactly one wins.
func (c *Challenge) Redeem(cmd RedeemChallenge, now time.Time) Decision {
	switch {
	case !c.Exists():
		return refuse(ErrChallengeNotFound)
	case cmd.Purpose == (RedeemPurpose{}):
		return refuse(fmt.Errorf("redeem challenge: %w: a purpose is required", ErrInvalidCommand))
	case cmd.AccountID == uuid.Nil:
		return refuse(fmt.Errorf("redeem challenge: %w: the account is required", ErrInvalidCommand))
	case (cmd.Purpose == RedeemSession) != (len(cmd.SessionDigest) == sha256.Size):
		return refuse(fmt.Errorf("redeem challenge: %w: a session digest goes with a session, and only with one", ErrInvalidCommand))
	case cmd.AccountID != c.accountID:
		return refuse(fmt.Errorf("redeem challenge: %w: the challenge is another account's", ErrSecondFactorNeeded))
	case c.redeemed != (RedeemPurpose{}):
		return refuse(ErrChallengeRedeemed)
	case !c.Passed():
		return refuse(fmt.Errorf("redeem challenge: %w: the challenge has not passed", ErrSecondFactorNeeded))
	case now.Sub(c.decidedAt) > RedeemWindow:
		return refuse(fmt.Errorf("redeem challenge: %w: the challenge passed more than %s ago", ErrSecondFactorNeeded, RedeemWindow))
	}
	return accept(ChallengeRedeemed{
		ChallengeID: c.id, AccountID: c.accountID, Purpose: cmd.Purpose,
		SessionDigest: append([]byte(nil), cmd.SessionDigest...), At: now,
	})
}
