package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
)

// storage backs op.Storage with Assent's events: clients, keys and every authorization are
// streams of the log (see app's OIDC use cases), read on each request.
//
// Tokens: a refresh token is "<authorization ID>.<random>", kept as a SHA-256; an access token
// is opaque, the library's encryption of "<token ID>:<subject>", whose token ID is
// "<authorization ID>.<generation>.<expiry unix>", so that a revoked authorization ends its
// access tokens at once without keeping them.
type storage struct {
	app    *app.Service
	now    func() time.Time
	crypto op.Crypto // the library's: codes and access tokens
	keys   sync.Map  // key ID -> app.OIDCSigningKey, opened once
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

// notFound marks the refusals the library reports as such.
type notFound struct{ error }

func (notFound) IsNotFound() {}

// CreateAuthRequest records the request. The library has checked the client and the redirect
// URI; here PKCE is required of public clients, and only S256 is accepted.
func (s *storage) CreateAuthRequest(ctx context.Context, r *zoidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c, err := s.app.OIDCClient(ctx, r.ClientID)
	if err != nil {
		return nil, zoidc.ErrInvalidClient().WithDescription("The client is not known.")
	}
	switch {
	case c.Disabled:
		return nil, zoidc.ErrUnauthorizedClient().WithDescription("The client is disabled.")
	case r.CodeChallenge == "" && c.Public:
		return nil, zoidc.ErrInvalidRequest().WithDescription("A public client must use PKCE: send code_challenge with code_challenge_method S256.")
	case r.CodeChallenge != "" && r.CodeChallengeMethod != zoidc.CodeChallengeMethodS256:
		return nil, zoidc.ErrInvalidRequest().WithDescription("The code_challenge_method must be S256.")
	case r.ResponseType != zoidc.ResponseTypeCode:
		return nil, zoidc.ErrInvalidRequest().WithDescription("Only the code flow is supported.")
	}
	var maxAge *int64
	if r.MaxAge != nil {
		v := int64(*r.MaxAge)
		maxAge = &v
	}
	id, err := s.app.RequestOIDCAuthorization(ctx, domain.OIDCAuthorizationRequested{
		ClientID: r.ClientID, RedirectURI: r.RedirectURI, Scopes: r.Scopes, State: r.State, Nonce: r.Nonce,
		CodeChallenge: r.CodeChallenge, CodeChallengeMethod: string(r.CodeChallengeMethod),
		ResponseType: string(r.ResponseType), ResponseMode: string(r.ResponseMode), Prompt: r.Prompt,
		MaxAge: maxAge, ACRValues: r.ACRValues,
	})
	if err != nil {
		return nil, err
	}
	a, err := s.app.OIDCAuthorization(ctx, id)
	if err != nil {
		return nil, err
	}
	return newAuthRequest(a, ""), nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	aid, err := uuid.Parse(id)
	if err != nil {
		return nil, notFound{errors.New("unknown authorization")}
	}
	a, err := s.app.OIDCAuthorization(ctx, aid)
	if err != nil {
		return nil, notFound{err}
	}
	return newAuthRequest(a, ""), nil
}

// AuthRequestByCode finds the authorization of a code. The code is the library's encryption
// of the authorization ID; the log keeps its SHA-256, which must match. A code presented
// after its exchange revokes the authorization (recorded).
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	aid, err := s.codeAuthorization(code)
	if err != nil {
		return nil, err
	}
	a, err := s.app.OIDCAuthorization(ctx, aid)
	if err != nil {
		return nil, err
	}
	if err := s.app.CheckOIDCCode(ctx, aid, a.Request().ClientID, code); err != nil {
		return nil, err
	}
	return newAuthRequest(a, code), nil
}

// codeAuthorization decrypts a code into its authorization ID.
func (s *storage) codeAuthorization(code string) (uuid.UUID, error) {
	plain, err := s.crypto.Decrypt(code)
	if err != nil {
		return uuid.Nil, domain.ErrOIDCInvalidCode
	}
	id, err := uuid.Parse(plain)
	if err != nil {
		return uuid.Nil, domain.ErrOIDCInvalidCode
	}
	return id, nil
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	aid, err := uuid.Parse(id)
	if err != nil {
		return notFound{err}
	}
	return s.app.IssueOIDCCode(ctx, aid, code)
}

