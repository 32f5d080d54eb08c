// Package oidc is Assent's OpenID Connect provider, on github.com/zitadel/oidc/v3's op
// package: discovery, JWKS, the authorization code flow with PKCE, token, userinfo,
// revocation, introspection and RP-initiated logout. Its storage is Assent's log (clients,
// signing keys and every authorization are streams); the person signs in on Assent's own
// sign-in page, with the push or a code when the account has a second factor.
package oidc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/secrets"
	"github.com/assent-dev/assent/websession"
)

// Paths of the provider, under the issuer (the public URL).
const (
	loginPath     = "/oidc/login"
	continuePath  = "/oidc/continue"
	signedOutPath = "/oidc/signed-out"
	callbackPath  = "/oidc/authorize/callback"
)

// Config wires the provider.
type Config struct {
	App      *app.Service
	Sessions *websession.Sessions
	// SessionTTL is the lifetime of an Assent session: a session's sign-in time is its expiry
	// minus this.
	SessionTTL time.Duration
	// Issuer is the public URL, exactly as relying parties see it, without a trailing slash.
	Issuer string
	// Keys are the keyring's keys derived for the provider (secrets.Keyring.DeriveKeys
	// "oidc"), primary first: they encrypt codes and access tokens, and sign the SSO cookie.
	Keys []secrets.DerivedKey
	Log  *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.App == nil || c.Sessions == nil {
		errs = append(errs, errors.New("oidc: the application and the sessions are required"))
	}
	if c.Issuer == "" || strings.HasSuffix(c.Issuer, "/") {
		errs = append(errs, fmt.Errorf("oidc: option 'public-url' must be set, without a trailing slash, but it's configured as '%s'", c.Issuer))
	}
	if len(c.Keys) == 0 || len(c.Keys[0].Key) < 32 {
		errs = append(errs, errors.New("oidc: a derived key of 32 bytes is required"))
	}
	if c.SessionTTL <= 0 {
		errs = append(errs, errors.New("oidc: option 'session_ttl' must be positive"))
	}
	return errors.Join(errs...)
}

// Provider is the mounted provider.
type Provider struct {
	cfg     Config
	op      *op.Provider
	store   *storage
	ssoKeys map[string][]byte
	secure  bool
}

// Register builds the provider and mounts it on e: /.well-known/openid-configuration and
// everything under /oidc/. It adds a first signing key to the log when there is none.
func Register(ctx context.Context, e *echo.Echo, cfg Config) (*Provider, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.App.EnsureOIDCSigningKey(ctx); err != nil {
		return nil, err
	}
	crypto := newCrypto(cfg.Keys)
	st := &storage{app: cfg.App, now: cfg.Now, crypto: crypto}
	opts := []op.Option{
		op.WithCrypto(crypto),
		op.WithLogger(cfg.Log.With("component", "oidc")),
		op.WithCustomEndpoints(op.NewEndpoint("oidc/authorize"), op.NewEndpoint("oidc/token"), op.NewEndpoint("oidc/userinfo"),
			op.NewEndpoint("oidc/revoke"), op.NewEndpoint("oidc/end_session"), op.NewEndpoint("oidc/keys")),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint("oidc/introspect")),
	}
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(&op.Config{
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		DefaultLogoutRedirectURI: signedOutPath,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedScopes:          []string{"openid", "email", "profile", "offline_access"},
		SupportedClaims: []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "acr", "amr", "azp",
			"at_hash", "c_hash", "email", "sid"},
	}, st, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	p := &Provider{cfg: cfg, op: provider, store: st, ssoKeys: map[string][]byte{}, secure: strings.HasPrefix(cfg.Issuer, "https://")}
	for _, k := range cfg.Keys {
		p.ssoKeys[k.ID] = k.Key
	}
	h := echo.WrapHandler(p.withEndSession(provider))
	e.Any("/.well-known/openid-configuration", h)
	e.Any("/oidc/*", h)
	e.GET(loginPath, p.login)
	e.GET(continuePath, p.resume)
	e.GET(signedOutPath, p.signedOut)
	e.POST(consentPath, p.consent)
	return p, nil
}

// newCrypto encrypts with the primary derived key and decrypts with any, so that a keyring
// rotation leaves codes and access tokens readable until their key is retired.
func newCrypto(keys []secrets.DerivedKey) op.Crypto {
	var ds []op.Decrypter
	for _, k := range keys {
		ds = append(ds, op.NewAES256GCMCrypto(key32(k.Key), k.ID))
	}
	return op.NewCompositeCrypto(op.NewAES256GCMCrypto(key32(keys[0].Key), keys[0].ID), ds)
}

func key32(b []byte) [32]byte {
	var k [32]byte
	copy(k[:], b)
	return k
}

// endSessionKey carries the browser's session to TerminateSessionFromRequest.
type endSessionKey struct{}

// endSession is the end-session request's browser: its Assent session, signed out when the
// library has checked the request, and its cookie cleared in the answer.
type endSession struct {
	p      *Provider
	sess   websession.Session
	has    bool
	ended  bool
	header http.Header
}

func (e *endSession) signOut(ctx context.Context) error {
	if !e.has {
		return nil
	}
	if err := e.p.cfg.App.SignOut(ctx, e.sess.AccountID, e.sess.ID, e.sess.Expires); err != nil {
		return err
	}
	e.ended = true
	e.header.Add("Set-Cookie", e.p.cfg.Sessions.Clear(e.p.secure).String())
	return nil
}

// withEndSession hands the end-session endpoint the browser's session, and the authorization
// endpoint's refusals their page (authorizeErrors).
func (p *Provider) withEndSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/oidc/authorize":
			aw := &authorizeErrors{ResponseWriter: w}
			next.ServeHTTP(aw, r)
			aw.finish()
			return
		case "/oidc/end_session":
		default:
			next.ServeHTTP(w, r)
			return
		}
		end := &endSession{p: p, header: w.Header()}
		end.sess, end.has = p.session(r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), endSessionKey{}, end)))
	})
}

// session returns the browser's valid Assent session.
func (p *Provider) session(r *http.Request) (websession.Session, bool) {
	c, err := r.Cookie(websession.SessionCookie)
	if err != nil {
		return websession.Session{}, false
	}
	return p.cfg.Sessions.Check(c.Value, p.cfg.Now())
}

func sessionDigest(s websession.Session) []byte {
	sum := sha256.Sum256(s.ID[:])
	return sum[:]
}
