package domain

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Lifetimes of an OpenID Connect authorization.
const (
	// OIDCRequestLifetime is how long a person has to sign in after the relying party sent them.
	OIDCRequestLifetime = 10 * time.Minute
	// OIDCCodeLifetime is how long an authorization code can be exchanged after it was issued.
	OIDCCodeLifetime = 2 * time.Minute
	// OIDCRefreshLifetime is how long after the sign-in the refresh tokens of an authorization
	// keep working; then the relying party sends the person to sign in again.
	OIDCRefreshLifetime = 30 * 24 * time.Hour
)

// OIDCAuthorizationStream is the stream of one authorization: "oidc-authorization-<uuid>".
func OIDCAuthorizationStream(id uuid.UUID) string { return "oidc-authorization-" + id.String() }

// OIDCAuthorization is one sign-in to a relying party, from its request to its last refresh
// token: the family that a reuse revokes as a whole.
type OIDCAuthorization struct {
	req           OIDCAuthorizationRequested
	auth          OIDCAuthorizationAuthenticated
	authenticated bool
	codeHash      []byte
	codeIssuedAt  time.Time
	redeemed      bool
	refresh       [][]byte // refresh token hashes, oldest first; the last is the live one
	revoked       OIDCRevokeReason
}

// LoadOIDCAuthorization folds an authorization stream.
func LoadOIDCAuthorization(events []Event) (*OIDCAuthorization, error) {
	a := &OIDCAuthorization{}
	for _, e := range events {
		switch e := e.(type) {
		case OIDCAuthorizationRequested:
			a.req = e
		case OIDCAuthorizationAuthenticated:
			a.auth, a.authenticated = e, true
		case OIDCCodeIssued:
			a.codeHash, a.codeIssuedAt = e.CodeHash, e.At
		case OIDCCodeRedeemed:
			a.redeemed = true
			if len(e.RefreshTokenHash) > 0 {
				a.refresh = append(a.refresh, e.RefreshTokenHash)
			}
		case OIDCRefreshTokenRotated:
			a.refresh = append(a.refresh, e.RefreshTokenHash)
		case OIDCAuthorizationRevoked:
			a.revoked = e.Reason
		default:
			return nil, fmt.Errorf("load oidc authorization: unexpected event %s", e.EventType())
		}
	}
	return a, nil
}

// Exists reports whether the authorization was requested.
func (a *OIDCAuthorization) Exists() bool { return a.req.AuthorizationID != uuid.Nil }

// Request returns what the relying party asked for.
func (a *OIDCAuthorization) Request() OIDCAuthorizationRequested {
	r := a.req
	r.Scopes, r.Prompt, r.ACRValues = slices.Clone(r.Scopes), slices.Clone(r.Prompt), slices.Clone(r.ACRValues)
	return r
}

// Authentication returns who signed in and how; ok is false until someone did.
func (a *OIDCAuthorization) Authentication() (OIDCAuthorizationAuthenticated, bool) {
	r := a.auth
	r.AMR = slices.Clone(r.AMR)
	return r, a.authenticated
}

// Redeemed reports whether the code was exchanged.
func (a *OIDCAuthorization) Redeemed() bool { return a.redeemed }

// Generation is the number of refresh tokens issued so far.
func (a *OIDCAuthorization) Generation() int { return len(a.refresh) }

// Revoked returns why the authorization was revoked, and whether it was.
func (a *OIDCAuthorization) Revoked() (OIDCRevokeReason, bool) {
	return a.revoked, a.revoked != (OIDCRevokeReason{})
}

// Live reports whether tokens issued from the authorization still work at now: it was
// redeemed, is not revoked, and its sign-in is younger than OIDCRefreshLifetime.
func (a *OIDCAuthorization) Live(now time.Time) bool {
	_, revoked := a.Revoked()
	return a.redeemed && !revoked && now.Sub(a.auth.AuthTime) <= OIDCRefreshLifetime
}

// RequestOIDCAuthorization opens an authorization; the fields are the request's.
type RequestOIDCAuthorization struct{ Request OIDCAuthorizationRequested }