// DeleteAuthRequest has nothing to do: the exchange recorded the code as spent.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// accessTokenID names an access token of generation gen of an authorization.
func accessTokenID(id uuid.UUID, gen int, exp time.Time) string {
	return id.String() + "." + strconv.Itoa(gen) + "." + strconv.FormatInt(exp.Unix(), 10)
}

func parseAccessTokenID(tokenID string) (uuid.UUID, time.Time, bool) {
	parts := strings.Split(tokenID, ".")
	if len(parts) != 3 {
		return uuid.Nil, time.Time{}, false
	}
	id, err := uuid.Parse(parts[0])
	if err != nil {
		return uuid.Nil, time.Time{}, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return uuid.Nil, time.Time{}, false
	}
	return id, time.Unix(exp, 0), true
}

// CreateAccessToken spends the code (no refresh token was asked for) and names the access token.
func (s *storage) CreateAccessToken(ctx context.Context, request op.TokenRequest) (string, time.Time, error) {
	r, ok := request.(*authRequest)
	if !ok {
		return "", time.Time{}, zoidc.ErrUnsupportedGrantType()
	}
	if err := s.app.RedeemOIDCCode(ctx, r.id, r.req.ClientID, r.code, ""); err != nil {
		return "", time.Time{}, grantError(err)
	}
	exp := s.now().Add(accessTokenLifetime)
	return accessTokenID(r.id, 0, exp), exp, nil
}

// CreateAccessAndRefreshTokens spends the code on the family's first refresh token, or the
// presented refresh token on its successor: every refresh answers a new refresh token.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, request op.TokenRequest, current string) (string, string, time.Time, error) {
	var id uuid.UUID
	var gen int
	next, err := newRefreshToken()
	if err != nil {
		return "", "", time.Time{}, err
	}
	switch r := request.(type) {
	case *authRequest:
		id, gen = r.id, 1
		next = refreshToken(id, next)
		if err := s.app.RedeemOIDCCode(ctx, r.id, r.req.ClientID, r.code, next); err != nil {
			return "", "", time.Time{}, grantError(err)
		}
	case *refreshRequest:
		id = r.id
		next = refreshToken(id, next)
		if gen, err = s.app.RotateOIDCRefreshToken(ctx, id, r.req.ClientID, current, next); err != nil {
			return "", "", time.Time{}, grantError(err)
		}
	default:
		return "", "", time.Time{}, zoidc.ErrUnsupportedGrantType()
	}
	exp := s.now().Add(accessTokenLifetime)
	return accessTokenID(id, gen, exp), next, exp, nil
}

// newRefreshToken returns the random part of a refresh token.
func newRefreshToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func refreshToken(id uuid.UUID, random string) string { return id.String() + "." + random }

// refreshAuthorization returns the authorization a refresh token names.
func refreshAuthorization(token string) (uuid.UUID, bool) {
	prefix, _, ok := strings.Cut(token, ".")
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(prefix)
	return id, err == nil
}

// grantError maps a refusal of the log to the token endpoint's error: invalid_grant for a
// code or refresh token that may not be used, the error itself otherwise (a server fault).
func grantError(err error) error {
	for _, e := range []error{
		domain.ErrOIDCInvalidCode, domain.ErrOIDCCodeExpired, domain.ErrOIDCCodeReused, domain.ErrOIDCInvalidRefreshToken,
		domain.ErrOIDCRefreshTokenReused, domain.ErrOIDCRevoked, domain.ErrOIDCAuthorizationNone, domain.ErrOIDCAuthorizationDone,
		domain.ErrAccountDisabled,
	} {
		if errors.Is(err, e) {
			return zoidc.ErrInvalidGrant().WithDescription("%s", describe(e))
		}
	}
	return err
}

func describe(err error) string {
	switch err {
	case domain.ErrOIDCCodeExpired:
		return "The authorization code has expired."
	case domain.ErrOIDCCodeReused:
		return "The authorization code was already used; the tokens issued from it are revoked."
	case domain.ErrOIDCRefreshTokenReused:
		return "The refresh token was already used; every token of its sign-in is revoked."
	case domain.ErrOIDCRevoked:
		return "The tokens of this sign-in were revoked."
	case domain.ErrAccountDisabled:
		return "The account is disabled."
	}
	return "The code or token is not valid."
}

