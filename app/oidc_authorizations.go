package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// ErrNoSignInEvidence is returned when a session cannot show how it was signed in to the
// standard an authorization needs: the sign-in page then asks again.
var ErrNoSignInEvidence = errors.New("the session does not show how it was signed in")

// Authentication methods (RFC 8176) and the two ACR values of ID tokens.
const (
	AMRPassword = "pwd"
	AMRMFA      = "mfa"
	AMRDevice   = "swk" // a signed approval from a device's key (the push)
	AMROTP      = "otp" // a code of the app, a TOTP app or a backup code
	ACRPassword = "pwd"
	ACRMFA      = "mfa"
)

// ACROf is the ACR value that amr earns: mfa with a second factor, pwd without.
func ACROf(amr []string) string {
	if slices.Contains(amr, AMRMFA) {
		return ACRMFA
	}
	return ACRPassword
}

func clientActor(clientID string) string { return "oidc-client:" + clientID }

// RequestOIDCAuthorization records a relying party's authorization request, checked by the
// transport against the client, and returns its new ID.
func (s *Service) RequestOIDCAuthorization(ctx context.Context, r domain.OIDCAuthorizationRequested) (uuid.UUID, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return uuid.Nil, fmt.Errorf("request oidc authorization: %w", err)
	}
	r.AuthorizationID = id
	_, err = s.op(correlated(ctx), clientActor(r.ClientID)).updateOIDCAuthorization(id, func(a *domain.OIDCAuthorization, now time.Time) domain.Decision {
		return a.RequestAuthorization(domain.RequestOIDCAuthorization{Request: r}, now)
	})
	if err != nil {
		return uuid.Nil, fmt.Errorf("request oidc authorization: %w", err)
	}
	return id, nil
}

// OIDCAuthorization returns an authorization, or domain.ErrOIDCAuthorizationNone.
func (s *Service) OIDCAuthorization(ctx context.Context, id uuid.UUID) (*domain.OIDCAuthorization, error) {
	events, _, err := s.load(ctx, domain.OIDCAuthorizationStream(id))
	if err != nil {
		return nil, fmt.Errorf("oidc authorization: %w", err)
	}
	a, err := domain.LoadOIDCAuthorization(events)
	if err != nil {
		return nil, fmt.Errorf("oidc authorization: %w", err)
	}
	if !a.Exists() {
		return nil, fmt.Errorf("oidc authorization: %w", domain.ErrOIDCAuthorizationNone)
	}
	return a, nil
}

// SignInEvidence is how a session was signed in, as the log shows it.
type SignInEvidence struct {
	AccountID   uuid.UUID
	AMR         []string
	ChallengeID uuid.UUID
	// DeviceID is the device that approved, for a push.
	DeviceID uuid.UUID
}

// SessionEvidence tells how the session (named by the SHA-256 of its ID) of account, signed
// in at signedIn, was signed in. The challenge that passed must have been redeemed for exactly
// that session: its outcome gives pwd plus mfa and swk (a device's signed approval) or otp (a
// code). challengeID names it when the caller knows it; otherwise the account's challenges
// issued from a challenge's lifetime before signedIn on are searched (a few stream reads). With
// no such challenge, the account must have no second factor turned on, and the password alone
// gives pwd. Anything else is ErrNoSignInEvidence.
func (s *Service) SessionEvidence(ctx context.Context, accountID uuid.UUID, sessionDigest []byte, challengeID uuid.UUID, signedIn time.Time) (SignInEvidence, error) {
	if err := s.helpDeskEvidence(ctx, accountID, signedIn); err != nil {
		return SignInEvidence{AccountID: accountID}, fmt.Errorf("session evidence: %w", err)
	}
	if challengeID != uuid.Nil {
		ev, err := s.challengeEvidence(ctx, accountID, sessionDigest, challengeID)
		if err != nil {
			return ev, fmt.Errorf("session evidence: %w", err)
		}
		return ev, nil
	}
	a, err := s.loadAccount(ctx, accountID)
	if err != nil {
		return SignInEvidence{}, fmt.Errorf("session evidence: %w", err)
	}
	since := signedIn.Add(-s.policy.ChallengeTTL - domain.RedeemWindow - time.Minute)
	challenges, err := s.recentChallenges(ctx, accountID, since)
	if err != nil {
		return SignInEvidence{}, fmt.Errorf("session evidence: %w", err)
	}
	for _, id := range challenges {
		if ev, err := s.challengeEvidence(ctx, accountID, sessionDigest, id); err == nil {
			return ev, nil
		} else if !errors.Is(err, ErrNoSignInEvidence) {
			return SignInEvidence{}, fmt.Errorf("session evidence: %w", err)
		}
	}
	if a.MFAEnabled() {
		return SignInEvidence{AccountID: accountID}, fmt.Errorf("session evidence: %w", ErrNoSignInEvidence)
	}
	return SignInEvidence{AccountID: accountID, AMR: []string{AMRPassword}}, nil
}

