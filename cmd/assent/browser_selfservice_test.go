package main

import (
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/httpapi"
)

// currentSession returns the id of c's own session in the sessions list.
func currentSession(t *testing.T, c *client.Client) string {
	t.Helper()
	for _, s := range sessionsOf(t, c).Sessions {
		if s.Current {
			return s.ID
		}
	}
	t.Fatal("no session of the list is the client's own")
	return ""
}

// TestBrowserSessionsPasswordNamesAndPausedPushes drives the security page's self-service: the
// sessions list ends another browser's session, a password change ends the others, a device
// and an authenticator app are renamed, an app is removed, and sign-in requests paused by
// "This wasn't me" are resumed with a code.
func TestBrowserSessionsPasswordNamesAndPausedPushes(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	// Without limits: the journey checks more passwords in a minute than the sign-in limits let
	// one account do.
	n := startNodeWith(t, nil, startOptions{limits: &httpapi.RateLimits{}})
	t.Cleanup(func() { checkDocumented(t, n) })
	ctx := ctxT(t)
	b := newBrowser(t, n.url)
	const email, password, newPassword = "lovelace@example.com", "correct horse battery staple", "a brand new passphrase"
	b.open("/register")
	b.look("register")
	b.typeInto("email", email)
	b.typeInto("password", password)
	b.enter("password")
	b.visible("home-account")

	// Two other browsers sign in; the page lists all three, this one marked.
	other, third := n.client(), n.client()
	for _, c := range []*client.Client{other, third} {
		if res, err := c.SignIn(ctx, email, password); err != nil || res.Status != "signed_in" {
			t.Fatalf("sign in: %+v %v", res, err)
		}
	}
	b.open("/security")
	b.waitText("session-list", "This browser")
	if got := b.eval(`String(document.querySelectorAll('#session-list li').length)`); got != "3" {
		t.Fatalf("the page lists %s sessions, want 3", got)
	}
	b.look("security, sessions")

	// Sign out another browser from here.
	b.click(`#session-list li[data-session="` + currentSession(t, other) + `"] button`)
	b.waitText("sec-status", "Signed out")
	wantCode(t, other.Get(ctx, "/v1/session", nil), "unauthenticated")
	if got := b.eval(`String(document.querySelectorAll('#session-list li').length)`); got != "2" {
		t.Fatalf("after signing one out the page lists %s sessions, want 2", got)
	}

	// A wrong current password changes nothing; the right one ends the third browser's session.
	b.typeInto("password-current", "not my password")
	b.typeInto("password-new", newPassword)
	b.enter("password-new")
	b.waitText("password-error", "not right")
	b.look("security, wrong current password")
	if err := third.Get(ctx, "/v1/session", nil); err != nil {
		t.Fatalf("a refused change ended another session: %v", err)
	}
	b.typeInto("password-current", password)
	b.typeInto("password-new", newPassword)
	b.enter("password-new")
	b.waitText("sec-status", "Password changed")
	wantCode(t, third.Get(ctx, "/v1/session", nil), "unauthenticated")
	if got := b.eval(`String(document.querySelectorAll('#session-list li').length)`); got != "1" {
		t.Fatalf("after the change the page lists %s sessions, want 1", got)
	}
	b.look("security, password changed")

	// A phone and an authenticator app, linked from another session with the new password.
	api := n.client()
	if res, err := api.SignIn(ctx, email, newPassword); err != nil || res.Status != "signed_in" {
		t.Fatalf("sign in with the new password: %+v %v", res, err)
	}
	p := newPhone(t, "terminal on vm")
	link(t, n, api, p)
	p.connect(t, n)
	var app struct {
		ID uuid.UUID `json:"id"`
	}
	if err := api.Post(ctx, "/v1/security/totp-apps", nil, &app); err != nil {
		t.Fatal(err)
	}

	b.open("/security")
	b.waitText("device-list", "terminal on vm")
	b.click(`#device-list button[aria-label="Rename terminal on vm"]`)
	b.visible("rename-1")
	b.look("security, renaming a device")
	b.typeInto("rename-1", "office terminal")
	b.enter("rename-1")
	b.waitText("sec-status", "Renamed terminal on vm to office terminal")
	b.waitText("device-list", "office terminal")
	b.click(`#app-list button[aria-label="Remove Authenticator app"]`)
	b.waitText("sec-status", "Removed Authenticator app")
	if got := b.text("app-list"); got != "" {
		t.Fatalf("after removing the app the list says %q", got)
	}

	// "This wasn't me" pauses sign-in requests; the page says until when and resumes them with
	// the password and a code.
	signInNew := func() client.SignInResponse {
		t.Helper()
		res, err := n.client().SignIn(ctx, email, newPassword)
		if err != nil || res.Status != "challenge" {
			t.Fatalf("sign in with 2FA: %+v %v", res, err)
		}
		return res
	}
	signInNew()
	r := recv(t, p.requests, "challenge to report")
	if err := p.sock.Answer(ctx, r, domain.AnswerFraud, 0); err != nil {
		t.Fatal(err)
	}
	// The open page hears of it live, without a reload.
	b.visible("paused")
	b.waitText("sec-status", "sign-in requests are paused")
	b.waitText("paused-text", "until")
	b.look("security, sign-in requests paused")
	b.typeInto("resume-password", newPassword)
	b.enter("resume-password")
	b.visible("resume-code")
	b.typeInto("resume-code", codeFor(t, p.dev, email))
	b.enter("resume-code")
	b.waitText("sec-status", "sent to your devices again")
	if hidden := b.eval(`String(document.getElementById('paused').hidden)`); hidden != "true" {
		t.Fatal("the paused notice stays after resuming")
	}
	b.look("security, sign-in requests resumed")
	if si := signInNew(); si.Challenge.PushMuted || si.Challenge.Devices != 1 {
		t.Fatalf("after resuming the challenge was not pushed: %+v", si.Challenge)
	}
	recv(t, p.requests, "push after resuming")
	b.noPageErrors()
}
