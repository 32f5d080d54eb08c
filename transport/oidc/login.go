package oidc

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/web"
	"github.com/assent-dev/assent/websession"
)

// ssoCookie remembers which challenge signed the browser's session in, so that a later
// authorization can tell the relying party how (amr) without asking again. It is bound to the
// session by the session's digest and signed with a key derived for the provider.
const ssoCookie = "assent_oidc_sso"

// login is where the library sends the person (the client's LoginURL). A session that
// satisfies the request (fresh enough for max_age and prompt=login, with a second factor
// when the client or acr_values ask for one, and a known way of signing in) completes the
// authorization at once: single sign-on. Otherwise the person signs in on the sign-in page,
// which comes back to resume.
func (p *Provider) login(c echo.Context) error {
	a, client, err := p.authorization(c)
	if err != nil {
		return p.errorPage(c, err)
	}
	sess, ok := p.session(c.Request())
	if ok {
		ev, err := p.cfg.App.SessionEvidence(c.Request().Context(), sess.AccountID, sessionDigest(sess), p.ssoChallenge(c.Request(), sess), p.authTime(sess))
		if err == nil && p.fresh(a, sess) {
			switch err := p.satisfies(c.Request().Context(), a, client, ev); {
			case err == nil:
				return p.complete(c, a, client, sess, ev)
			case errors.Is(err, errMFANotEnabled):
				return p.errorPage(c, err)
			}
		}
	}
	if slices.Contains(a.Request().Prompt, zoidc.PromptNone) {
		op.AuthRequestError(c.Response(), c.Request(), newAuthRequest(a, ""), zoidc.ErrLoginRequired(), p.op)
		return nil
	}
	return c.Redirect(http.StatusFound, "/signin?oidc="+url.QueryEscape(a.Request().AuthorizationID.String()))
}

// resume is where the sign-in page sends the person back, with the challenge it passed (none
// when the account has no second factor). A second visit is answered like the first.
func (p *Provider) resume(c echo.Context) error {
	a, client, err := p.authorization(c)
	if err != nil {
		return p.errorPage(c, err)
	}
	again := "/signin?oidc=" + url.QueryEscape(a.Request().AuthorizationID.String())
	sess, ok := p.session(c.Request())
	if !ok {
		return c.Redirect(http.StatusFound, again)
	}
	var challenge uuid.UUID
	if raw := c.QueryParam("challenge"); raw != "" {
		if challenge, err = uuid.Parse(raw); err != nil {
			return p.errorPage(c, errBadRequest)
		}
	}
	ctx := c.Request().Context()
	ev, err := p.cfg.App.SessionEvidence(ctx, sess.AccountID, sessionDigest(sess), challenge, p.authTime(sess))
	if errors.Is(err, app.ErrNoSignInEvidence) {
		return c.Redirect(http.StatusFound, again)
	}
	if err != nil {
		return p.errorPage(c, err)
	}
	if challenge != uuid.Nil {
		c.SetCookie(p.newSSOCookie(sess, challenge))
	}
	if !p.fresh(a, sess) {
		return p.errorPage(c, errNotFresh)
	}
	if err := p.satisfies(ctx, a, client, ev); err != nil {
		return p.errorPage(c, err)
	}
	return p.complete(c, a, client, sess, ev)
}

// complete records who signed in and how, and hands back to the library, which issues the
// code and redirects to the client. A client that asks for consent gets it first, once for
// the scopes it asks.
func (p *Provider) complete(c echo.Context, a *domain.OIDCAuthorization, client domain.OIDCClient, sess websession.Session, ev app.SignInEvidence) error {
	id := a.Request().AuthorizationID
	if client.AskConsent {
		ok, err := p.cfg.App.OIDCConsented(c.Request().Context(), sess.AccountID, client.ID, a.Request().Scopes)
		if err != nil {
			return p.errorPage(c, err)
		}
		if !ok {
			return p.consentPage(c, a, client, sess, ev.ChallengeID)
		}
	}
	err := p.cfg.App.AuthenticateOIDCAuthorization(c.Request().Context(), id, domain.AuthenticateOIDCAuthorization{
		AccountID: sess.AccountID, AMR: ev.AMR, ACR: app.ACROf(ev.AMR), AuthTime: p.authTime(sess),
		ChallengeID: ev.ChallengeID, SessionDigest: sessionDigest(sess),
	})
	if err != nil {
		return p.errorPage(c, err)
	}
	return c.Redirect(http.StatusFound, p.cfg.Issuer+callbackPath+"?id="+url.QueryEscape(id.String()))
}

