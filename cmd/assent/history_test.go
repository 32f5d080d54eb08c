package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// TestJourneyHistory checks, over HTTP, that a person's history lists their sign-ins newest
// first (a push approved, a push denied, a device's offline code, the password alone before
// 2FA was on) with the browser, the address, the device that answered and how, and each answer
// on the device marked verified; that the device reads the account's pushes with a signed
// request, through the client package and `assent device history`; and that a request signed
// by another key, signed too long ago, or for an account the device is not linked to is
// refused with its code.
func TestJourneyHistory(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	const email = "ada@example.com"
	b := n.account(t, email)
	p := newPhone(t, "Ada's phone")
	link(t, n, b, p)
	p.connect(t, n)

	page, si := signIn(t, n, email)
	r := recv(t, p.requests, "challenge to approve")
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	if st, err := page.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil || st.Status != "approved" {
		t.Fatalf("approve: %+v %v", st, err)
	}
	if err := page.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil {
		t.Fatal(err)
	}
	approved := si.Challenge.ID
	page, si = signIn(t, n, email)
	r = recv(t, p.requests, "challenge to deny")
	if err := p.sock.Answer(ctx, r, domain.AnswerDeny, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := page.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); st.Status != "denied" {
		t.Fatalf("deny: %+v", st)
	}
	denied := si.Challenge.ID
	page, si = signIn(t, n, email)
	recv(t, p.requests, "challenge passed with a code")
	if err := page.LoginWithCode(ctx, si.Challenge.ID, si.LoginToken, codeFor(t, p.dev, email)); err != nil {
		t.Fatal(err)
	}
	byCode := si.Challenge.ID

	list, err := b.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("history: %d entries, want 4: %+v", len(list), list)
	}
	want := []struct {
		id                       uuid.UUID
		state, method, signature string
	}{
		{byCode, "completed_totp", "device_code", ""},
		{denied, "denied", "push_deny", "verified"},
		{approved, "approved", "push_approve", "verified"},
		{uuid.Nil, "approved", "password", ""},
	}
	for i, w := range want {
		e := list[i]
		id := uuid.Nil
		if e.ID != nil {
			id = *e.ID
		}
		if id != w.id || e.State != w.state || e.Method != w.method || e.Signature != w.signature || e.IP != "127.0.0.1" || e.Browser == "" {
			t.Fatalf("entry %d: %+v, want %+v", i, e, w)
		}
		if w.id != uuid.Nil && (e.By == nil || e.By.Name != "Ada's phone" || e.By.Kind != "device" || len(e.PushedTo) != 1) {
			t.Fatalf("entry %d does not name the device: %+v", i, e)
		}
	}
	if list[2].Redeemed != "session" || list[2].DecidedAt == nil {
		t.Fatalf("the approval: %+v", list[2])
	}

	// The device reads the account's pushes, signed with its key.
	accountID := p.dev.Links[0].AccountID
	pushes, err := n.client().DeviceHistory(ctx, p.dev, accountID)
	if err != nil {
		t.Fatal(err)
	}
	if len(pushes) != 3 || pushes[2].Signature != "verified" || *pushes[2].ID != approved {
		t.Fatalf("the device's history: %+v", pushes)
	}
	other := n.account(t, "other@example.com")
	var me struct {
		AccountID uuid.UUID `json:"account_id"`
	}
	if err := other.Get(ctx, "/v1/security", &me); err != nil {
		t.Fatal(err)
	}
	wantCode(t, func() error { _, err := n.client().DeviceHistory(ctx, p.dev, me.AccountID); return err }(), "device_not_linked")
	impostor := *p.dev
	impostor.PrivateKey = newPhone(t, "impostor").dev.PrivateKey
	wantCode(t, func() error { _, err := n.client().DeviceHistory(ctx, &impostor, accountID); return err }(), "bad_signature")
	path := "/v1/devices/" + p.dev.ID.String() + "/history?account=" + accountID.String()
	stale := p.dev.SignRequest(http.MethodGet, path, time.Now().Add(-2*time.Minute))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url+path, nil)
	req.Header = stale
	if code := refusal(t, n, req); code != "request_expired" {
		t.Fatalf("a request signed two minutes ago: %q, want request_expired", code)
	}
	// A signature of another path does not open this one.
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, n.url+path, nil)
	req.Header = p.dev.SignRequest(http.MethodGet, strings.Replace(path, "history", "histories", 1), time.Now())
	if code := refusal(t, n, req); code != "bad_signature" {
		t.Fatalf("a signature of another path: %q, want bad_signature", code)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, n.url+path, nil)
	if code := refusal(t, n, req); code != "invalid_request" {
		t.Fatalf("an unsigned request: %q, want invalid_request", code)
	}

	// `assent device history` shows the same.
	state := filepath.Join(t.TempDir(), "device.json")
	if err := p.dev.Save(state); err != nil {
		t.Fatal(err)
	}
	out, err := runDevice(t, "--state", state, "history")
	if err != nil {
		t.Fatalf("assent device history: %v\n%s", err, out)
	}
	for _, w := range []string{email + ": 3 recent pushes", "approved by Ada's phone · signature verified", "denied by Ada's phone · signature verified", "completed totp by Ada's phone"} {
		if !strings.Contains(out, w) {
			t.Fatalf("assent device history said:\n%s\nwant %q", out, w)
		}
	}
}

// refusal sends req and returns the code of the refusal it gets ("" for none).
func refusal(t *testing.T, n *node, req *http.Request) string {
	t.Helper()
	resp, err := n.client().HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Code string `json:"code"`
	}
	json.NewDecoder(resp.Body).Decode(&p)
	return p.Code
}
