package main

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
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
	n := startNode(t)
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
		err := dev.AnswerHTTP(ctx, p.dev, r, "approve", guess)
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
	wantCode(t, dev.AnswerHTTP(ctx, p.dev, r, "approve", right), "challenge_locked")

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
