package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// logLength counts the events of the node's log.
func (n *node) logLength(t *testing.T) int {
	t.Helper()
	evs, err := n.srv.store.ReadAll(ctxT(t), eventstore.Start, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestSocketAnswersAreRateLimitedLikeHTTP: signed wrong answers sent as fast as the socket
// takes them are held to the device answer limits; the refused ones get 429 rate_limited and
// append nothing, and the HTTP answer route draws on the same buckets.
func TestSocketAnswersAreRateLimitedLikeHTTP(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	b := n.account(t, "flood@example.com")
	p := newPhone(t, "flood phone")
	link(t, n, b, p)
	p.connect(t, n)
	_, si := signIn(t, n, "flood@example.com")
	r := recv(t, p.requests, "the challenge")
	wrong := number(t, si.Challenge)%90 + 10
	if wrong == number(t, si.Challenge) {
		wrong++
	}

	decided, limited, before := 0, 0, 0
	for i := range 40 {
		err := p.sock.Answer(ctx, r, domain.AnswerApprove, wrong)
		var e *client.Error
		if !errors.As(err, &e) {
			t.Fatalf("answer %d: %v", i, err)
		}
		if e.Code == "rate_limited" {
			if limited == 0 {
				before = n.logLength(t)
			}
			if e.Status != 429 || e.RetryAfter <= 0 {
				t.Fatalf("answer %d refused without its wait: %+v", i, e)
			}
			limited++
			continue
		}
		if limited > 0 {
			t.Fatalf("answer %d decided (%v) after the limit refused one", i, err)
		}
		decided++
	}
	if limited == 0 || decided > 10 {
		t.Fatalf("40 answers over the socket: %d decided, %d refused as rate-limited; want at most the burst of 10 decided", decided, limited)
	}
	if after := n.logLength(t); after != before {
		t.Fatalf("the %d refused answers appended %d events", limited, after-before)
	}
	wantCode(t, n.client().AnswerHTTP(ctx, p.dev, r, domain.AnswerApprove, wrong), "rate_limited")
}

// TestDeviceForgetsAnAccountUnlinkedWhileOffline: a device unlinked from its last account
// while it was not running learns it on its next connection, drops the link and its secret
// from the state file, and stops; `device codes` then shows nothing.
func TestDeviceForgetsAnAccountUnlinkedWhileOffline(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	state := filepath.Join(t.TempDir(), "device.json")
	alice := n.account(t, "offline@example.com")
	if out, err := runDevice(t, "--state", state, "link", newEnrollment(t, alice).Link); err != nil {
		t.Fatalf("link: %v\n%s", err, out)
	}
	link(t, n, alice, newPhone(t, "the other phone")) // so that this one is not the last method
	dev, err := client.Load(state)
	if err != nil || len(dev.Links) != 1 {
		t.Fatalf("state after linking: %+v %v", dev, err)
	}

	// Unlinked while the device is not running: its offline codes still show.
	if err := alice.Delete(ctx, "/v1/security/devices/"+dev.ID.String()); err != nil {
		t.Fatal(err)
	}
	if out, err := runDevice(t, "--state", state, "codes"); err != nil || !strings.Contains(out, "offline@example.com") {
		t.Fatalf("codes before the device connected: %v\n%s", err, out)
	}

	run := startDevice(t, "--state", state, "run")
	run.expect("offline@example.com was unlinked from this device on the server")
	run.expect("No account is linked to this device any more. Stopping.")
	if err := run.wait(); err != nil {
		t.Fatalf("run ended with %v", err)
	}
	if d, err := client.Load(state); err != nil || len(d.Links) != 0 {
		t.Fatalf("state after the device connected: %+v, %v", d, err)
	}
	if out, err := runDevice(t, "--state", state, "codes"); err != nil || !strings.Contains(out, "No account is linked") || strings.Contains(out, "offline@example.com") {
		t.Fatalf("codes after the device connected: %v\n%s", err, out)
	}
}

// TestPushedChallengeCarriesItsDecisionTime: the challenge a device receives on its socket
// carries, in its context, the time the server decided it with sub-second precision (the
// sign-in's own time stays in whole seconds), so that the device sees its latency.
func TestPushedChallengeCarriesItsDecisionTime(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	b := n.account(t, "latency@example.com")
	p := newPhone(t, "latency phone")
	link(t, n, b, p)
	p.connect(t, n)
	before := time.Now()
	signIn(t, n, "latency@example.com")
	r := recv(t, p.requests, "the challenge")
	got := time.Now()
	issued := r.Context.IssuedAt
	if issued.Before(before) || issued.After(got) || issued.Location() != time.UTC {
		t.Fatalf("issued_at %v, want a UTC time between %v and %v", issued, before, got)
	}
	if r.Context.At.Nanosecond() != 0 {
		t.Fatalf("at %v is not whole seconds", r.Context.At)
	}
}
