package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
)

// TestBrowserHistoryVerified signs in on the sign-in page three times, with a push approved
// on the device, a push denied and the device's TOTP code, and checks that the security
// page's history lists the three, newest first, each saying how it was answered, the approval
// and the denial marked "Signature verified" and the code not marked at all.
func TestBrowserHistoryVerified(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	n := startNode(t)
	ctx := ctxT(t)
	const email, password = "hamilton@example.com", "correct horse battery staple"
	api := n.account(t, email)
	p := newPhone(t, "Margaret's phone")
	link(t, n, api, p)
	p.connect(t, n)
	b := newBrowser(t, n.url)

	b.signInWithPassword(email, password, "step-approve")
	b.look("sign-in, number to enter")
	var num int
	if _, err := fmt.Sscan(b.text("number"), &num); err != nil {
		t.Fatalf("the page shows the number %q", b.text("number"))
	}
	r := recv(t, p.requests, "the request to approve")
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, num); err != nil {
		t.Fatal(err)
	}
	b.visible("home-account")
	b.look("home, signed in with a push")
	b.signOut()

	b.signInWithPassword(email, password, "step-approve")
	r = recv(t, p.requests, "the request to deny")
	if err := p.sock.Answer(ctx, r, domain.AnswerDeny, 0); err != nil {
		t.Fatal(err)
	}
	b.waitText("outcome-heading", "Sign-in denied")

	b.signInWithPassword(email, password, "step-approve")
	recv(t, p.requests, "the request answered with a code")
	b.click("#use-code")
	b.typeInto("code", codeFor(t, p.dev, email))
	b.enter("code")
	b.visible("home-account")

	b.open("/security")
	b.waitText("history-list", "Passed with a code")
	rows := b.eval(`[...document.querySelectorAll('#history-list li')].map(li => li.dataset.method + ':' + ((li.querySelector('[data-signature]') || {dataset: {}}).dataset.signature || '-')).join(' ')`)
	// Newest first: the code, the denial, the approval, and the sign-in before 2FA was on.
	if rows != "device_code:- push_deny:verified push_approve:verified password:-" {
		t.Fatalf("the history lists %q", rows)
	}
	approved := b.eval(`document.querySelector('#history-list li[data-method="push_approve"]').textContent`)
	for _, want := range []string{"Sign-in: Approved", "from 127.0.0.1", "Approved on Margaret's phone", "Signature verified"} {
		if !strings.Contains(approved, want) {
			t.Fatalf("the approval's row says %q; want %q in it", approved, want)
		}
	}
	denied := b.eval(`document.querySelector('#history-list li[data-method="push_deny"]').textContent`)
	if !strings.Contains(denied, "Sign-in: Denied") || !strings.Contains(denied, "Denied on Margaret's phone") {
		t.Fatalf("the denial's row says %q", denied)
	}
	code := b.eval(`document.querySelector('#history-list li[data-method="device_code"]').textContent`)
	if !strings.Contains(code, "With a code from Margaret's phone") || strings.Contains(code, "Signature") {
		t.Fatalf("the code's row says %q", code)
	}
	b.look("security, history")
	b.noPageErrors()
}

// TestBrowserLiveSessionList opens the security page in one browser, signs in from a second
// browser and checks that the first page's session list grows by itself, without a reload;
// then the second browser signs out and the list shrinks again.
func TestBrowserLiveSessionList(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	n := startNode(t)
	const email, password = "liskov@example.com", "correct horse battery staple"
	n.account(t, email)
	first, second := newBrowser(t, n.url), newBrowser(t, n.url)

	first.open("/signin")
	first.look("sign-in")
	first.signInWithPassword(email, password, "home-account")
	first.look("home")
	first.open("/security")
	first.waitText("session-list", "This browser")
	count := func() string {
		return first.eval(`String(document.querySelectorAll('#session-list li').length)`)
	}
	before := count()
	first.eval(`window.notReloaded = 'yes'`)
	first.look("security, sessions before")

	second.signInWithPassword(email, password, "home-account")
	second.look("home, the second browser")
	waitEval(t, first, `String(document.querySelectorAll('#session-list li').length)`, fmt.Sprint(atoi(t, before)+1))
	if first.eval(`String(window.notReloaded)`) != "yes" {
		t.Fatal("the page reloaded to show the new session")
	}
	first.look("security, sessions after another browser signed in")

	second.signOut()
	second.look("sign-in, the second browser signed out")
	waitEval(t, first, `String(document.querySelectorAll('#session-list li').length)`, before)
	if first.eval(`String(window.notReloaded)`) != "yes" {
		t.Fatal("the page reloaded to drop the ended session")
	}
	first.noPageErrors()
}

// waitEval waits until expr evaluates to want in b's page.
func waitEval(t *testing.T, b *browser, expr, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := b.eval(expr)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %q; want %q", expr, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
