package oidc

import (
	"crypto/rsa"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
)

// Lifetimes of what the provider issues. Refresh tokens live as long as their authorization
// (domain.OIDCRefreshLifetime).
const (
	accessTokenLifetime = 15 * time.Minute
	idTokenLifetime     = time.Hour
)

// client adapts a registered client to op.Client. Confidential clients authenticate with
// client_secret_basic (or client_secret_post, which x/oauth2 tries next); public clients
// with none, and must use PKCE.
type client struct{ c domain.OIDCClient }

var _ op.Client = client{}

func (c client) GetID() string                    { return c.c.ID }
func (c client) RedirectURIs() []string           { return slices.Clone(c.c.RedirectURIs) }
func (c client) PostLogoutRedirectURIs() []string { return slices.Clone(c.c.PostLogoutRedirectURIs) }

// ApplicationType is web for every client: redirect URIs are matched exactly (the native
// type would accept any port on a loopback address).
func (c client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }

func (c client) AuthMethod() zoidc.AuthMethod {
	if c.c.Public {
		return zoidc.AuthMethodNone
	}
	return zoidc.AuthMethodBasic
}
func (c client) ResponseTypes() []zoidc.ResponseType {
	return []zoidc.ResponseType{zoidc.ResponseTypeCode}
}
func (c client) GrantTypes() []zoidc.GrantType {
	return []zoidc.GrantType{zoidc.GrantTypeCode, zoidc.GrantTypeRefreshToken}
}
func (c client) LoginURL(id string) string            { return loginPath + "?id=" + id }
func (c client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c client) IDTokenLifetime() time.Duration       { return idTokenLifetime }
func (c client) ClockSkew() time.Duration             { return 0 }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c client) IsScopeAllowed(string) bool           { return false }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// DevMode lets a redirect URI be plain http. Registration allows http only to a loopback
// address (domain.CheckRedirectURI), and the library still matches every URI exactly.
func (c client) DevMode() bool { return true }

// authRequest adapts an authorization to op.AuthRequest. code is the code it was found by,
// for the exchange that spends it.
type authRequest struct {
	id   uuid.UUID
	req  domain.OIDCAuthorizationRequested
	auth domain.OIDCAuthorizationAuthenticated
	done bool
	code string
}

var _ op.AuthRequest = (*authRequest)(nil)

func newAuthRequest(a *domain.OIDCAuthorization, code string) *authRequest {
	auth, done := a.Authentication()
	req := a.Request()
	return &authRequest{id: req.AuthorizationID, req: req, auth: auth, done: done, code: code}
}

func (r *authRequest) GetID() string         { return r.id.String() }
func (r *authRequest) GetACR() string        { return app.ACROf(r.auth.AMR) }
func (r *authRequest) GetAMR() []string      { return slices.Clone(r.auth.AMR) }
func (r *authRequest) GetAudience() []string { return []string{r.req.ClientID} }
func (r *authRequest) GetAuthTime() time.Time {
	return r.auth.AuthTime
}
func (r *authRequest) GetClientID() string { return r.req.ClientID }
func (r *authRequest) GetCodeChallenge() *zoidc.CodeChallenge {
	if r.req.CodeChallenge == "" {
		return nil
	}
	return &zoidc.CodeChallenge{Challenge: r.req.CodeChallenge, Method: zoidc.CodeChallengeMethod(r.req.CodeChallengeMethod)}
}
func (r *authRequest) GetNonce() string       { return r.req.Nonce }
func (r *authRequest) GetRedirectURI() string { return r.req.RedirectURI }
func (r *authRequest) GetResponseType() zoidc.ResponseType {
	return zoidc.ResponseType(r.req.ResponseType)
}
func (r *authRequest) GetResponseMode() zoidc.ResponseMode {
	return zoidc.ResponseMode(r.req.ResponseMode)
}
func (r *authRequest) GetScopes() []string { return slices.Clone(r.req.Scopes) }
func (r *authRequest) GetState() string    { return r.req.State }
func (r *authRequest) GetSubject() string {
	if !r.done {
		return ""
	}
	return r.auth.AccountID.String()
}
func (r *authRequest) Done() bool { return r.done }

// refreshRequest adapts an authorization found by a refresh token to op.RefreshTokenRequest.
type refreshRequest struct {
	*authRequest
	scopes []string
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetScopes() []string              { return slices.Clone(r.scopes) }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = slices.Clone(scopes) }

// signingKey and publicKey adapt an opened key to op.SigningKey and op.Key.
type signingKey struct{ k app.OIDCSigningKey }

func (s signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (s signingKey) Key() any                                    { return s.k.Key }
func (s signingKey) ID() string                                  { return s.k.ID }

type publicKey struct {
	id  string
	key *rsa.PublicKey
}

func (p publicKey) ID() string                         { return p.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return p.key }
