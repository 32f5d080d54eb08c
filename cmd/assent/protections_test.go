package main

import (
	"testing"

	"github.com/google/uuid"
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
