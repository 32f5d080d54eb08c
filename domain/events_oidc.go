package domain

import (
	"time"

	"github.com/google/uuid"
)

// Events of the OpenID Connect provider. Clients live in one stream (OIDCClientsStream),
// signing keys in another (OIDCKeysStream), and each authorization, from the request to the
// last refresh, in its own (OIDCAuthorizationStream): an auditor replays one stream to see
// who signed in to which app, how, and what was issued from it.

// OIDCClientRegistered: an administrator registered a relying party. A confidential client's
// secret is stored only as its SHA-256 (SecretHash); a public client has none and must use PKCE.
type OIDCClientRegistered struct {
	ClientID               string   `json:"client_id"`
	Name                   string   `json:"name"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	Public                 bool     `json:"public"`
	SecretHash             []byte   `json:"secret_hash,omitempty" assent:"secret"`
	RequireMFA             bool     `json:"require_mfa"`
	// AskConsent: the person is asked once whether the client may have what it asks for.
	// Clients without it are first-party and ask nothing.
	AskConsent bool      `json:"ask_consent,omitempty"`
	At         time.Time `json:"at"`
}

// OIDCClientSecretRotated: a confidential client got a new secret; the old one stops working.
type OIDCClientSecretRotated struct {
	ClientID   string    `json:"client_id"`
	SecretHash []byte    `json:"secret_hash" assent:"secret"`
	At         time.Time `json:"at"`
}

// OIDCClientDisabled: a client may no longer start sign-ins nor use its tokens.
type OIDCClientDisabled struct {
	ClientID string    `json:"client_id"`
	At       time.Time `json:"at"`
}

// OIDCSigningKeyAdded: a new key signs ID tokens from now on; the previous one stays in the
// key set so that what it signed still verifies. SealedKey is the PKCS #8 private key sealed
// with the keyring (associated data: the key ID).
type OIDCSigningKeyAdded struct {
	KeyID     string    `json:"key_id"`
	Algorithm string    `json:"algorithm"`
	SealedKey []byte    `json:"sealed_key" assent:"secret"`
	At        time.Time `json:"at"`
}

// OIDCAuthorizationRequested: a relying party sent a person to sign in. It holds what the
// request asked for; the code challenge is public by design (its verifier is the secret).
type OIDCAuthorizationRequested struct {
	AuthorizationID     uuid.UUID `json:"authorization_id"`
	ClientID            string    `json:"client_id"`
	RedirectURI         string    `json:"redirect_uri"`
	Scopes              []string  `json:"scopes"`
	State               string    `json:"state,omitempty"`
	Nonce               string    `json:"nonce,omitempty"`
	CodeChallenge       string    `json:"code_challenge,omitempty"`
	CodeChallengeMethod string    `json:"code_challenge_method,omitempty"`
	ResponseType        string    `json:"response_type"`
	ResponseMode        string    `json:"response_mode,omitempty"`
	Prompt              []string  `json:"prompt,omitempty"`
	MaxAge              *int64    `json:"max_age,omitempty"`
	ACRValues           []string  `json:"acr_values,omitempty"`
	ExpiresAt           time.Time `json:"expires_at"`
	At                  time.Time `json:"at"`
}

// OIDCAuthorizationAuthenticated: the person behind the request signed in. AMR says how
// (RFC 8176: pwd, mfa, swk, otp); ChallengeID is the challenge passed, when there was one,
// which names the device that approved and the number shown. SessionDigest is the SHA-256 of
// the Assent session's ID, as account.signed_out names it.
type OIDCAuthorizationAuthenticated struct {
	AuthorizationID uuid.UUID `json:"authorization_id"`
	AccountID       uuid.UUID `json:"account_id"`
	AMR             []string  `json:"amr"`
	ACR             string    `json:"acr"`
	AuthTime        time.Time `json:"auth_time"`
	ChallengeID     uuid.UUID `json:"challenge_id,omitzero"`
	SessionDigest   []byte    `json:"session_digest"`
	At              time.Time `json:"at"`
}

// OIDCCodeIssued: an authorization code was sent to the redirect URI. Only its SHA-256 is kept.
type OIDCCodeIssued struct {
	AuthorizationID uuid.UUID `json:"authorization_id"`
	CodeHash        []byte    `json:"code_hash" assent:"secret"`
	At              time.Time `json:"at"`
}

// OIDCCodeRedeemed: the code was exchanged for tokens, once. RefreshTokenHash is the SHA-256
// of the first refresh token of the family, when one was issued.
type OIDCCodeRedeemed struct {
	AuthorizationID  uuid.UUID `json:"authorization_id"`
	RefreshTokenHash []byte    `json:"refresh_token_hash,omitempty" assent:"secret"`
	At               time.Time `json:"at"`
}

// OIDCRefreshTokenRotated: a refresh token was used; it is spent and RefreshTokenHash names
// its successor, the only one of the family that works from now on.
type OIDCRefreshTokenRotated struct {
	AuthorizationID  uuid.UUID `json:"authorization_id"`
	Generation       int       `json:"generation"`
	RefreshTokenHash []byte    `json:"refresh_token_hash" assent:"secret"`
	At               time.Time `json:"at"`
}

// OIDCAuthorizationRevoked: every token issued from the authorization stops working, for
// Reason (a refresh token or a code used twice, a revocation request, a sign-out).
type OIDCAuthorizationRevoked struct {
	AuthorizationID uuid.UUID        `json:"authorization_id"`
	Reason          OIDCRevokeReason `json:"reason"`
	At              time.Time        `json:"at"`
}

// OIDCConsentGranted: the person allowed a client that asks for consent to have Scopes. It
// lives in the account's consents stream (OIDCConsentsStream) and is not asked again for
// those scopes.
type OIDCConsentGranted struct {
	AccountID       uuid.UUID `json:"account_id"`
	ClientID        string    `json:"client_id"`
	Scopes          []string  `json:"scopes"`
	AuthorizationID uuid.UUID `json:"authorization_id"`
	At              time.Time `json:"at"`
}

// OIDCRevokeReason says why an authorization's tokens were revoked.
type OIDCRevokeReason struct{ slug string }

// Revoke reasons.
var (
	// RevokeRefreshReused: a refresh token was presented after it had been rotated: the sign
	// of a stolen token, so the whole family goes.
	RevokeRefreshReused = OIDCRevokeReason{"refresh_token_reused"}
	// RevokeCodeReused: the authorization code was presented a second time.
	RevokeCodeReused = OIDCRevokeReason{"code_reused"}
	// RevokeByClient: the client asked for it at the revocation endpoint (RFC 7009).
	RevokeByClient = OIDCRevokeReason{"revoked_by_client"}
	// RevokeSignedOut: the person signed out through the end-session endpoint.
	RevokeSignedOut = OIDCRevokeReason{"signed_out"}
)

var oidcRevokeReasons = []OIDCRevokeReason{RevokeRefreshReused, RevokeCodeReused, RevokeByClient, RevokeSignedOut}

func (r OIDCRevokeReason) String() string { return r.slug }

// MarshalText encodes the reason's slug.
func (r OIDCRevokeReason) MarshalText() ([]byte, error) { return marshalEnum(r.slug, "revoke reason") }

// UnmarshalText accepts only a listed slug.
func (r *OIDCRevokeReason) UnmarshalText(b []byte) error {
	return unmarshalEnum(b, oidcRevokeReasons, r, "revoke reason")
}

func (OIDCClientRegistered) EventType() string           { return "oidc.client.registered" }
func (OIDCClientSecretRotated) EventType() string        { return "oidc.client.secret.rotated" }
func (OIDCClientDisabled) EventType() string             { return "oidc.client.disabled" }
func (OIDCSigningKeyAdded) EventType() string            { return "oidc.signing_key.added" }
func (OIDCAuthorizationRequested) EventType() string     { return "oidc.authorization.requested" }
func (OIDCAuthorizationAuthenticated) EventType() string { return "oidc.authorization.authenticated" }
func (OIDCCodeIssued) EventType() string                 { return "oidc.authorization.code.issued" }
func (OIDCCodeRedeemed) EventType() string               { return "oidc.authorization.code.redeemed" }
func (OIDCRefreshTokenRotated) EventType() string        { return "oidc.refresh_token.rotated" }
func (OIDCAuthorizationRevoked) EventType() string       { return "oidc.authorization.revoked" }
func (OIDCConsentGranted) EventType() string             { return "oidc.consent.granted" }

func (e OIDCClientRegistered) OccurredAt() time.Time           { return e.At }
func (e OIDCClientSecretRotated) OccurredAt() time.Time        { return e.At }
func (e OIDCClientDisabled) OccurredAt() time.Time             { return e.At }
func (e OIDCSigningKeyAdded) OccurredAt() time.Time            { return e.At }
func (e OIDCAuthorizationRequested) OccurredAt() time.Time     { return e.At }
func (e OIDCAuthorizationAuthenticated) OccurredAt() time.Time { return e.At }
func (e OIDCCodeIssued) OccurredAt() time.Time                 { return e.At }
func (e OIDCCodeRedeemed) OccurredAt() time.Time               { return e.At }
func (e OIDCRefreshTokenRotated) OccurredAt() time.Time        { return e.At }
func (e OIDCAuthorizationRevoked) OccurredAt() time.Time       { return e.At }
func (e OIDCConsentGranted) OccurredAt() time.Time             { return e.At }

// registerOIDC adds the provider's events to the registry.
func registerOIDC(r *Registry) {
	Register[OIDCClientRegistered](r, 1)
	Register[OIDCClientSecretRotated](r, 1)
	Register[OIDCClientDisabled](r, 1)
	Register[OIDCSigningKeyAdded](r, 1)
	Register[OIDCAuthorizationRequested](r, 1)
	Register[OIDCAuthorizationAuthenticated](r, 1)
	Register[OIDCCodeIssued](r, 1)
	Register[OIDCCodeRedeemed](r, 1)
	Register[OIDCRefreshTokenRotated](r, 1)
	Register[OIDCAuthorizationRevoked](r, 1)
	Register[OIDCConsentGranted](r, 1)
}
