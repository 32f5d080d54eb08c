package main

import (
	"fmt"
	"testing"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/httpapi"
)

// TestBrowserDeleteMyAccount deletes an account from its security page, with the password and
// an approval on the phone (number matching): the page says so, every session of the account
// ends, it signs in no more, and the store's files do not hold its email or its phone's name.
func TestBrowserDeleteMyAccount(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	var dir string
	n := startNodeWith(t, func(c *config.Config) { dir = c.DataDir }, startOptions{limits: &httpapi.RateLimits{}})
	t.Cleanup(func() { checkDocumented(t, n) })
	ctx := ctxT(t)
	b := newBrowser(t, n.url)
	const email, password = "forget.me@example.com", "correct horse battery staple"
	b.open("/register")
	b.look("register")
	b.typeInto("email", email)
	b.typeInto("password", password)
	b.enter("password")
	b.visible("home-account")

	// A phone, linked from another session of the account: 2FA is on.
	api := n.client()
	if res, err := api.SignIn(ctx, email, password); err != nil || res.Status != "signed_in" {
		t.Fatalf("sign in: %+v %v", res, err)
	}
	p := newPhone(t, "Forgettable Phone")
	link(t, n, api, p)
	p.connect(t, n)

	b.open("/security")
	b.waitText("device-list", "Forgettable Phone")
	b.visible("erase-section")
	b.look("security, delete my account")

	// A wrong password deletes nothing.
	b.typeInto("erase-password", "not my password")
	b.enter("erase-password")
	b.waitText("erase-error", "wrong")
	b.look("security, delete my account, wrong password")
	if err := api.Get(ctx, "/v1/security", nil); err != nil {
		t.Fatalf("a refused deletion ended a session: %v", err)
	}

	// The password, then the approval on the phone with the number the page shows.
	b.typeInto("erase-password", password)
	b.enter("erase-password")
	b.visible("erase-confirm")
	b.look("security, delete my account, confirm on the phone")
	var num int
	if _, err := fmt.Sscan(b.text("erase-number"), &num); err != nil {
		t.Fatalf("the page shows the number %q", b.text("erase-number"))
	}
	r := recv(t, p.requests, "the confirmation on the device")
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, num); err != nil {
		t.Fatal(err)
	}
	b.visible("erased")
	b.waitText("erased-heading", "Your account is deleted")
	if got := b.navigation(); got != "Sign in|Create an account" {
		t.Fatalf("after the deletion the navigation shows %q", got)
	}
	if got := b.text("sec-error"); got != "" {
		t.Fatalf("after the deletion the page shows the error %q", got)
	}
	b.look("security, account deleted")

	wantCode(t, api.Get(ctx, "/v1/security", nil), "unauthenticated")
	_, err := n.client().SignIn(ctx, email, password)
	wantCode(t, err, "wrong_credentials")
	if found := filesHold(t, dir, email, "Forgettable Phone"); len(found) > 0 {
		t.Fatalf("the store's files hold %v", found)
	}
	b.noPageErrors()
}
