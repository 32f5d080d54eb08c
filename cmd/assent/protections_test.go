package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/transport/httpapi"
)

type securityState struct {
	MFAEnabled bool `json:"mfa_enabled"`
	Devices    []struct {
		ID uuid.UUID `json:"id"`
	} `json:"devices"`
}

// TestRemovingTheLastSecondFactorNeedsTheProofOfTurningOff checks that a session alone cannot
// turn 2FA off by removing the last device, one at a time or all at once: that takes what
// "Turn off" takes, the password and a fresh second factor.
func TestRemovingTheLastSecondFactorNeedsTheProofOfTurningOff(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	const email = "last@example.com"
	b := n.account(t, email)
	p1, p2 := newPhone(t, "phone one"), newPhone(t, "phone two")
	link(t, n, b, p1)

	wantCode(t, b.Delete(ctx, "/v1/security/devices/"+p1.dev.ID.String()), "last_second_factor")
	wantCode(t, b.Delete(ctx, "/v1/security/devices"), "last_second_factor")
	var sec securityState
	if err := b.Get(ctx, "/v1/security", &sec); err != nil || !sec.MFAEnabled || len(sec.Devices) != 1 {
		t.Fatalf("after the refused removals: %+v, %v; want 2FA on with its device", sec, err)
	}

	// With a second device, one of them may go; the other is then the last.
	link(t, n, b, p2)
	if err := b.Delete(ctx, "/v1/security/devices/"+p1.dev.ID.String()); err != nil {
		t.Fatalf("remove one of two devices: %v", err)
	}
	wantCode(t, b.Delete(ctx, "/v1/security/devices/"+p2.dev.ID.String()), "last_second_factor")

	// Turning 2FA off, with its proof, removes it.
	turnOffWithCode(t, n, b, email, codeFor(t, p2.dev, email))
	if err := b.Get(ctx, "/v1/security", &sec); err != nil || sec.MFAEnabled || len(sec.Devices) != 0 {
		t.Fatalf("after turning 2FA off: %+v, %v; want it off with no device", sec, err)
	}
}

// TestNumberMatchingLockEndsTheChallenge sends forty signed wrong numbers over HTTP: the tenth
// locks the second factor and ends the challenge, so the rest, and then the right number, are
// refused unevaluated, and the login page gets a final outcome that is not an approval.
func TestNumberMatchingLockEndsTheChallenge(t *testing.T) {
	t.Parallel()
	// The device's answer rate limit (TestSocketAnswersAreRateLimitedLikeHTTP) would refuse
	// most of the forty before the domain sees them; this test is about the domain's lock.
	limits := httpapi.DefaultRateLimits()
	limits.DeviceAnswerPerDevice = httpapi.Limit{PerMinute: 600, Burst: 100}
	n := startNodeWithLimits(t, limits)
	ctx := ctxT(t)
	const email = "guess@example.com"
	b := n.account(t, email)
	p := newPhone(t, "phone")
	link(t, n, b, p)
	p.connect(t, n)
	page, si := signIn(t, n, email)
	r := recv(t, p.requests, "the challenge")
	right := number(t, si.Challenge)
	dev := n.client()
	wrong, locked := 0, 0
	for i := range 40 {
		guess := 10 + (right-10+1+i%89)%90 // never the right number
		err := dev.AnswerHTTP(ctx, p.dev, r, domain.AnswerApprove, guess)
		var e *client.Error
		switch {
		case errors.As(err, &e) && e.Code == "wrong_number" && locked == 0:
			wrong++
		case errors.As(err, &e) && e.Code == "challenge_locked":
			locked++
		default:
			t.Fatalf("wrong number %d (after %d wrong, %d locked): %v", i, wrong, locked, err)
		}
	}
	if wrong != 10 || locked != 30 {
		t.Fatalf("%d answers evaluated as wrong and %d refused as locked; want 10 and 30", wrong, locked)
	}
	wantCode(t, dev.AnswerHTTP(ctx, p.dev, r, domain.AnswerApprove, right), "challenge_locked")

	st, err := page.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken)
	if err != nil || st.Status == "pending" || st.Status == "approved" {
		t.Fatalf("the login page got %+v, %v; want a final outcome that is not an approval", st, err)
	}
	if err := page.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken); err == nil {
		t.Fatal("the ended challenge was exchanged for a session")
	}
	recs, err := n.srv.store.ReadStream(ctx, domain.ChallengeStream(si.Challenge.ID), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, rec := range recs {
		counts[rec.Type]++
	}
	if counts["challenge.number.mismatched"] != 10 || counts["challenge.cancelled"] != 1 || counts["challenge.approved"] != 0 {
		t.Fatalf("the challenge stream holds %v; want 10 mismatches, one cancellation, no approval", counts)
	}
}

