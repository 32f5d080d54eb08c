package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/httpapi"
)

type sessionList struct {
	Sessions []struct {
		ID        string    `json:"id"`
		Current   bool      `json:"current"`
		Browser   string    `json:"browser"`
		IP        string    `json:"ip"`
		StartedAt time.Time `json:"started_at"`
		LastSeen  time.Time `json:"last_seen_at"`
	} `json:"sessions"`
}

func sessionsOf(t *testing.T, b *client.Client) sessionList {
	t.Helper()
	var l sessionList
	if err := b.Get(ctxT(t), "/v1/security/sessions", &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestJourneySessionsAndPassword checks, over HTTP, that a person sees their sessions (this
// one marked), ends one from another browser, ends all the others at once, and that a
// password change ends every session but the one that made it, while refusing a wrong
// current password and a short new one without changing anything.
func TestJourneySessionsAndPassword(t *testing.T) {
	t.Parallel()
	// Without limits: the journey checks more passwords than a person would in a minute, and
	// the change of password shares the sign-in limits (see protections_test.go).
	n := startNodeWith(t, nil, startOptions{limits: &httpapi.RateLimits{}})
	t.Cleanup(func() { checkDocumented(t, n) })
	ctx := ctxT(t)
	const email, password = "grace@example.com", "correct horse battery staple"
	a := n.account(t, email)
	b, c := n.client(), n.client()
	for _, x := range []*client.Client{b, c} {
		if res, err := x.SignIn(ctx, email, password); err != nil || res.Status != "signed_in" {
			t.Fatalf("sign in: %+v %v", res, err)
		}
	}
	l := sessionsOf(t, a)
	if len(l.Sessions) != 3 {
		t.Fatalf("sessions listed: %+v, want 3", l)
	}
	current := 0
	var bID string
	for _, s := range l.Sessions {
		if s.Current {
			current++
		}
		if s.IP != "127.0.0.1" || s.Browser == "" || s.StartedAt.IsZero() || s.LastSeen.IsZero() {
			t.Fatalf("a session lacks its details: %+v", s)
		}
	}
	for _, s := range sessionsOf(t, b).Sessions {
		if s.Current {
			bID = s.ID
		}
	}
	if current != 1 || bID == "" {
		t.Fatalf("sessions marked current: %d, b's id %q", current, bID)
	}

	// End b's session from a.
	if err := a.Delete(ctx, "/v1/security/sessions/"+bID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.Get(ctx, "/v1/session", nil), "unauthenticated")
	wantCode(t, a.Delete(ctx, "/v1/security/sessions/"+bID), "session_not_found")
	wantCode(t, a.Delete(ctx, "/v1/security/sessions/"+strings.Repeat("0", 64)), "session_not_found")
	wantCode(t, a.Delete(ctx, "/v1/security/sessions/nothex"), "invalid_request")
	if l := sessionsOf(t, a); len(l.Sessions) != 2 {
		t.Fatalf("after ending one: %+v", l)
	}

	// A wrong current password and a short new one change nothing.
	wantCode(t, a.Post(ctx, "/v1/security/password", map[string]string{"current_password": "not it", "new_password": "a long new password"}, nil), "wrong_password")
	wantCode(t, a.Post(ctx, "/v1/security/password", map[string]string{"current_password": password, "new_password": "short"}, nil), "invalid_password")
	if err := c.Get(ctx, "/v1/session", nil); err != nil {
		t.Fatalf("a refused change ended another session: %v", err)
	}

	// The change ends c's session and keeps a's; the new password signs in.
	if err := a.Post(ctx, "/v1/security/password", map[string]string{"current_password": password, "new_password": "a long new password"}, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Get(ctx, "/v1/session", nil), "unauthenticated")
	if err := a.Get(ctx, "/v1/session", nil); err != nil {
		t.Fatalf("the session that changed the password was ended: %v", err)
	}
	if l := sessionsOf(t, a); len(l.Sessions) != 1 || !l.Sessions[0].Current {
		t.Fatalf("after the change: %+v", l)
	}
	d := n.client()
	wantCode(t, func() error { _, err := d.SignIn(ctx, email, password); return err }(), "wrong_credentials")
	if res, err := d.SignIn(ctx, email, "a long new password"); err != nil || res.Status != "signed_in" {
		t.Fatalf("sign in with the new password: %+v %v", res, err)
	}

	// "Sign out everywhere else" ends d and keeps a.
	if err := a.Delete(ctx, "/v1/security/sessions"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, d.Get(ctx, "/v1/session", nil), "unauthenticated")
	if err := a.Get(ctx, "/v1/session", nil); err != nil {
		t.Fatalf("the session that ended the others was ended: %v", err)
	}
}

// TestJourneyRenameRemoveAndResume checks that a device and an authenticator app are renamed
// and shown so, that one app is removed on its own while the last second factor stays, and that
// pushes paused by "This wasn't me" are resumed with a code, and not before.
func TestJourneyRenameRemoveAndResume(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	const email = "hopper@example.com"
	b := n.account(t, email)
	p := newPhone(t, "terminal on vm")
	res := link(t, n, b, p)
	p.connect(t, n)
	var app struct {
		ID uuid.UUID `json:"id"`
	}
	if err := b.Post(ctx, "/v1/security/totp-apps", nil, &app); err != nil {
		t.Fatal(err)
	}
	if err := b.Patch(ctx, "/v1/security/devices/"+res.DeviceID.String(), map[string]string{"name": "  office terminal  "}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Patch(ctx, "/v1/security/totp-apps/"+app.ID.String(), map[string]string{"name": "Aegis"}, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.Patch(ctx, "/v1/security/devices/"+res.DeviceID.String(), map[string]string{"name": "line\nbreak"}, nil), "invalid_request")
	wantCode(t, b.Patch(ctx, "/v1/security/totp-apps/"+uuid.NewString(), map[string]string{"name": "x"}, nil), "totp_app_not_found")
	var view struct {
		Devices []struct {
			Name string `json:"name"`
		} `json:"devices"`
		TOTPApps []struct {
			Name string `json:"name"`
		} `json:"totp_apps"`
		MutedUntil time.Time `json:"muted_until"`
	}
	if err := b.Get(ctx, "/v1/security", &view); err != nil {
		t.Fatal(err)
	}
	if len(view.Devices) != 1 || view.Devices[0].Name != "office terminal" || len(view.TOTPApps) != 1 || view.TOTPApps[0].Name != "Aegis" {
		t.Fatalf("security view after renaming: %+v", view)
	}
	if err := b.Delete(ctx, "/v1/security/totp-apps/"+app.ID.String()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.Delete(ctx, "/v1/security/totp-apps/"+app.ID.String()), "totp_app_not_found")

	// "This wasn't me" pauses pushes; the view says until when.
	_, si := signIn(t, n, email)
	r := recv(t, p.requests, "challenge to report")
	if err := p.sock.Answer(ctx, r, domain.AnswerFraud, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Get(ctx, "/v1/security", &view); err != nil || !view.MutedUntil.After(time.Now()) {
		t.Fatalf("after the report, muted until %v (%v)", view.MutedUntil, err)
	}
	wantCode(t, b.Post(ctx, "/v1/security/push/resume", map[string]any{"challenge_id": si.Challenge.ID}, nil), "second_factor_required")

	// A code passes a step-up challenge; spent on resuming, pushes reach the device again.
	page, step := signIn(t, n, email)
	if err := page.PassWithCode(ctx, step.Challenge.ID, step.LoginToken, codeFor(t, p.dev, email)); err != nil {
		t.Fatal(err)
	}
	if err := b.Post(ctx, "/v1/security/push/resume", map[string]any{"challenge_id": step.Challenge.ID}, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.Post(ctx, "/v1/security/push/resume", map[string]any{"challenge_id": step.Challenge.ID}, nil), "push_not_paused")
	view.MutedUntil = time.Time{} // omitted when zero: decoding leaves what was there
	if err := b.Get(ctx, "/v1/security", &view); err != nil || !view.MutedUntil.IsZero() {
		t.Fatalf("after resuming, muted until %v (%v)", view.MutedUntil, err)
	}
	_, si = signIn(t, n, email)
	if si.Challenge.PushMuted || si.Challenge.Devices != 1 {
		t.Fatalf("after resuming the challenge was not pushed: %+v", si.Challenge)
	}
	recv(t, p.requests, "push after resuming")
}