// recentChallenges returns the challenges of the account's sign-ins (account.signin.challenged)
// since since, newest first. It reads the account's stream backwards from its end, a page at a
// time, and stops at the first sign-in before since, or at an event of any type recorded an hour
// before since (far beyond any clock skew between nodes), so that its cost follows the recent
// events, not the stream's length.
func (s *Service) recentChallenges(ctx context.Context, accountID uuid.UUID, since time.Time) ([]uuid.UUID, error) {
	const page = 64
	stream := domain.AccountStream(accountID)
	var out []uuid.UUID
	opts := eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: page}
	for {
		recs, err := s.store.ReadStream(ctx, stream, opts)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		events, _, err := decodeRecords(stream, recs)
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			c, ok := e.(domain.SignInChallenged)
			if ok && c.At.Before(since) || e.OccurredAt().Before(since.Add(-time.Hour)) {
				return out, nil
			}
			if ok {
				out = append(out, c.ChallengeID)
			}
		}
		if len(recs) < page || recs[len(recs)-1].Version == 0 {
			return out, nil
		}
		opts.FromEnd, opts.From = false, recs[len(recs)-1].Version-1
	}
}

// challengeEvidence is the evidence of one challenge redeemed for the session, or
// ErrNoSignInEvidence.
func (s *Service) challengeEvidence(ctx context.Context, accountID uuid.UUID, sessionDigest []byte, challengeID uuid.UUID) (SignInEvidence, error) {
	ev := SignInEvidence{AccountID: accountID}
	events, _, err := s.load(ctx, domain.ChallengeStream(challengeID))
	if err != nil {
		return ev, err
	}
	redeemed := false
	for _, e := range events {
		switch e := e.(type) {
		case domain.ChallengeRedeemed:
			redeemed = e.AccountID == accountID && e.Purpose == domain.RedeemSession && bytes.Equal(e.SessionDigest, sessionDigest)
		case domain.ChallengeApproved:
			ev.AMR, ev.DeviceID = []string{AMRPassword, AMRMFA, AMRDevice}, e.DeviceID
		case domain.ChallengeCompletedTOTP, domain.ChallengeCompletedBackupCode:
			ev.AMR = []string{AMRPassword, AMRMFA, AMROTP}
		}
	}
	if !redeemed || ev.AMR == nil {
		return SignInEvidence{AccountID: accountID}, ErrNoSignInEvidence
	}
	ev.ChallengeID = challengeID
	return ev, nil
}

// AuthenticateOIDCAuthorization records who signed in for the authorization, and how.
func (s *Service) AuthenticateOIDCAuthorization(ctx context.Context, id uuid.UUID, cmd domain.AuthenticateOIDCAuthorization) error {
	_, err := s.op(correlated(ctx), accountActor(cmd.AccountID)).updateOIDCAuthorization(id, func(a *domain.OIDCAuthorization, now time.Time) domain.Decision {
		return a.Authenticate(cmd, now)
	})
	if err != nil {
		return fmt.Errorf("authenticate oidc authorization: %w", err)
	}
	return nil
}

// HashToken is the SHA-256 under which codes and refresh tokens are kept.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// IssueOIDCCode records the code sent to the client.
func (s *Service) IssueOIDCCode(ctx context.Context, id uuid.UUID, code string) error {
	_, err := s.op(correlated(ctx), systemActor).updateOIDCAuthorization(id, func(a *domain.OIDCAuthorization, now time.Time) domain.Decision {
		return a.IssueCode(domain.IssueOIDCCode{CodeHash: HashToken(code)}, now)
	})
	if err != nil {
		return fmt.Errorf("issue oidc code: %w", err)
	}
	return nil
}

// CheckOIDCCode tells whether a code may be exchanged; a code presented after its exchange
// revokes the authorization (recorded) and returns domain.ErrOIDCCodeReused.
func (s *Service) CheckOIDCCode(ctx context.Context, id uuid.UUID, clientID, code string) error {
	if err := s.oidcAccountActive(ctx, id); err != nil {
		return fmt.Errorf("check oidc code: %w", err)
	}
	_, err := s.op(correlated(ctx), clientActor(clientID)).updateOIDCAuthorization(id, func(a *domain.OIDCAuthorization, now time.Time) domain.Decision {
		return a.CheckCode(HashToken(code), now)
	})
	if err != nil {
		return fmt.Errorf("check oidc code: %w", err)
	}
	return nil
}

// RedeemOIDCCode exchanges the code, once; refreshToken is the first refresh token of the
// family, or empty.
func (s *Service) RedeemOIDCCode(ctx context.Context, id uuid.UUID, clientID, code, refreshToken string) error {
	var rh []byte
	if refreshToken != "" {
		rh = HashToken(refreshToken)
	}
	_, err := s.op(correlated(ctx), clientActor(clientID)).updateOIDCAuthorization(id, func(a *domain.OIDCAuthorization, now time.Time) domain.Decision {
		return a.RedeemCode(domain.RedeemOIDCCode{CodeHash: HashToken(code), RefreshTokenHash: rh}, now)
	})
	if err != nil {
		return fmt.Errorf("redeem oidc code: %w", err)
	}
	return nil
}