// roomyLimits are the default limits with a per-account burst of 10 password checks instead of
// 5, for journeys that check one account's password more often in a row than a person would
// (each step of linking from the phone checks it, and counts against the per-account limit).
func roomyLimits() httpapi.RateLimits {
	l := httpapi.DefaultRateLimits()
	l.SignInPerAccount.Burst = 10
	return l
}

// startNodeWithLimits is startNode with the HTTP rate limits given.
func startNodeWithLimits(t *testing.T, limits httpapi.RateLimits) *node {
	t.Helper()
	n := startNodeWith(t, nil, startOptions{limits: &limits})
	t.Cleanup(func() { checkDocumented(t, n) })
	return n
}

// fromAddr returns an API client whose connections come from the loopback address ip (any of
// 127.0.0.0/8 reaches the server), recorded like n.client()'s.
func (n *node) fromAddr(t *testing.T, ip string) *client.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := client.New(n.url)
	c.HTTP.Transport = &sourcedTransport{rec: n.rec, base: &http.Transport{DialContext: d.DialContext}}
	return c
}

type sourcedTransport struct {
	rec  *recorder
	base http.RoundTripper
}

func (s *sourcedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(req)
	if err == nil {
		s.rec.record(req, resp)
	}
	return resp, err
}

// TestWrongPasswordsLockTheirSourceNotTheOwner is the lock-out attack: ten wrong passwords for
// someone else's email. They lock the attacker's address out of that account, with
// Retry-After; from there a right password gets exactly the refusal a wrong one gets; the
// owner, from their own address, signs in and approves the push as always.
func TestWrongPasswordsLockTheirSourceNotTheOwner(t *testing.T) {
	t.Parallel()
	loose := httpapi.Limit{PerMinute: 6000, Burst: 100} // the domain's lock is under test here
	n := startNodeWithLimits(t, httpapi.RateLimits{SignInPerIP: loose, SignInPerAccount: loose, CodesPerIP: loose, CodesPerAccount: loose, EnrollmentPerIP: loose, DeviceAnswerPerIP: loose})
	ctx := ctxT(t)
	const email, password = "victim@example.com", "correct horse battery staple"
	b := n.account(t, email)
	p := newPhone(t, "phone")
	link(t, n, b, p)
	p.connect(t, n)

	attacker := n.fromAddr(t, "127.0.0.2")
	for i := range 10 {
		_, err := attacker.SignIn(ctx, email, fmt.Sprintf("guess %d", i))
		wantCode(t, err, "wrong_credentials")
	}
	var refusals []client.Error
	for _, pw := range []string{"guess 10", password} {
		_, err := attacker.SignIn(ctx, email, pw)
		var e *client.Error
		if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Code != "locked" || e.RetryAfter < 14*time.Minute || e.RetryAfter > 15*time.Minute {
			t.Fatalf("a password from the locked address: %v (Retry-After %v); want 429 locked with Retry-After of about 15 minutes", err, e)
		}
		refusals = append(refusals, *e)
	}
	if refusals[0].Message != refusals[1].Message {
		t.Fatalf("while locked, a wrong and a right password are told apart: %q, %q", refusals[0].Message, refusals[1].Message)
	}
	_, err := attacker.PhoneLinkBegin(ctx, email, password)
	wantCode(t, err, "locked")

	owner := n.fromAddr(t, "127.0.0.3")
	si, err := owner.SignIn(ctx, email, password)
	if err != nil || si.Challenge == nil || si.Challenge.Devices != 1 {
		t.Fatalf("the owner from their own address: %+v, %v; want a challenge pushed to the phone", si, err)
	}
	r := recv(t, p.requests, "the owner's push")
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	if err := owner.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil {
		t.Fatalf("the owner's approved sign-in: %v", err)
	}

	counts := map[string]int{}
	evs, err := n.srv.store.ReadAll(ctx, eventstore.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		counts[ev.Type]++
	}
	if counts["account.signin.failed"] != 10 || counts["account.signin.locked"] != 1 || counts["account.mfa.locked"] != 0 {
		t.Fatalf("the log holds %v; want 10 wrong passwords, one sign-in lock and no second-factor lock", counts)
	}
}

