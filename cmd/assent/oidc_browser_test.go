package main

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
)

// rpApp is a small relying-party web app on loopback: "/" sends the browser to Assent,
// "/callback" exchanges the code, verifies the ID token and shows who signed in, and how.
type rpApp struct {
	srv      *httptest.Server
	conf     oauth2.Config
	verifier *gooidc.IDTokenVerifier
	mu       sync.Mutex
	pending  map[string][2]string // state -> nonce, PKCE verifier
	claims   chan idClaims
}

func newRPApp(t *testing.T, n *node, spec app.OIDCClientSpec) *rpApp {
	t.Helper()
	a := &rpApp{pending: map[string][2]string{}, claims: make(chan idClaims, 4)}
	mux := http.NewServeMux()
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	spec.Name, spec.RedirectURIs = "Wiki", []string{a.srv.URL + "/callback"}
	id, secret, err := n.srv.App.CreateOIDCClient(ctxT(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := gooidc.NewProvider(ctxT(t), n.url)
	if err != nil {
		t.Fatal(err)
	}
	a.verifier = provider.Verifier(&gooidc.Config{ClientID: id})
	a.conf = oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: a.srv.URL + "/callback",
		Scopes: []string{gooidc.ScopeOpenID, "email", "profile"}}
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { // only "/": not the favicon
		state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		a.mu.Lock()
		a.pending[state] = [2]string{nonce, verifier}
		a.mu.Unlock()
		http.Redirect(w, r, a.conf.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
	})
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		p, ok := a.pending[r.URL.Query().Get("state")]
		delete(a.pending, r.URL.Query().Get("state"))
		a.mu.Unlock()
		if !ok {
			http.Error(w, "unknown state", http.StatusBadRequest)
			return
		}
		tok, err := a.conf.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(p[1]))
		if err != nil {
			http.Error(w, "exchange: "+err.Error(), http.StatusBadGateway)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := a.verifier.Verify(r.Context(), raw)
		if err != nil || idt.Nonce != p[0] {
			http.Error(w, fmt.Sprintf("ID token: %v (nonce %q)", err, idt.Nonce), http.StatusBadGateway)
			return
		}
		var c idClaims
		_ = idt.Claims(&c)
		select {
		case a.claims <- c:
		default:
			http.Error(w, "an ID token the test did not take yet", http.StatusConflict)
			return
		}
		fmt.Fprintf(w, `<!doctype html><p id="who">Signed in as %s with %s</p>`, html.EscapeString(c.Email), html.EscapeString(strings.Join(c.AMR, " ")))
	})
	return a
}

// TestBrowserOIDCSignInWithPush is the whole journey: a relying-party app sends Chromium to
// Assent's sign-in page; the password, then the push approved by a device through the client
// package with the number the page shows; and the browser is back at the app, signed in, with
// mfa in the verified ID token.
func TestBrowserOIDCSignInWithPush(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	n := startOIDCNode(t)
	acct := n.account(t, "gil@example.com")
	p := newPhone(t, "gil's phone")
	link(t, n, acct, p)
	p.connect(t, n)
	rpa := newRPApp(t, n, app.OIDCClientSpec{})

	b := newBrowser(t, n.url)
	b.do("open the app", chromedp.Navigate(rpa.srv.URL+"/"))
	b.typeInto("email", "gil@example.com")
	if !strings.Contains(b.location(), "/signin?oidc=") {
		t.Fatalf("the app sent the browser to %s", b.location())
	}
	b.typeInto("password", "correct horse battery staple")
	b.enter("password")
	b.visible("step-approve")
	b.look("sign-in for an app, number to enter")
	shown := b.text("number")
	req := recv(t, p.requests, "challenge on the device")
	var num int
	if _, err := fmt.Sscan(shown, &num); err != nil {
		t.Fatalf("the page shows %q", shown)
	}
	if err := p.sock.Answer(ctxT(t), req, domain.AnswerApprove, num); err != nil {
		t.Fatal(err)
	}
	b.waitText("who", "Signed in as gil@example.com")
	c := recv(t, rpa.claims, "the app's verified ID token")
	if !slices.Equal(c.AMR, []string{"pwd", "mfa", "swk"}) || c.ACR != "mfa" {
		t.Fatalf("the app got amr %v acr %q", c.AMR, c.ACR)
	}
	if !strings.HasPrefix(b.location(), rpa.srv.URL+"/callback") {
		t.Fatalf("the browser ended at %s", b.location())
	}
	b.noPageErrors()
}

// TestBrowserOIDCConsent: an app set to ask for consent shows the consent page once; Allow
// goes back to the app (the page's form-action lets the redirect through), and the next
// sign-in asks nothing.
func TestBrowserOIDCConsent(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	n := startOIDCNode(t)
	n.account(t, "hal@example.com")
	rpa := newRPApp(t, n, app.OIDCClientSpec{AskConsent: true})

	b := newBrowser(t, n.url)
	b.do("open the app", chromedp.Navigate(rpa.srv.URL+"/"))
	b.typeInto("email", "hal@example.com")
	b.typeInto("password", "correct horse battery staple")
	b.enter("password")
	b.waitText("consent-heading", "Allow Wiki to sign you in?")
	b.look("consent")
	b.click("#consent-allow")
	b.waitText("who", "Signed in as hal@example.com with pwd")
	recv(t, rpa.claims, "the app's verified ID token")
	b.noPageErrors()

	b.do("open the app again", chromedp.Navigate(rpa.srv.URL+"/"))
	b.waitText("who", "Signed in as hal@example.com")
	recv(t, rpa.claims, "the second ID token")
	if strings.Count(strings.Join(b.requested(`/oidc/consent`), "\n"), "POST") != 1 {
		t.Fatalf("consent posted %v", b.requested(`/oidc/consent`))
	}
}
