package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/assent-dev/assent/client"
)

// TestBrowserHelpDeskBypassAndReset: a person without their phone or codes signs in with a
// bypass code the help desk issued, and is told so; after the help desk's reset, the next
// sign-in goes straight to setting up a new second factor, with the notice of the reset, and
// the other pages send the person back there until it is set up.
func TestBrowserHelpDeskBypassAndReset(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	n, adminToken, _ := helpDeskNode(t)
	ctx := ctxT(t)
	const email, password = "lost.phone@example.com", "correct horse battery staple"
	api := n.account(t, email)
	link(t, n, api, newPhone(t, "the lost phone")) // 2FA on; the phone is gone, and its codes with it

	st, _, body := adminPost(t, n, adminToken, email, "bypass-codes", map[string]any{"reason": reason, "count": 1})
	var issued struct{ Codes []string }
	if st != 200 || json.Unmarshal(body, &issued) != nil || len(issued.Codes) != 1 {
		t.Fatalf("bypass codes: %d %s", st, body)
	}

	// The bypass code on the sign-in page's code form, like a backup code.
	b := newBrowser(t, n.url)
	b.signInWithPassword(email, password, "step-approve")
	b.click("#use-code")
	b.visible("step-code")
	b.look("signin-code-form")
	b.typeInto("code", issued.Codes[0])
	b.enter("code")
	b.visible("home-account")
	b.visible("desk-notices")
	if got := b.text("desk-list"); !strings.Contains(got, "the help desk gave you bypass codes") || strings.Contains(got, "ticket 4711") {
		t.Fatalf("the notice says %q", got)
	}
	b.look("home-helpdesk-notice")
	b.click("#desk-seen")
	b.do("wait for the notice to go", chromedp.WaitNotVisible(chromedp.ID("desk-notices")))
	b.open("/")
	b.visible("home-account")
	if hidden := b.eval(`String(document.getElementById('desk-notices').hidden)`); hidden != "true" {
		t.Fatal("the notice is shown again after it was marked read")
	}

	// The reset ends the session: the page sends the person to sign in.
	if st, _, body := adminPost(t, n, adminToken, email, "second-factor/reset", map[string]any{"reason": reason}); st != 200 {
		t.Fatalf("reset: %d %s", st, body)
	}
	b.open("/")
	b.visible("signin-form")
	b.look("signin-after-reset")
	nextSecond()

	// The password alone, then straight to the security page to set up a new second factor.
	b.typeInto("email", email)
	b.typeInto("password", password)
	b.enter("password")
	b.visible("security")
	if loc := b.location(); !strings.HasSuffix(loc, "/security") {
		t.Fatalf("after the password the page is %s", loc)
	}
	b.visible("desk-notices")
	if got := b.text("desk-list"); !strings.Contains(got, "reset your two-factor authentication") {
		t.Fatalf("the notice says %q", got)
	}
	b.waitText("add-heading", "Activate")
	// Until a new second factor is set up, the sessions and the history wait for it, and
	// another page of Assent sends the person back here.
	b.waitText("history-list", "Set up a new second factor")
	b.waitText("session-list", "Set up a new second factor")
	b.look("security-after-reset")
	b.open("/")
	b.visible("security")
	if loc := b.location(); !strings.HasSuffix(loc, "/security") {
		t.Fatalf("the home page of a session that must set up a second factor is %s", loc)
	}
	b.waitText("add-heading", "Activate")
	b.click("#link-app")
	b.visible("enroll-panel")
	server, token, err := client.ParseEnrollmentLink(b.scanQR("enroll-qr"))
	if err != nil || server != n.url {
		t.Fatalf("enrollment link: %q %v", server, err)
	}
	p := newPhone(t, "the new phone")
	if _, err := n.client().Enroll(ctx, p.dev, token); err != nil {
		t.Fatal(err)
	}
	b.waitText("sec-status", "Two-factor authentication is now on")
	b.waitText("session-list", "This browser")
	b.waitText("history-list", "Signed in")

	// 2FA is on again: the next sign-in asks the new phone.
	p.connect(t, n)
	b.signOut()
	b.signInWithPassword(email, password, "step-approve")
	recv(t, p.requests, "the sign-in request on the new phone")
	b.noPageErrors()
}