// TestEveryPasswordCheckCountsAgainstTheAccountLimit guesses one account's password from a new
// address each time, by sign-in, phone-link and its authorize step in turn: the per-account
// limit holds across all three.
func TestEveryPasswordCheckCountsAgainstTheAccountLimit(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	const email = "target@example.com"
	n.account(t, email) // one sign-in already taken
	dev := newPhone(t, "guesser")
	var refused *client.Error
	for i := range 12 {
		c := n.fromAddr(t, fmt.Sprintf("127.0.0.%d", 10+i))
		var err error
		switch i % 3 {
		case 0:
			_, err = c.SignIn(ctx, email, "guess")
		case 1:
			_, err = c.PhoneLinkBegin(ctx, email, "guess")
		default:
			_, err = c.PhoneLinkAuthorize(ctx, dev.dev, email, "guess", uuid.Nil)
		}
		var e *client.Error
		if !errors.As(err, &e) {
			t.Fatalf("guess %d: %v, want a refusal", i, err)
		}
		if e.Code == "rate_limited" {
			refused = e
			break
		}
		if e.Code != "wrong_credentials" {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if refused == nil || refused.Status != http.StatusTooManyRequests || refused.RetryAfter <= 0 {
		t.Fatalf("twelve guesses at one account from twelve addresses: last refusal %+v, want 429 rate_limited with Retry-After", refused)
	}
}

// TestAnAddressThatSignedInBeforeKeepsItsOwnAccountLimit drains an account's sign-in limit from
// many addresses: a new address is then refused, but the owner's, from which the password
// passed before, still signs in.
func TestAnAddressThatSignedInBeforeKeepsItsOwnAccountLimit(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	const email, password = "owner@example.com", "correct horse battery staple"
	owner := n.fromAddr(t, "127.0.0.4")
	if _, err := owner.Register(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.SignIn(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	drained := false
	for i := range 12 {
		_, err := n.fromAddr(t, fmt.Sprintf("127.0.0.%d", 30+i)).SignIn(ctx, email, "guess")
		var e *client.Error
		if errors.As(err, &e) && e.Code == "rate_limited" {
			drained = true
			break
		}
		wantCode(t, err, "wrong_credentials")
	}
	if !drained {
		t.Fatal("twelve guesses from twelve addresses never met the per-account limit")
	}
	_, err := n.fromAddr(t, "127.0.0.60").SignIn(ctx, email, password)
	wantCode(t, err, "rate_limited")
	if res, err := owner.SignIn(ctx, email, password); err != nil || res.Status != "signed_in" {
		t.Fatalf("the owner's address while strangers drain the limit: %+v, %v", res, err)
	}
}