// TokenRequestByRefreshToken finds the authorization of a refresh token. A spent one revokes
// the whole family (recorded) and is refused.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	id, ok := refreshAuthorization(token)
	if !ok {
		return nil, zoidc.ErrInvalidGrant().WithDescription("%s", describe(domain.ErrOIDCInvalidRefreshToken))
	}
	a, err := s.app.OIDCAuthorization(ctx, id)
	if err != nil {
		return nil, grantError(err)
	}
	if err := s.app.CheckOIDCRefreshToken(ctx, id, a.Request().ClientID, token); err != nil {
		return nil, grantError(err)
	}
	ar := newAuthRequest(a, "")
	return &refreshRequest{authRequest: ar, scopes: ar.GetScopes()}, nil
}

// TerminateSession is not used: TerminateSessionFromRequest is.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// TerminateSessionFromRequest ends the Assent session of the browser (see endSession) and
// revokes the authorization the id_token_hint names by its sid.
func (s *storage) TerminateSessionFromRequest(ctx context.Context, r *op.EndSessionRequest) (string, error) {
	if r.IDTokenHintClaims != nil {
		if sid, _ := r.IDTokenHintClaims.Claims["sid"].(string); sid != "" {
			if id, err := uuid.Parse(sid); err == nil {
				a, err := s.app.OIDCAuthorization(ctx, id)
				if err == nil && a.Request().ClientID == r.ClientID {
					if err := s.app.RevokeOIDCAuthorization(ctx, id, app.ClientActor(r.ClientID), domain.RevokeSignedOut); err != nil {
						return "", err
					}
				}
			}
		}
	}
	if end, ok := ctx.Value(endSessionKey{}).(*endSession); ok {
		if err := end.signOut(ctx); err != nil {
			return "", err
		}
	}
	return r.RedirectURI, nil
}

// GetRefreshTokenInfo names a refresh token for revocation: its authorization, under a token
// ID of one part (access token IDs have three).
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	id, ok := refreshAuthorization(token)
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	a, err := s.app.OIDCAuthorization(ctx, id)
	if err != nil {
		return "", "", op.ErrInvalidRefreshToken
	}
	auth, _ := a.Authentication()
	return auth.AccountID.String(), id.String(), nil
}

// RevokeToken revokes the authorization of a refresh token or an access token: every token
// of that sign-in stops working (RFC 7009 allows it, and a client that revokes one wants
// the others gone). An unknown token is not an error.
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *zoidc.Error {
	var id uuid.UUID
	if aid, _, ok := parseAccessTokenID(tokenOrID); ok {
		id = aid
	} else if aid, err := uuid.Parse(tokenOrID); err == nil {
		id = aid
	} else {
		return nil
	}
	a, err := s.app.OIDCAuthorization(ctx, id)
	if err != nil {
		return nil
	}
	if a.Request().ClientID != clientID {
		return zoidc.ErrInvalidClient().WithDescription("The token was not issued to this client.")
	}
	if err := s.app.RevokeOIDCAuthorization(ctx, id, app.ClientActor(clientID), domain.RevokeByClient); err != nil {
		return zoidc.ErrServerError().WithParent(err)
	}
	return nil
}

// SigningKey is the newest key of the log.
func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	cur, _, err := s.app.OIDCSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	k, err := s.open(cur)
	if err != nil {
		return nil, err
	}
	return signingKey{k}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet is the signing key and the one before it, so that tokens it signed still verify.
func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	cur, prev, err := s.app.OIDCSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []op.Key
	for _, sealed := range []domain.OIDCSigningKey{cur, prev} {
		if sealed.KeyID == "" {
			continue
		}
		k, err := s.open(sealed)
		if err != nil {
			return nil, err
		}
		out = append(out, publicKey{id: k.ID, key: &k.Key.PublicKey})
	}
	return out, nil
}