// CheckOIDCRefreshToken tells whether a refresh token may be used; a spent one revokes the
// family (recorded) and returns domain.ErrOIDCRefreshTokenReused.
func (s *Service) CheckOIDCRefreshToken(ctx context.Context, id uuid.UUID, clientID, token string) error {
	if err := s.oidcAccountActive(ctx, id); err != nil {
		return fmt.Errorf("check oidc refresh token: %w", err)
	}
	_, err := s.op(correlated(ctx), clientActor(clientID)).updateOIDCAuthorization(id, func(a *domain.OIDCAuthorization, now time.Time) domain.Decision {
		return a.CheckRefreshToken(HashToken(token), now)
	})
	if err != nil {
		return fmt.Errorf("check oidc refresh token: %w", err)
	}
	return nil
}

// RotateOIDCRefreshToken spends presented on next. Of two uses of one token racing, one
// rotates and the other finds it spent, which revokes the family.
func (s *Service) RotateOIDCRefreshToken(ctx context.Context, id uuid.UUID, clientID, presented, next string) (generation int, err error) {
	_, err = s.op(correlated(ctx), clientActor(clientID)).updateOIDCAuthorization(id, func(a *domain.OIDCAuthorization, now time.Time) domain.Decision {
		generation = a.Generation() + 1
		return a.RotateRefreshToken(domain.RotateOIDCRefreshToken{PresentedHash: HashToken(presented), NextHash: HashToken(next)}, now)
	})
	if err != nil {
		return 0, fmt.Errorf("rotate oidc refresh token: %w", err)
	}
	return generation, nil
}

// RevokeOIDCAuthorization ends every token of an authorization, for reason.
func (s *Service) RevokeOIDCAuthorization(ctx context.Context, id uuid.UUID, actor string, reason domain.OIDCRevokeReason) error {
	_, err := s.op(correlated(ctx), actor).updateOIDCAuthorization(id, func(a *domain.OIDCAuthorization, now time.Time) domain.Decision {
		return a.Revoke(domain.RevokeOIDCAuthorization{Reason: reason}, now)
	})
	if err != nil {
		return fmt.Errorf("revoke oidc authorization: %w", err)
	}
	return nil
}

// ClientActor is the actor a relying party's requests are recorded under.
func ClientActor(clientID string) string { return clientActor(clientID) }

// AccountActor is the actor a person's requests are recorded under.
func AccountActor(id uuid.UUID) string { return accountActor(id) }

// AccountEmail returns the email address of an account, or domain.ErrAccountNotFound.
func (s *Service) AccountEmail(ctx context.Context, id uuid.UUID) (string, error) {
	a, err := s.loadAccount(ctx, id)
	if err != nil {
		return "", fmt.Errorf("account email: %w", err)
	}
	return a.Email().String(), nil
}

// OIDCConsented reports whether the account allowed the client every scope of scopes.
func (s *Service) OIDCConsented(ctx context.Context, accountID uuid.UUID, clientID string, scopes []string) (bool, error) {
	events, _, err := s.load(ctx, domain.OIDCConsentsStream(accountID))
	if err != nil {
		return false, fmt.Errorf("oidc consent: %w", err)
	}
	c, err := domain.LoadOIDCConsents(events)
	if err != nil {
		return false, fmt.Errorf("oidc consent: %w", err)
	}
	return c.Covers(clientID, scopes), nil
}

// GrantOIDCConsent records that the account allows the client scopes (oidc.consent.granted).
func (s *Service) GrantOIDCConsent(ctx context.Context, cmd domain.GrantOIDCConsent) error {
	_, err := s.op(correlated(ctx), accountActor(cmd.AccountID)).update(domain.OIDCConsentsStream(cmd.AccountID), func(events []domain.Event, now time.Time) (domain.Decision, error) {
		c, err := domain.LoadOIDCConsents(events)
		if err != nil {
			return domain.Decision{}, err
		}
		return c.Grant(cmd, now), nil
	})
	if err != nil {
		return fmt.Errorf("grant oidc consent: %w", err)
	}
	return nil
}

// MFAEnabled reports whether an account has a second factor turned on.
func (s *Service) MFAEnabled(ctx context.Context, id uuid.UUID) (bool, error) {
	a, err := s.loadAccount(ctx, id)
	if err != nil {
		return false, fmt.Errorf("mfa enabled: %w", err)
	}
	return a.MFAEnabled(), nil
}

// updateOIDCAuthorization runs update on an authorization stream with the folded authorization.
func (o *op) updateOIDCAuthorization(id uuid.UUID, decide func(a *domain.OIDCAuthorization, now time.Time) domain.Decision) (bool, error) {
	res, err := o.update(domain.OIDCAuthorizationStream(id), func(events []domain.Event, now time.Time) (domain.Decision, error) {
		a, err := domain.LoadOIDCAuthorization(events)
		if err != nil {
			return domain.Decision{}, err
		}
		return decide(a, now), nil
	})
	return res.Position != 0, err
}
