package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// startOIDCNode starts a node whose public URL is its own loopback address, so that it serves
// the OpenID Connect provider with that issuer.
func startOIDCNode(t *testing.T, tune ...func(*app.Config)) *node {
	t.Helper()
	var opts startOptions
	if len(tune) > 0 {
		opts.tuneApp = tune[0]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = addr
	cfg.PublicURL = "http://" + addr
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &node{t: t, srv: srv, url: "http://" + addr, rec: &recorder{}}
}

const rpCallback = "http://127.0.0.1:9/callback" // never dialled: the flow stops at the redirect

// rp is a relying party: go-oidc and x/oauth2, as oauth2-proxy and Grafana use them.
type rp struct {
	t        *testing.T
	n        *node
	provider *gooidc.Provider
	conf     oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func newRP(t *testing.T, n *node, spec app.OIDCClientSpec, scopes ...string) *rp {
	t.Helper()
	ctx := ctxT(t)
	if spec.Name == "" {
		spec.Name = "Test app"
	}
	if spec.RedirectURIs == nil {
		spec.RedirectURIs = []string{rpCallback}
	}
	id, secret, err := n.srv.App.CreateOIDCClient(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := gooidc.NewProvider(ctx, n.url)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &rp{t: t, n: n, provider: provider, verifier: provider.Verifier(&gooidc.Config{ClientID: id}), conf: oauth2.Config{
		ClientID: id, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: spec.RedirectURIs[0],
		Scopes: append([]string{gooidc.ScopeOpenID, "email"}, scopes...),
	}}
}

// flow is one authorization in progress in a browser (a cookie jar that stops at redirects).
type flow struct {
	state, nonce, verifier string
	browser                *client.Client
	noFollow               *http.Client
}

func (r *rp) begin(browser *client.Client, extra ...oauth2.AuthCodeOption) (*flow, string) {
	f := &flow{state: uuid.NewString(), nonce: uuid.NewString(), verifier: oauth2.GenerateVerifier(), browser: browser}
	f.noFollow = &http.Client{Jar: browser.HTTP.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier), oauth2.SetAuthURLParam("approval_prompt", "force")}, extra...)
	return f, r.conf.AuthCodeURL(f.state, opts...)
}

// follow requests u and follows redirects on the provider, returning the last answer and
// the URL that answered it, or the redirect to the client's callback.
func (f *flow) follow(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	for range 10 {
		resp, err := f.noFollow.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			return resp, u
		}
		resp.Body.Close()
		next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(next.String(), "http://127.0.0.1:9/") || next.Path == "/signin" {
			return resp, next.String()
		}
		u = next.String()
	}
	t.Fatal("too many redirects")
	return nil, ""
}

// code takes the code from a redirect to the callback, checking that state came back.
func (f *flow) code(t *testing.T, to string) string {
	t.Helper()
	u, err := url.Parse(to)
	if err != nil || !strings.HasPrefix(to, rpCallback) {
		t.Fatalf("not a redirect to the callback: %q", to)
	}
	if e := u.Query().Get("error"); e != "" {
		t.Fatalf("authorization error %s: %s", e, u.Query().Get("error_description"))
	}
	if u.Query().Get("state") != f.state {
		t.Fatalf("state came back as %q, sent %q", u.Query().Get("state"), f.state)
	}
	return u.Query().Get("code")
}

