package main

import (
	"testing"
)

// TestJourneyEnrollmentGate checks that after the help desk's reset of the second factor, a
// session signed in with the password alone may read its session and the security page and
// link a new device, and that every other route of the account refuses it with 403
// enrollment_required, changing nothing; once a new device is linked, the same session is let
// through.
func TestJourneyEnrollmentGate(t *testing.T) {
	t.Parallel()
	n, adminToken, _ := helpDeskNode(t)
	ctx := ctxT(t)
	const email, password = "gated@example.com", "correct horse battery staple"
	api := n.account(t, email)
	link(t, n, api, newPhone(t, "the lost phone"))
	if st, _, body := adminPost(t, n, adminToken, email, "second-factor/reset", map[string]any{"reason": reason}); st != 200 {
		t.Fatalf("reset: %d %s", st, body)
	}
	nextSecond()

	c := n.client()
	res, err := c.SignIn(ctx, email, password)
	if err != nil || res.Status != "signed_in" || !res.EnrollmentRequired {
		t.Fatalf("sign in after the reset: %+v %v", res, err)
	}
	if err := c.Get(ctx, "/v1/session", nil); err != nil {
		t.Fatalf("the session itself: %v", err)
	}
	if err := c.Get(ctx, "/v1/security", nil); err != nil {
		t.Fatalf("the security page's state: %v", err)
	}
	wantCode(t, c.Get(ctx, "/v1/security/history", nil), "enrollment_required")
	wantCode(t, c.Get(ctx, "/v1/security/sessions", nil), "enrollment_required")
	wantCode(t, c.Delete(ctx, "/v1/security/sessions"), "enrollment_required")
	wantCode(t, c.Post(ctx, "/v1/security/backup-codes", nil, nil), "enrollment_required")
	wantCode(t, c.Post(ctx, "/v1/security/password", map[string]string{"current_password": password, "new_password": "another long password"}, nil), "enrollment_required")
	if again, err := n.client().SignIn(ctx, email, password); err != nil || again.Status != "signed_in" {
		t.Fatalf("the refused password change changed the password: %+v %v", again, err)
	}

	link(t, n, c, newPhone(t, "the new phone"))
	if _, err := c.History(ctx); err != nil {
		t.Fatalf("after a new device was linked, the history: %v", err)
	}
	if err := c.Get(ctx, "/v1/security/sessions", nil); err != nil {
		t.Fatalf("after a new device was linked, the sessions: %v", err)
	}
}