// authTime is when the session signed in: its expiry minus the sessions' lifetime.
func (p *Provider) authTime(sess websession.Session) time.Time {
	return sess.Expires.Add(-p.cfg.SessionTTL)
}

// fresh reports whether the session signed in recently enough for the request: within
// max_age seconds before the request (prompt=login is max_age 0: after the request).
func (p *Provider) fresh(a *domain.OIDCAuthorization, sess websession.Session) bool {
	r := a.Request()
	maxAge := r.MaxAge
	if slices.Contains(r.Prompt, zoidc.PromptLogin) {
		maxAge = new(int64)
	}
	if maxAge == nil {
		return true
	}
	// A session's sign-in time is known to the second (its expiry is): one of the request's own
	// second is not known to have followed it, and does not count as fresh.
	oldest := r.At.Truncate(time.Second).Add(-time.Duration(*maxAge) * time.Second)
	return p.authTime(sess).After(oldest)
}

// Refusals of the sign-in pages.
var (
	errBadRequest    = errors.New("bad request")
	errNotFresh      = errors.New("the sign-in is older than the application allows")
	errMFANotEnabled = errors.New("the application requires a second factor")
	errMFANeeded     = errors.New("the application requires a sign-in with a second factor")
)

// satisfies checks the client's and the request's rules against how the session signed in.
func (p *Provider) satisfies(ctx context.Context, a *domain.OIDCAuthorization, client domain.OIDCClient, ev app.SignInEvidence) error {
	needMFA := client.RequireMFA || slices.Contains(a.Request().ACRValues, app.ACRMFA)
	if !needMFA || slices.Contains(ev.AMR, app.AMRMFA) {
		return nil
	}
	on, err := p.cfg.App.MFAEnabled(ctx, ev.AccountID)
	if err != nil {
		return err
	}
	if !on {
		return errMFANotEnabled // the account has no second factor: it must turn one on first
	}
	return errMFANeeded
}

// authorization loads the request named by ?id= and its client.
func (p *Provider) authorization(c echo.Context) (*domain.OIDCAuthorization, domain.OIDCClient, error) {
	id, err := uuid.Parse(c.QueryParam("id"))
	if err != nil {
		return nil, domain.OIDCClient{}, errBadRequest
	}
	ctx := c.Request().Context()
	a, err := p.cfg.App.OIDCAuthorization(ctx, id)
	if err != nil {
		return nil, domain.OIDCClient{}, err
	}
	r := a.Request()
	if a.Redeemed() || p.cfg.Now().After(r.ExpiresAt) {
		return nil, domain.OIDCClient{}, domain.ErrOIDCAuthorizationDone
	}
	client, err := p.cfg.App.OIDCClient(ctx, r.ClientID)
	if err != nil {
		return nil, domain.OIDCClient{}, err
	}
	if client.Disabled {
		return nil, domain.OIDCClient{}, domain.ErrOIDCClientDisabled
	}
	return a, client, nil
}

// newSSOCookie binds challenge to the session.
func (p *Provider) newSSOCookie(sess websession.Session, challenge uuid.UUID) *http.Cookie {
	id := p.cfg.Keys[0].ID
	payload := append(sessionDigest(sess)[:16], challenge[:]...)
	value := id + ":" + base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(p.mac(p.cfg.Keys[0].Key, payload))
	return &http.Cookie{Name: ssoCookie, Value: value, Path: "/oidc/", Expires: sess.Expires, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: p.secure}
}

// ssoChallenge returns the challenge the browser's SSO cookie names for sess, or uuid.Nil.
func (p *Provider) ssoChallenge(r *http.Request, sess websession.Session) uuid.UUID {
	c, err := r.Cookie(ssoCookie)
	if err != nil {
		return uuid.Nil
	}
	keyID, rest, ok := strings.Cut(c.Value, ":")
	b64, sig, ok2 := strings.Cut(rest, ".")
	key, known := p.ssoKeys[keyID]
	if !ok || !ok2 || !known {
		return uuid.Nil
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(b64)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || len(payload) != 32 || !hmac.Equal(mac, p.mac(key, payload)) {
		return uuid.Nil
	}
	if !bytes.Equal(payload[:16], sessionDigest(sess)[:16]) {
		return uuid.Nil
	}
	id, _ := uuid.FromBytes(payload[16:])
	return id
}

func (p *Provider) mac(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("oidc-sso"))
	m.Write(payload)
	return m.Sum(nil)
}