func (s *storage) open(sealed domain.OIDCSigningKey) (app.OIDCSigningKey, error) {
	if k, ok := s.keys.Load(sealed.KeyID); ok {
		return k.(app.OIDCSigningKey), nil
	}
	k, err := s.app.OpenOIDCSigningKey(sealed)
	if err != nil {
		return app.OIDCSigningKey{}, err
	}
	s.keys.Store(sealed.KeyID, k)
	return k, nil
}

// GetClientByClientID returns an enabled client. A disabled one is refused like an unknown one.
func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.app.OIDCClient(ctx, id)
	if errors.Is(err, domain.ErrOIDCClientNotFound) {
		return nil, notFound{err}
	}
	if err != nil {
		return nil, zoidc.ErrServerError().WithParent(err)
	}
	if c.Disabled {
		return nil, notFound{domain.ErrOIDCClientDisabled}
	}
	return client{c}, nil
}

// AuthorizeClientIDSecret checks a confidential client's secret against its hash.
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.app.OIDCClient(ctx, id)
	if errors.Is(err, domain.ErrOIDCClientNotFound) {
		return errors.New("unknown client")
	}
	if err != nil {
		return zoidc.ErrServerError().WithParent(err)
	}
	if c.Disabled || !c.CheckSecret(secret) {
		return errors.New("wrong client secret")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *zoidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token: email (never marked verified: Assent does not
// verify addresses) when the email scope was asked for, and sid, the authorization, which
// the end-session endpoint revokes.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, u *zoidc.UserInfo, req op.IDTokenRequest, _ []string) error {
	var r *authRequest
	switch v := req.(type) {
	case *authRequest:
		r = v
	case *refreshRequest:
		r = v.authRequest
	default:
		return nil
	}
	u.Subject = r.auth.AccountID.String()
	if slices.Contains(r.req.Scopes, zoidc.ScopeEmail) {
		email, err := s.app.AccountEmail(ctx, r.auth.AccountID)
		if err != nil {
			return err
		}
		u.Email = email
	}
	u.AppendClaims("sid", r.id.String())
	return nil
}

// liveToken returns the authorization of a live access token.
func (s *storage) liveToken(ctx context.Context, tokenID, subject string) (*domain.OIDCAuthorization, error) {
	id, exp, ok := parseAccessTokenID(tokenID)
	now := s.now()
	if !ok || now.After(exp) {
		return nil, errors.New("token expired or malformed")
	}
	a, err := s.app.OIDCAuthorization(ctx, id)
	if err != nil {
		return nil, err
	}
	auth, _ := a.Authentication()
	if !a.Live(now) || auth.AccountID.String() != subject {
		return nil, errors.New("token revoked")
	}
	c, err := s.app.OIDCClient(ctx, a.Request().ClientID)
	if err != nil || c.Disabled {
		return nil, errors.New("client disabled")
	}
	return a, nil
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, u *zoidc.UserInfo, tokenID, subject, _ string) error {
	a, err := s.liveToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	u.Subject = subject
	if slices.Contains(a.Request().Scopes, zoidc.ScopeEmail) {
		auth, _ := a.Authentication()
		email, err := s.app.AccountEmail(ctx, auth.AccountID)
		if err != nil {
			return err
		}
		u.Email = email
	}
	return nil
}

// SetIntrospectionFromToken answers for a live access token to any enabled confidential
// client of this provider (the resource servers), as Keycloak does.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, r *zoidc.IntrospectionResponse, tokenID, subject, _ string) error {
	a, err := s.liveToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	_, exp, _ := parseAccessTokenID(tokenID)
	req := a.Request()
	auth, _ := a.Authentication()
	r.Subject, r.ClientID, r.Scope = subject, req.ClientID, req.Scopes
	r.Audience = []string{req.ClientID}
	r.Expiration = zoidc.FromTime(exp)
	r.TokenType = zoidc.BearerToken
	r.AuthTime = zoidc.FromTime(auth.AuthTime)
	r.Claims = map[string]any{"amr": auth.AMR}
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("private_key_jwt is not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not supported")
}

// Health reads the keys stream.
func (s *storage) Health(ctx context.Context) error {
	_, _, err := s.app.OIDCSigningKeys(ctx)
	return err
}