// exchange trades the code and verifies the ID token (signature, issuer, audience, nonce).
func (r *rp) exchange(f *flow, code string) (*oauth2.Token, *gooidc.IDToken, idClaims) {
	r.t.Helper()
	tok, err := r.conf.Exchange(ctxT(r.t), code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(ctxT(r.t), raw)
	if err != nil {
		r.t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != f.nonce {
		r.t.Fatalf("nonce %q, sent %q", idt.Nonce, f.nonce)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		r.t.Fatal(err)
	}
	return tok, idt, c
}

type idClaims struct {
	Sub           string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified *bool    `json:"email_verified"`
	AMR           []string `json:"amr"`
	ACR           string   `json:"acr"`
	AuthTime      int64    `json:"auth_time"`
	SID           string   `json:"sid"`
}

// authorizationID takes the authorization's ID from the sign-in page's URL.
func authorizationID(t *testing.T, signin string) string {
	t.Helper()
	u, err := url.Parse(signin)
	if err != nil || u.Path != "/signin" || u.Query().Get("oidc") == "" {
		t.Fatalf("expected the sign-in page, got %q", signin)
	}
	return u.Query().Get("oidc")
}

func TestOIDCCodeFlowWithPushApproval(t *testing.T) {
	t.Parallel()
	n := startOIDCNode(t)
	ctx := ctxT(t)

	// Discovery says what relying parties rely on.
	var disc map[string]any
	getJSON(t, n.url+"/.well-known/openid-configuration", &disc)
	if disc["issuer"] != n.url {
		t.Fatalf("issuer %v, want %s", disc["issuer"], n.url)
	}
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint", "end_session_endpoint"} {
		if s, _ := disc[k].(string); !strings.HasPrefix(s, n.url+"/") {
			t.Errorf("%s is %v, not an absolute URL of the issuer", k, disc[k])
		}
	}
	for k, want := range map[string]string{"response_types_supported": "code", "code_challenge_methods_supported": "S256",
		"id_token_signing_alg_values_supported": "RS256", "grant_types_supported": "refresh_token"} {
		if !slices.Contains(anyStrings(disc[k]), want) {
			t.Errorf("%s = %v lacks %s", k, disc[k], want)
		}
	}

	// An account with the app linked.
	b := n.account(t, "ada@example.com")
	p := newPhone(t, "ada's phone")
	link(t, n, b, p)
	p.connect(t, n)
	r := newRP(t, n, app.OIDCClientSpec{})

	// A new browser goes to the app, is sent to Assent's sign-in page, signs in with the
	// password and the push, and comes back with a code.
	browser := n.client()
	f, authURL := r.begin(browser)
	_, signin := f.follow(t, authURL)
	authID := authorizationID(t, signin)
	si, err := browser.SignIn(ctx, "ada@example.com", "correct horse battery staple")
	if err != nil || si.Challenge == nil {
		t.Fatalf("sign in: %+v %v", si, err)
	}
	req := recv(t, p.requests, "challenge on the device")
	if err := p.sock.Answer(ctx, req, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	if _, err := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil {
		t.Fatal(err)
	}
	if err := browser.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil {
		t.Fatal(err)
	}
	// Another person's session cannot claim this challenge to show a second factor it never used.
	thief := n.account(t, "eve@example.com")
	tf, thiefURL := r.begin(thief, oauth2.SetAuthURLParam("acr_values", "mfa"))
	resp, _ := tf.follow(t, thiefURL)
	resp.Body.Close()
	thiefAuth, err := n.srv.App.OIDCAuthorization(ctx, uuid.MustParse(lastAuthorization(t, n)))
	if err != nil {
		t.Fatal(err)
	}
	if _, to := tf.follow(t, n.url+"/oidc/continue?id="+thiefAuth.Request().AuthorizationID.String()+"&challenge="+si.Challenge.ID.String()); !strings.HasPrefix(to, n.url+"/signin?oidc=") && !strings.HasPrefix(to, "/signin") {
		t.Fatalf("a foreign challenge was accepted: %s", to)
	}

	// The sign-in page may arrive twice (the code's answer and the stream's outcome both move
	// on): the second visit answers like the first, and its code is the one that works.
	resume := n.url + "/oidc/continue?id=" + authID + "&challenge=" + si.Challenge.ID.String()
	_, to := f.follow(t, resume)
	first := f.code(t, to)
	_, to = f.follow(t, resume)
	code := f.code(t, to)
	tok, idt, claims := r.exchange(f, code)
	if _, err := r.conf.Exchange(ctx, first, oauth2.VerifierOption(f.verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("the code of the first visit after the second's: %v", err)
	}

	account, _ := n.srv.App.OIDCAuthorization(ctx, uuid.MustParse(authID))
	auth, _ := account.Authentication()
	if claims.Sub != auth.AccountID.String() || claims.Email != "ada@example.com" || claims.EmailVerified != nil && *claims.EmailVerified {
		t.Errorf("claims %+v", claims)
	}
	if !slices.Equal(claims.AMR, []string{"pwd", "mfa", "swk"}) || claims.ACR != "mfa" || claims.SID != authID || claims.AuthTime == 0 {
		t.Errorf("amr %v acr %q sid %q auth_time %d", claims.AMR, claims.ACR, claims.SID, claims.AuthTime)
	}
	if auth.ChallengeID != si.Challenge.ID {
		t.Errorf("the authorization names challenge %s, want %s", auth.ChallengeID, si.Challenge.ID)
	}
	if tok.Expiry.IsZero() || idt.Issuer != n.url {
		t.Errorf("expiry %v issuer %s", tok.Expiry, idt.Issuer)
	}
	ui, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != claims.Sub || ui.Email != "ada@example.com" {
		t.Fatalf("userinfo %+v %v", ui, err)
	}

	// The code cannot be used twice: the second exchange is refused and revokes the tokens.
	if _, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(f.verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("second exchange of a code: %v", err)
	}
	if _, err := r.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("the access token still works after its code was reused")
	}
	// A visit after the exchange finds the request used.
	if resp, _ := f.follow(t, resume); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("resume after the exchange: %d", resp.StatusCode)
	}
	wantEvents(t, n, "oidc-authorization-"+authID, "oidc.authorization.requested", "oidc.authorization.authenticated",
		"oidc.authorization.code.issued", "oidc.authorization.code.issued", "oidc.authorization.code.redeemed", "oidc.authorization.revoked")
	if reason := lastEventField(t, n, "oidc-authorization-"+authID, "reason"); reason != "code_reused" {
		t.Fatalf("revoked for %q", reason)
	}

	// A session opened on Assent's own sign-in page, with the push, signs in to the app without
	// the password, and the ID token still says how: the log shows the challenge redeemed for it.
	own, si2 := signIn(t, n, "ada@example.com")
	req2 := recv(t, p.requests, "second challenge on the device")
	if err := p.sock.Answer(ctx, req2, domain.AnswerApprove, number(t, si2.Challenge)); err != nil {
		t.Fatal(err)
	}
	if _, err := own.AwaitLogin(ctx, si2.Challenge.ID, si2.LoginToken); err != nil {
		t.Fatal(err)
	}
	if err := own.RedeemLogin(ctx, si2.Challenge.ID, si2.LoginToken); err != nil {
		t.Fatal(err)
	}
	_, _, sso := passwordFlow(t, n, r, own)
	if !slices.Equal(sso.AMR, []string{"pwd", "mfa", "swk"}) {
		t.Fatalf("single sign-on from Assent's own page: amr %v", sso.AMR)
	}
	// The session opened before 2FA was turned on shows no second factor: it signs in again.
	f3, authURL3 := r.begin(b)
	if _, to := f3.follow(t, authURL3); !strings.Contains(to, "/signin?oidc=") {
		t.Fatalf("a session without a second factor of a 2FA account: %s", to)
	}
}

// signedInRP returns a relying party and a browser signed in to Assent with the password
// alone (no second factor), and a first token set from a code flow with offline_access.
func passwordFlow(t *testing.T, n *node, r *rp, browser *client.Client, extra ...oauth2.AuthCodeOption) (*flow, *oauth2.Token, idClaims) {
	t.Helper()
	f, authURL := r.begin(browser, extra...)
	_, to := f.follow(t, authURL)
	tok, _, claims := r.exchange(f, f.code(t, to))
	return f, tok, claims
}

func TestOIDCRefreshRotationReuseRevocationAndIntrospection(t *testing.T) {
	t.Parallel()
	n := startOIDCNode(t)
	ctx := ctxT(t)
	browser := n.account(t, "ben@example.com")
	r := newRP(t, n, app.OIDCClientSpec{}, "offline_access", "profile")

	// An existing Assent session signs in without the password: single sign-on.
	_, tok, claims := passwordFlow(t, n, r, browser)
	if !slices.Equal(claims.AMR, []string{"pwd"}) || claims.ACR != "pwd" {
		t.Fatalf("amr %v acr %q", claims.AMR, claims.ACR)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}

	// Each refresh answers a new refresh token.
	refresh := func(rt string) (*oauth2.Token, error) {
		return r.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
	}
	t2, err := refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if t2.RefreshToken == "" || t2.RefreshToken == tok.RefreshToken || t2.AccessToken == tok.AccessToken {
		t.Fatal("a refresh must answer a new refresh token and a new access token")
	}
	t3, err := refresh(t2.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// The introspection endpoint tells a resource server the access token is live.
	rs := newRP(t, n, app.OIDCClientSpec{Name: "API"})
	if in := introspect(t, n, rs, t3.AccessToken); in["active"] != true || in["sub"] != claims.Sub || in["client_id"] != r.conf.ClientID {
		t.Fatalf("introspection of a live token: %v", in)
	}
	if in := introspect(t, n, rs, "not-a-token"); in["active"] != false {
		t.Fatalf("introspection of garbage: %v", in)
	}

	// The spent token comes back: refused, and the whole family is revoked.
	if _, err := refresh(t2.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("reuse of a spent refresh token: %v", err)
	}
	if _, err := refresh(t3.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("the live refresh token after a reuse: %v", err)
	}
	if in := introspect(t, n, rs, t3.AccessToken); in["active"] != false {
		t.Fatalf("introspection after the family was revoked: %v", in)
	}
	authID := claims.SID
	wantEvents(t, n, "oidc-authorization-"+authID, "oidc.authorization.requested", "oidc.authorization.authenticated",
		"oidc.authorization.code.issued", "oidc.authorization.code.redeemed", "oidc.refresh_token.rotated", "oidc.refresh_token.rotated",
		"oidc.authorization.revoked")
	if reason := lastEventField(t, n, "oidc-authorization-"+authID, "reason"); reason != "refresh_token_reused" {
		t.Fatalf("revoked for %q", reason)
	}

	// Revocation (RFC 7009) of a refresh token ends its access tokens too.
	_, tok4, _ := passwordFlow(t, n, r, browser)
	if in := introspect(t, n, rs, tok4.AccessToken); in["active"] != true {
		t.Fatalf("introspection: %v", in)
	}
	form := url.Values{"token": {tok4.RefreshToken}, "token_type_hint": {"refresh_token"}}
	resp := postForm(t, r.provider.Endpoint().TokenURL[:strings.LastIndex(r.provider.Endpoint().TokenURL, "/")]+"/revoke", r.conf.ClientID, r.conf.ClientSecret, form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if in := introspect(t, n, rs, tok4.AccessToken); in["active"] != false {
		t.Fatalf("introspection after revocation: %v", in)
	}
	if _, err := refresh(tok4.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh after revocation: %v", err)
	}
}

func TestOIDCRefusals(t *testing.T) {
	t.Parallel()
	n := startOIDCNode(t)
	ctx := ctxT(t)
	browser := n.account(t, "cy@example.com")
	conf := newRP(t, n, app.OIDCClientSpec{})
	public := newRP(t, n, app.OIDCClientSpec{Public: true})

	// A redirect URI that is not registered: an error page, never a redirect.
	bad := conf.conf
	bad.RedirectURL = "http://127.0.0.1:9/elsewhere"
	resp, err := browser.HTTP.Get(bad.AuthCodeURL("s"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Host != strings.TrimPrefix(n.url, "http://") || resp.StatusCode < 400 {
		t.Fatalf("unregistered redirect URI: ended at %s with %d", resp.Request.URL, resp.StatusCode)
	}
	// An unknown client: no redirect either. Both get a page with a human sentence, under the
	// pages' strict policy.
	unknown := conf.conf
	unknown.ClientID = "nobody"
	for _, tc := range []struct{ url, says string }{
		{bad.AuthCodeURL("s"), "an address it has not registered"},
		{unknown.AuthCodeURL("s"), "This application is not known"},
	} {
		resp, err := browser.HTTP.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Request.URL.Host != strings.TrimPrefix(n.url, "http://") || resp.StatusCode != http.StatusBadRequest ||
			!strings.Contains(string(body), tc.says) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatalf("refusal at %s: %d %q %s", resp.Request.URL, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}

	// A public client without PKCE is sent back with invalid_request.
	f := &flow{state: "s1", browser: browser}
	f.noFollow = &http.Client{Jar: browser.HTTP.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	_, to := f.follow(t, public.conf.AuthCodeURL("s1"))
	if u, _ := url.Parse(to); u.Query().Get("error") != "invalid_request" || u.Query().Get("state") != "s1" {
		t.Fatalf("public client without PKCE: %s", to)
	}
	// The plain method is refused.
	_, to = f.follow(t, conf.conf.AuthCodeURL("s1", oauth2.SetAuthURLParam("code_challenge", "abc"), oauth2.SetAuthURLParam("code_challenge_method", "plain")))
	if u, _ := url.Parse(to); u.Query().Get("error") != "invalid_request" {
		t.Fatalf("plain PKCE: %s", to)
	}

	// A wrong verifier, a wrong secret, a wrong redirect URI at the token endpoint: refused,
	// and the code still works after the wrong secret (the client is checked before the code
	// is spent).
	pf, authURL := public.begin(browser)
	_, to = pf.follow(t, authURL)
	if _, err := public.conf.Exchange(ctx, pf.code(t, to), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("wrong verifier: %v", err)
	}
	cf, authURL := conf.begin(browser)
	_, to = cf.follow(t, authURL)
	code := cf.code(t, to)
	wrong := conf.conf
	wrong.ClientSecret = "wrong"
	if _, err := wrong.Exchange(ctx, code, oauth2.VerifierOption(cf.verifier)); !isOAuthError(err, "invalid_client") {
		t.Fatalf("wrong secret: %v", err)
	}
	otherRedirect := conf.conf
	otherRedirect.RedirectURL = "http://127.0.0.1:9/elsewhere"
	if _, err := otherRedirect.Exchange(ctx, code, oauth2.VerifierOption(cf.verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("other redirect URI at the token endpoint: %v", err)
	}
	conf.exchange(cf, code)

	// Token refusals are 400 invalid_grant, never cached.
	resp = postForm(t, conf.provider.Endpoint().TokenURL, conf.conf.ClientID, conf.conf.ClientSecret, url.Values{
		"grant_type": {"authorization_code"}, "code": {"made-up"}, "redirect_uri": {rpCallback}})
	var refusal struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&refusal)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || refusal.Error != "invalid_grant" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("a made-up code: %d %q, Cache-Control %q", resp.StatusCode, refusal.Error, resp.Header.Get("Cache-Control"))
	}

	// A disabled client can do nothing more.
	if err := n.srv.App.DisableOIDCClient(ctx, conf.conf.ClientID); err != nil {
		t.Fatal(err)
	}
	if resp, err := browser.HTTP.Get(conf.conf.AuthCodeURL("s")); err != nil || resp.Request.URL.Host != strings.TrimPrefix(n.url, "http://") || resp.StatusCode < 400 {
		t.Fatalf("disabled client: %v %v", resp, err)
	}
}

func TestOIDCKeyRotationKeepsOldTokensVerifying(t *testing.T) {
	t.Parallel()
	n := startOIDCNode(t)
	ctx := ctxT(t)
	browser := n.account(t, "di@example.com")
	r := newRP(t, n, app.OIDCClientSpec{})
	_, before, _ := passwordFlow(t, n, r, browser)
	oldKid := kid(t, before)
	if _, err := n.srv.App.RotateOIDCSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	getJSON(t, n.url+"/oidc/keys", &jwks)
	if len(jwks.Keys) != 2 || jwks.Keys[1].Kid != oldKid || jwks.Keys[0].Alg != "RS256" {
		t.Fatalf("JWKS after a rotation: %+v (old kid %s)", jwks.Keys, oldKid)
	}
	// A verifier that fetches the key set anew verifies the token of the previous key and the
	// token of the new one.
	fresh := newRP(t, n, app.OIDCClientSpec{})
	freshVerifier := fresh.provider.Verifier(&gooidc.Config{ClientID: r.conf.ClientID})
	if _, err := freshVerifier.Verify(ctx, before.Extra("id_token").(string)); err != nil {
		t.Fatalf("a token of the previous key: %v", err)
	}
	_, after, _ := passwordFlow(t, n, r, browser)
	if kid(t, after) == oldKid || kid(t, after) != jwks.Keys[0].Kid {
		t.Fatalf("after rotation signed by %s", kid(t, after))
	}
	if _, err := freshVerifier.Verify(ctx, after.Extra("id_token").(string)); err != nil {
		t.Fatal(err)
	}
}

func TestOIDCPromptLoginMaxAgeAndRequiredMFA(t *testing.T) {
	t.Parallel()
	n := startOIDCNode(t)
	browser := n.account(t, "ed@example.com")
	r := newRP(t, n, app.OIDCClientSpec{})

	// prompt=login and max_age=0 send a signed-in person to the sign-in page.
	for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
		f, authURL := r.begin(browser, opt)
		_, to := f.follow(t, authURL)
		authID := authorizationID(t, to)
		// An old session cannot resume it either.
		resp, _ := f.follow(t, n.url+"/oidc/continue?id="+authID)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("resume with an old session: %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
	// A large max_age is satisfied by the session.
	passwordFlow(t, n, r, browser, oauth2.SetAuthURLParam("max_age", "3600"))

	// prompt=none without a session answers login_required to the client.
	stranger := n.client()
	f0, authURL := r.begin(stranger, oauth2.SetAuthURLParam("prompt", "none"))
	_, to := f0.follow(t, authURL)
	if u, _ := url.Parse(to); !strings.HasPrefix(to, rpCallback) || u.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none without a session: %s", to)
	}

	// A client that requires a second factor sends an account without one to turn it on.
	strict := newRP(t, n, app.OIDCClientSpec{RequireMFA: true})
	f, authURL := strict.begin(browser)
	resp, _ := f.follow(t, authURL)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Turn on two-factor authentication") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("required MFA without one: %d %s", resp.StatusCode, body)
	}
	// So does acr_values=mfa.
	f, authURL = r.begin(browser, oauth2.SetAuthURLParam("acr_values", "mfa"))
	if resp, _ := f.follow(t, authURL); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("acr_values=mfa without a second factor: %d", resp.StatusCode)
	}
}

func TestOIDCLogout(t *testing.T) {
	t.Parallel()
	n := startOIDCNode(t)
	ctx := ctxT(t)
	browser := n.account(t, "flo@example.com")
	r := newRP(t, n, app.OIDCClientSpec{PostLogoutRedirectURIs: []string{"http://127.0.0.1:9/bye"}})
	f, tok, claims := passwordFlow(t, n, r, browser)
	idToken := tok.Extra("id_token").(string)
	endSession := n.url + "/oidc/end_session"

	// An unregistered post-logout URI: no redirect, and the session lives on.
	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"http://127.0.0.1:9/elsewhere"}, "state": {"st"}}
	resp, err := f.noFollow.Get(endSession + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusFound {
		t.Fatalf("redirected to %s", resp.Header.Get("Location"))
	}
	if err := browser.Get(ctx, "/v1/session", nil); err != nil {
		t.Fatalf("session after a refused logout: %v", err)
	}

	// A token signed by a key that is not the provider's is refused, and nothing ends.
	forged := q
	forged.Set("id_token_hint", resign(t, idToken))
	forged.Set("post_logout_redirect_uri", "http://127.0.0.1:9/bye")
	resp, err = f.noFollow.Get(endSession + "?" + forged.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a forged id_token_hint answered %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if err := browser.Get(ctx, "/v1/session", nil); err != nil {
		t.Fatalf("session after a forged logout: %v", err)
	}

	// A registered one: the session ends, the authorization is revoked, state comes back.
	q = url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"http://127.0.0.1:9/bye"}, "state": {"st"}}
	resp, err = f.noFollow.Get(endSession + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Path != "/bye" || loc.Query().Get("state") != "st" {
		t.Fatalf("logout answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	wantCode(t, browser.Get(ctx, "/v1/session", nil), "unauthenticated")
	if reason := lastEventField(t, n, "oidc-authorization-"+claims.SID, "reason"); reason != "signed_out" {
		t.Fatalf("authorization revoked for %q", reason)
	}
}

// lastAuthorization returns the ID of the newest authorization in the log.
func lastAuthorization(t *testing.T, n *node) string {
	t.Helper()
	recs, err := n.srv.store.ReadAll(ctxT(t), eventstore.Start, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Type == "oidc.authorization.requested" {
			return strings.TrimPrefix(recs[i].Stream, "oidc-authorization-")
		}
	}
	t.Fatal("no authorization in the log")
	return ""
}

// resign signs a token's claims again with a key of its own, under the same key ID.
func resign(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kidOf(t, token)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kid returns the key ID in the header of a token set's ID token.
func kid(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	return kidOf(t, raw)
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func introspect(t *testing.T, n *node, rs *rp, token string) map[string]any {
	t.Helper()
	resp := postForm(t, n.url+"/oidc/introspect", rs.conf.ClientID, rs.conf.ClientSecret, url.Values{"token": {token}})
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("introspection answered %d: %v", resp.StatusCode, err)
	}
	return out
}

func postForm(t *testing.T, u, id, secret string, form url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

// wantEvents checks the types of a stream's events, in order.
func wantEvents(t *testing.T, n *node, stream string, types ...string) {
	t.Helper()
	recs, err := n.srv.store.ReadStream(ctxT(t), stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Type)
	}
	if !slices.Equal(got, types) {
		t.Fatalf("stream %s holds\n%v\nwant\n%v", stream, got, types)
	}
}

// lastEventField returns a field of the last event of a stream.
func lastEventField(t *testing.T, n *node, stream, field string) string {
	t.Helper()
	recs, err := n.srv.store.ReadStream(ctxT(t), stream, eventstore.ReadStreamOptions{})
	if err != nil || len(recs) == 0 {
		t.Fatalf("read %s: %v", stream, err)
	}
	var m map[string]any
	_ = json.Unmarshal(recs[len(recs)-1].Data, &m)
	s, _ := m[field].(string)
	return s
}

func TestOIDCConsent(t *testing.T) {
	t.Parallel()
	n := startOIDCNode(t)
	browser := n.account(t, "ida@example.com")
	r := newRP(t, n, app.OIDCClientSpec{AskConsent: true})
	tokenRe := regexp.MustCompile(`name="token" value="([^"]+)"`)
	actionRe := regexp.MustCompile(`action="([^"]+)"`)
	consentForm := func() (*flow, string, string) {
		f, authURL := r.begin(browser)
		resp, at := f.follow(t, authURL)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tm, am := tokenRe.FindSubmatch(body), actionRe.FindSubmatch(body)
		if resp.StatusCode != http.StatusOK || tm == nil || am == nil {
			t.Fatalf("no consent page at %s: %d %s", at, resp.StatusCode, body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "form-action 'self' http://127.0.0.1:9") {
			t.Fatalf("consent page CSP %q", csp)
		}
		return f, n.url + html.UnescapeString(string(am[1])), string(tm[1])
	}
	post := func(f *flow, action, token, decision string) *http.Response {
		resp, err := f.noFollow.PostForm(action, url.Values{"token": {token}, "decision": {decision}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	// A forged form changes nothing; Deny sends access_denied back with state.
	f, action, token := consentForm()
	if resp := post(f, action, "forged", "allow"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged consent: %d", resp.StatusCode)
	}
	resp := post(f, action, token, "deny")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != f.state {
		t.Fatalf("deny answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Allow records the consent and completes the sign-in; the next one asks nothing.
	f, action, token = consentForm()
	resp = post(f, action, token, "allow")
	next, _ := resp.Request.URL.Parse(resp.Header.Get("Location"))
	_, to := f.follow(t, next.String())
	_, _, claims := r.exchange(f, f.code(t, to))
	wantEvents(t, n, "oidc-consents-"+claims.Sub, "oidc.consent.granted")
	passwordFlow(t, n, r, browser)
}

func TestOIDCExpiredCodeAndRequest(t *testing.T) {
	t.Parallel()
	clock := &testClock{now: time.Now()}
	n := startOIDCNode(t, func(c *app.Config) { c.Clock = clock.Now })
	ctx := ctxT(t)
	browser := n.account(t, "jo@example.com")
	r := newRP(t, n, app.OIDCClientSpec{})

	// A code exchanged after its 2 minutes is refused.
	f, authURL := r.begin(browser)
	_, to := f.follow(t, authURL)
	code := f.code(t, to)
	clock.Advance(2*time.Minute + time.Second)
	if _, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(f.verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("an expired code: %v", err)
	}

	// A request older than 10 minutes can no longer be completed.
	stranger := n.client()
	f, authURL = r.begin(stranger)
	_, signin := f.follow(t, authURL)
	authID := authorizationID(t, signin)
	if res, err := stranger.SignIn(ctx, "jo@example.com", "correct horse battery staple"); err != nil || res.Status != "signed_in" {
		t.Fatalf("sign in: %+v %v", res, err)
	}
	clock.Advance(10*time.Minute + time.Second)
	resp, _ := f.follow(t, n.url+"/oidc/continue?id="+authID)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "expired") {
		t.Fatalf("an expired request: %d %s", resp.StatusCode, body)
	}
}