// RequestAuthorization decides RequestOIDCAuthorization. The transport has checked the
// request against the client (redirect URI, PKCE); the request expires after
// OIDCRequestLifetime.
func (a *OIDCAuthorization) RequestAuthorization(cmd RequestOIDCAuthorization, now time.Time) Decision {
	r := cmd.Request
	switch {
	case a.Exists():
		return refuse(ErrOIDCAuthorizationExists)
	case r.AuthorizationID == uuid.Nil || r.ClientID == "" || r.RedirectURI == "":
		return refuse(fmt.Errorf("request oidc authorization: %w: ID, client and redirect URI are required", ErrInvalidCommand))
	}
	r.Scopes, r.Prompt, r.ACRValues = slices.Clone(r.Scopes), slices.Clone(r.Prompt), slices.Clone(r.ACRValues)
	r.ExpiresAt, r.At = now.Add(OIDCRequestLifetime), now
	return accept(r)
}

// AuthenticateOIDCAuthorization records who signed in and how.
type AuthenticateOIDCAuthorization struct {
	AccountID     uuid.UUID
	AMR           []string
	ACR           string
	AuthTime      time.Time
	ChallengeID   uuid.UUID
	SessionDigest []byte
}

// Authenticate decides AuthenticateOIDCAuthorization. A second visit of the same account
// (the sign-in page may arrive twice) changes nothing; another account, an expired or used
// request is ErrOIDCAuthorizationDone.
func (a *OIDCAuthorization) Authenticate(cmd AuthenticateOIDCAuthorization, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrOIDCAuthorizationNone)
	case cmd.AccountID == uuid.Nil || len(cmd.AMR) == 0 || len(cmd.SessionDigest) != sha256.Size:
		return refuse(fmt.Errorf("authenticate oidc authorization: %w: account, amr and session are required", ErrInvalidCommand))
	case a.authenticated && a.auth.AccountID == cmd.AccountID && !a.redeemed:
		return Decision{}
	case a.authenticated, a.redeemed, now.After(a.req.ExpiresAt):
		return refuse(ErrOIDCAuthorizationDone)
	}
	return accept(OIDCAuthorizationAuthenticated{
		AuthorizationID: a.req.AuthorizationID, AccountID: cmd.AccountID, AMR: slices.Clone(cmd.AMR),
		ACR: cmd.ACR, AuthTime: cmd.AuthTime, ChallengeID: cmd.ChallengeID,
		SessionDigest: slices.Clone(cmd.SessionDigest), At: now,
	})
}

// IssueOIDCCode records the code sent to the redirect URI, by its SHA-256.
type IssueOIDCCode struct{ CodeHash []byte }

// IssueCode decides IssueOIDCCode. A later code replaces an earlier one that was not
// exchanged (the sign-in page may arrive twice; the browser follows the last answer).
func (a *OIDCAuthorization) IssueCode(cmd IssueOIDCCode, now time.Time) Decision {
	switch {
	case !a.Exists():
		return refuse(ErrOIDCAuthorizationNone)
	case !a.authenticated:
		return refuse(ErrOIDCNotAuthenticated)
	case a.redeemed || now.After(a.req.ExpiresAt):
		return refuse(ErrOIDCAuthorizationDone)
	case len(cmd.CodeHash) != sha256.Size:
		return refuse(fmt.Errorf("issue oidc code: %w: the code hash must be a SHA-256", ErrInvalidCommand))
	}
	return accept(OIDCCodeIssued{AuthorizationID: a.req.AuthorizationID, CodeHash: slices.Clone(cmd.CodeHash), At: now})
}

// CheckCode tells whether the code (by its SHA-256) may be exchanged at now: a code
// presented again after its exchange revokes every token issued from it (RFC 6749 §4.1.2),
// and that is the decision's event.
func (a *OIDCAuthorization) CheckCode(codeHash []byte, now time.Time) Decision {
	switch {
	case !a.Exists() || len(a.codeHash) == 0 || subtle.ConstantTimeCompare(codeHash, a.codeHash) != 1:
		return refuse(ErrOIDCInvalidCode)
	case a.redeemed:
		if _, revoked := a.Revoked(); revoked {
			return refuse(ErrOIDCCodeReused)
		}
		return fail(ErrOIDCCodeReused, a.revoke(RevokeCodeReused, now))
	case now.Sub(a.codeIssuedAt) > OIDCCodeLifetime:
		return refuse(ErrOIDCCodeExpired)
	}
	return Decision{}
}