func (p *Provider) signedOut(c echo.Context) error {
	return p.page(c, http.StatusOK, "Signed out", "You are signed out of Assent.", "")
}

// errorPage answers a refusal of the sign-in flow with a page, never a redirect.
func (p *Provider) errorPage(c echo.Context, err error) error {
	switch {
	case errors.Is(err, errBadRequest):
		return p.page(c, http.StatusBadRequest, "Sign-in link not valid", "This sign-in link is not valid. Go back to the application and sign in again.", "")
	case errors.Is(err, domain.ErrOIDCAuthorizationNone), errors.Is(err, domain.ErrOIDCAuthorizationDone):
		return p.page(c, http.StatusBadRequest, "Sign-in link expired", "This sign-in request has expired or was already used. Go back to the application and sign in again.", "")
	case errors.Is(err, domain.ErrOIDCClientNotFound), errors.Is(err, domain.ErrOIDCClientDisabled):
		return p.page(c, http.StatusBadRequest, "Application not allowed", "This application may not sign people in with Assent.", "")
	case errors.Is(err, errMFANotEnabled):
		return p.page(c, http.StatusForbidden, "Turn on two-factor authentication first", "This application asks for a second factor. Turn on two-factor authentication on your security page, then sign in to the application again.", "/security")
	case errors.Is(err, errConsentForged), errors.Is(err, app.ErrNoSignInEvidence):
		return p.page(c, http.StatusForbidden, "Sign in again", "This page does not belong to your sign-in. Go back to the application and sign in again.", "")
	case errors.Is(err, app.ErrEnrollmentRequired):
		return p.page(c, http.StatusForbidden, "Set up your second factor first", "The help desk reset your second factor. Set up a new one on your security page, then sign in to the application again.", "/security")
	case errors.Is(err, domain.ErrAccountDisabled):
		return p.page(c, http.StatusForbidden, "Account disabled", "This account is disabled. Contact your help desk.", "")
	case errors.Is(err, errMFANeeded), errors.Is(err, errNotFresh):
		return p.page(c, http.StatusForbidden, "Sign in again", "This application needs a fresh sign-in with your second factor. Go back to the application and sign in again.", "")
	}
	p.cfg.Log.Error("oidc sign-in", "err", err)
	return p.page(c, http.StatusServiceUnavailable, "Sign-in unavailable", "Something went wrong on our side. Please try again.", "")
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Assent</title><link rel="stylesheet" href="/static/assent.css"></head>
<body><main><h1>{{.Title}}</h1><p id="message">{{.Text}}</p>{{if .Link}}<p><a href="{{.Link}}">Open your security page</a></p>{{end}}</main></body></html>
`))

func (p *Provider) page(c echo.Context, status int, title, text, link string) error {
	return renderPage(c.Response(), status, title, text, link)
}

// renderPage writes a page of the sign-in flow with the pages' strict policy.
func renderPage(w http.ResponseWriter, status int, title, text, link string) error {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, struct{ Title, Text, Link string }{title, text, link}); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Security-Policy", web.ContentSecurityPolicy)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(b.Bytes())
	return err
}

// authorizeErrors turns the library's plain-text refusals of an authorization request that
// may not be redirected (an unknown or disabled client, a redirect URI that is not
// registered) into a page with a human sentence.
type authorizeErrors struct {
	http.ResponseWriter
	body     bytes.Buffer
	captured bool
}

func (w *authorizeErrors) WriteHeader(code int) {
	if code == http.StatusBadRequest && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.captured = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *authorizeErrors) Write(b []byte) (int, error) {
	if w.captured {
		return w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *authorizeErrors) finish() {
	if !w.captured {
		return
	}
	text := "This application is not known, or may not sign people in with Assent. Nothing was sent to it."
	if strings.Contains(w.body.String(), "redirect_uri") {
		text = "The application asked to send you back to an address it has not registered with Assent. Nothing was sent to it."
	} else if strings.Contains(w.body.String(), "scope") || strings.Contains(w.body.String(), "prompt") {
		text = "The application's sign-in request is not valid: " + strings.TrimSpace(w.body.String())
	}
	_ = renderPage(w.ResponseWriter, http.StatusBadRequest, "Sign-in request refused", text, "")
}
