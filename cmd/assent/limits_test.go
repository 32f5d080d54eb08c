package main

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

func TestSignInIsRateLimitedPerAccount(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	n.account(t, "limited@example.com") // one sign-in already
	var refused *client.Error
	for i := range 10 {
		_, err := n.client().SignIn(ctx, "limited@example.com", "correct horse battery staple")
		if errors.As(err, &refused) {
			if i < 3 {
				t.Fatalf("sign-in %d refused within the burst: %v", i+2, err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if refused == nil || refused.Status != http.StatusTooManyRequests || refused.Code != "rate_limited" || refused.RetryAfter <= 0 {
		t.Fatalf("eleven sign-ins in a row: last refusal %+v, want 429 rate_limited with Retry-After", refused)
	}
}

func TestTurningTwoFactorOffNeedsAFreshSecondFactor(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	b := n.account(t, "turnoff@example.com")
	p := newPhone(t, "phone")
	link(t, n, b, p)
	p.connect(t, n)
	browser, si := signIn(t, n, "turnoff@example.com")
	r := recv(t, p.requests, "challenge")
	body := map[string]any{"challenge_id": si.Challenge.ID}
	wantCode(t, b.Post(ctx, "/v1/security/mfa/disable", body, nil), "second_factor_required")
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	if _, err := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil {
		t.Fatal(err)
	}
	if err := b.Post(ctx, "/v1/security/mfa/disable", body, nil); err != nil {
		t.Fatalf("turn 2FA off with an approved challenge: %v", err)
	}
	if reason := recv(t, p.closed, "socket closed"); reason == "" {
		t.Fatal("the device socket was not closed when 2FA went off")
	}
	res, err := n.client().SignIn(ctx, "turnoff@example.com", "correct horse battery staple")
	if err != nil || res.Status != "signed_in" {
		t.Fatalf("sign in after 2FA off: %+v %v", res, err)
	}
}

func TestEventsCarryTheRequestIDAsCorrelationID(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodPost, n.url+"/v1/accounts",
		strings.NewReader(`{"email":"traced@example.com","password":"correct horse battery staple"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "req-7f3a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Request-Id") != "req-7f3a" {
		t.Fatalf("register: %d, request ID %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	evs, err := n.srv.store.ReadAll(ctxT(t), eventstore.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, ev := range evs {
		if ev.Type == "account.registered" || ev.Type == "email.claimed" {
			if ev.Metadata.CorrelationID != "req-7f3a" {
				t.Fatalf("%s has correlation ID %q, want the request's", ev.Type, ev.Metadata.CorrelationID)
			}
			found++
		}
	}
	if found != 2 {
		t.Fatalf("found %d of the registration's 2 events", found)
	}
}