// RedeemOIDCCode exchanges the code for tokens, once.
type RedeemOIDCCode struct {
	CodeHash []byte
	// RefreshTokenHash is the SHA-256 of the first refresh token, or empty when none is issued.
	RefreshTokenHash []byte
}

// RedeemCode decides RedeemOIDCCode; it refuses as CheckCode does.
func (a *OIDCAuthorization) RedeemCode(cmd RedeemOIDCCode, now time.Time) Decision {
	if d := a.CheckCode(cmd.CodeHash, now); d.Err != nil {
		return d
	}
	return accept(OIDCCodeRedeemed{AuthorizationID: a.req.AuthorizationID, RefreshTokenHash: slices.Clone(cmd.RefreshTokenHash), At: now})
}

// CheckRefreshToken tells whether a refresh token (by its SHA-256) may be used at now. One
// that was already rotated away revokes the whole family: that is the decision's event.
func (a *OIDCAuthorization) CheckRefreshToken(hash []byte, now time.Time) Decision {
	if !a.Exists() || len(a.refresh) == 0 {
		return refuse(ErrOIDCInvalidRefreshToken)
	}
	live := a.refresh[len(a.refresh)-1]
	if subtle.ConstantTimeCompare(hash, live) == 1 {
		if !a.Live(now) {
			return refuse(ErrOIDCRevoked)
		}
		return Decision{}
	}
	for _, old := range a.refresh[:len(a.refresh)-1] {
		if subtle.ConstantTimeCompare(hash, old) == 1 {
			if _, revoked := a.Revoked(); revoked {
				return refuse(ErrOIDCRefreshTokenReused)
			}
			return fail(ErrOIDCRefreshTokenReused, a.revoke(RevokeRefreshReused, now))
		}
	}
	return refuse(ErrOIDCInvalidRefreshToken)
}

// RotateOIDCRefreshToken spends the live refresh token on its successor.
type RotateOIDCRefreshToken struct {
	PresentedHash []byte
	NextHash      []byte
}

// RotateRefreshToken decides RotateOIDCRefreshToken; it refuses (and revokes) as
// CheckRefreshToken does.
func (a *OIDCAuthorization) RotateRefreshToken(cmd RotateOIDCRefreshToken, now time.Time) Decision {
	if d := a.CheckRefreshToken(cmd.PresentedHash, now); d.Err != nil {
		return d
	}
	if len(cmd.NextHash) != sha256.Size {
		return refuse(fmt.Errorf("rotate refresh token: %w: the next hash must be a SHA-256", ErrInvalidCommand))
	}
	return accept(OIDCRefreshTokenRotated{
		AuthorizationID: a.req.AuthorizationID, Generation: len(a.refresh) + 1,
		RefreshTokenHash: slices.Clone(cmd.NextHash), At: now,
	})
}

// RevokeOIDCAuthorization ends every token of the authorization.
type RevokeOIDCAuthorization struct{ Reason OIDCRevokeReason }

// Revoke decides RevokeOIDCAuthorization; revoking twice changes nothing.
func (a *OIDCAuthorization) Revoke(cmd RevokeOIDCAuthorization, now time.Time) Decision {
	switch _, revoked := a.Revoked(); {
	case !a.Exists():
		return refuse(ErrOIDCAuthorizationNone)
	case cmd.Reason == (OIDCRevokeReason{}):
		return refuse(fmt.Errorf("revoke oidc authorization: %w: a reason is required", ErrInvalidCommand))
	case revoked:
		return Decision{}
	}
	return accept(a.revoke(cmd.Reason, now))
}

func (a *OIDCAuthorization) revoke(reason OIDCRevokeReason, now time.Time) Event {
	return OIDCAuthorizationRevoked{AuthorizationID: a.req.AuthorizationID, Reason: reason, At: now}
}
