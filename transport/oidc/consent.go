package oidc

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/web"
	"github.com/assent-dev/assent/websession"
)

const consentPath = "/oidc/consent"

var errConsentForged = errors.New("the consent form does not belong to this sign-in")

// consentToken binds the consent form to the authorization and the browser's session, so that
// no other page can post it.
func (p *Provider) consentToken(id uuid.UUID, sess websession.Session) string {
	return base64.RawURLEncoding.EncodeToString(p.mac(p.cfg.Keys[0].Key, append([]byte("consent:"+id.String()+":"), sessionDigest(sess)...)))
}

var consentTemplate = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Allow {{.Client}}? · Assent</title><link rel="stylesheet" href="/static/assent.css"></head>
<body class="layout-card"><main><div class="card"><h1 id="consent-heading">Allow {{.Client}} to sign you in?</h1>
<p>{{.Client}} asks for: {{range $i, $s := .Scopes}}{{if $i}}, {{end}}{{$s}}{{end}}.</p>
<form id="consent-form" class="actions" method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<button type="submit" id="consent-allow" name="decision" value="allow">Allow</button>
<button type="submit" id="consent-deny" name="decision" value="deny" class="secondary">Deny</button>
</form></div></main></body></html>
`))

// consentPage asks the person whether the client may have the scopes it asks for. The form
// posts back here; its answer redirects to the client, so the page's form-action also allows
// the client's redirect URI's origin (browsers check it on the redirects a form leads to).
func (p *Provider) consentPage(c echo.Context, a *domain.OIDCAuthorization, client domain.OIDCClient, sess websession.Session, challenge uuid.UUID) error {
	r := a.Request()
	q := url.Values{"id": {r.AuthorizationID.String()}}
	if challenge != uuid.Nil {
		q.Set("challenge", challenge.String())
	}
	var b bytes.Buffer
	if err := consentTemplate.Execute(&b, struct {
		Client, Action, Token string
		Scopes                []string
	}{client.Name, consentPath + "?" + q.Encode(), p.consentToken(r.AuthorizationID, sess), r.Scopes}); err != nil {
		return err
	}
	csp := web.ContentSecurityPolicy
	if u, err := url.Parse(r.RedirectURI); err == nil {
		csp = strings.Replace(csp, "form-action 'self'", "form-action 'self' "+u.Scheme+"://"+u.Host, 1)
	}
	c.Response().Header().Set("Content-Security-Policy", csp)
	return c.HTMLBlob(http.StatusOK, b.Bytes())
}

// consent takes the answer of the consent form: allow records the consent
// (oidc.consent.granted) and completes the sign-in; deny sends access_denied to the client.
func (p *Provider) consent(c echo.Context) error {
	a, client, err := p.authorization(c)
	if err != nil {
		return p.errorPage(c, err)
	}
	sess, ok := p.session(c.Request())
	token := c.FormValue("token")
	if !ok || !hmac.Equal([]byte(token), []byte(p.consentToken(a.Request().AuthorizationID, sess))) {
		return p.errorPage(c, errConsentForged)
	}
	if c.FormValue("decision") != "allow" {
		op.AuthRequestError(c.Response(), c.Request(), newAuthRequest(a, ""), zoidc.ErrAccessDenied().WithDescription("The person did not allow the application."), p.op)
		return nil
	}
	ev, err := p.evidence(c, a, client, sess)
	if err != nil {
		return p.errorPage(c, err)
	}
	if err := p.cfg.App.GrantOIDCConsent(c.Request().Context(), domain.GrantOIDCConsent{
		AccountID: sess.AccountID, ClientID: client.ID, Scopes: a.Request().Scopes, AuthorizationID: a.Request().AuthorizationID,
	}); err != nil {
		return p.errorPage(c, err)
	}
	return p.complete(c, a, client, sess, ev)
}

// evidence checks, for the challenge named by ?challenge=, how the session signed in and that
// this meets the request's rules.
func (p *Provider) evidence(c echo.Context, a *domain.OIDCAuthorization, client domain.OIDCClient, sess websession.Session) (app.SignInEvidence, error) {
	var challenge uuid.UUID
	if raw := c.QueryParam("challenge"); raw != "" {
		var err error
		if challenge, err = uuid.Parse(raw); err != nil {
			return app.SignInEvidence{}, errBadRequest
		}
	}
	ctx := c.Request().Context()
	ev, err := p.cfg.App.SessionEvidence(ctx, sess.AccountID, sessionDigest(sess), challenge, p.authTime(sess))
	if err != nil {
		return ev, err
	}
	if !p.fresh(a, sess) {
		return ev, errNotFresh
	}
	return ev, p.satisfies(ctx, a, client, ev)
}
