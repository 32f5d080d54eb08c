package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
)

// call sends one request to the node, recorded for the OpenAPI check, and returns its status,
// its problem code (if any) and the response.
func call(t *testing.T, n *node, method, url string, header http.Header) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := (&http.Client{Transport: n.rec}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	var problem struct{ Code string }
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(body, &problem)
	}
	return resp.StatusCode, problem.Code, resp
}

func wantRefusal(t *testing.T, n *node, method, url string, header http.Header, status int, code string) {
	t.Helper()
	if got, gotCode, _ := call(t, n, method, url, header); got != status || gotCode != code {
		t.Fatalf("%s %s: %d %q, want %d %q", method, url, got, gotCode, status, code)
	}
}

func TestLoginTokenOnlyInTheHeaderAndStreamTickets(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	b := n.account(t, "tickets@example.com")
	p := newPhone(t, "phone")
	link(t, n, b, p)
	p.connect(t, n)
	_, si := signIn(t, n, "tickets@example.com")
	r := recv(t, p.requests, "challenge")
	id := si.Challenge.ID
	base := n.url + "/v1/logins/" + id.String()
	token := http.Header{"X-Login-Token": {si.LoginToken}}

	// The login token is refused in a URL, on every login route, even with the header too.
	for _, u := range []string{base + "?token=" + si.LoginToken, base + "/events?token=" + si.LoginToken} {
		wantRefusal(t, n, http.MethodGet, u, nil, http.StatusBadRequest, "login_token_in_url")
	}
	handshake := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-WebSocket-Version": {"13"}, "Sec-WebSocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	wantRefusal(t, n, http.MethodGet, base+"/socket?token="+si.LoginToken, handshake, http.StatusBadRequest, "login_token_in_url")
	for _, u := range []string{base + "/session?token=" + si.LoginToken, base + "/ticket?token=" + si.LoginToken, base + "/code?token=" + si.LoginToken} {
		wantRefusal(t, n, http.MethodPost, u, token, http.StatusBadRequest, "login_token_in_url")
	}

	// A ticket comes only with the token in the header.
	wantRefusal(t, n, http.MethodPost, base+"/ticket", nil, http.StatusForbidden, "login_token_invalid")
	tk, err := n.client().LoginStreamTicket(ctx, id, si.LoginToken)
	if err != nil || tk.Ticket == "" || tk.Ticket == si.LoginToken || !tk.ExpiresAt.After(time.Now()) || tk.ExpiresAt.After(time.Now().Add(61*time.Second)) {
		t.Fatalf("ticket %+v, %v", tk, err)
	}

	// A ticket opens the long-poll, the SSE stream and the WebSocket.
	if status, _, _ := call(t, n, http.MethodGet, base+"?ticket="+tk.Ticket, nil); status != http.StatusOK {
		t.Fatalf("long-poll with a ticket: %d", status)
	}
	status, _, resp := call(t, n, http.MethodGet, base+"/events?ticket="+tk.Ticket, nil)
	if status != http.StatusOK {
		t.Fatalf("SSE with a ticket: %d", status)
	}
	sse := readSSE(t, resp)
	if ev := recv(t, sse, "pending event"); ev.id != "1" || !strings.Contains(ev.data, `"pending"`) {
		t.Fatalf("first SSE event %+v", ev)
	}
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/socket?ticket="+tk.Ticket, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	var st client.LoginStatus
	if err := wsjson.Read(ctx, ws, &st); err != nil || st.Status != "pending" {
		t.Fatalf("WebSocket with a ticket: %+v %v", st, err)
	}

	// An expired ticket (genuine, signed by this server a minute and more ago), another
	// challenge's ticket, the login token as a ticket and a forged one are refused.
	expired, _ := n.srv.Sessions.StreamTicket(id, time.Now().Add(-61*time.Second))
	wantRefusal(t, n, http.MethodGet, base+"/events?ticket="+expired, nil, http.StatusUnauthorized, "stream_ticket_expired")
	wantRefusal(t, n, http.MethodGet, base+"?ticket="+expired, nil, http.StatusUnauthorized, "stream_ticket_expired")
	if _, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/socket?ticket="+expired, nil); err == nil {
		t.Fatal("a WebSocket opened with an expired ticket")
	}
	other, _ := n.srv.Sessions.StreamTicket(uuid.New(), time.Now())
	wantRefusal(t, n, http.MethodGet, base+"/events?ticket="+other, nil, http.StatusUnauthorized, "stream_ticket_invalid")
	wantRefusal(t, n, http.MethodGet, base+"/events?ticket="+si.LoginToken, nil, http.StatusUnauthorized, "stream_ticket_invalid")
	wantRefusal(t, n, http.MethodGet, base+"/events?ticket="+tk.Ticket[:len(tk.Ticket)-2]+"AA", nil, http.StatusUnauthorized, "stream_ticket_invalid")
	wantRefusal(t, n, http.MethodGet, base+"/events", nil, http.StatusForbidden, "login_token_invalid")
	// A ticket is no login token: it cannot exchange the sign-in.
	wantRefusal(t, n, http.MethodPost, base+"/session", http.Header{"X-Login-Token": {tk.Ticket}}, http.StatusForbidden, "login_token_invalid")

	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, sse, "outcome event"); ev.id != "2" || !strings.Contains(ev.data, `"approved"`) {
		t.Fatalf("SSE outcome %+v", ev)
	}
	if err := wsjson.Read(ctx, ws, &st); err != nil || st.Status != "approved" {
		t.Fatalf("WebSocket outcome %+v %v", st, err)
	}
}

func TestApprovedSignInIsExchangedOnce(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	b := n.account(t, "once@example.com")
	p := newPhone(t, "phone")
	link(t, n, b, p)
	p.connect(t, n)
	approve := func() (*client.Client, client.SignInResponse) {
		t.Helper()
		browser, si := signIn(t, n, "once@example.com")
		r := recv(t, p.requests, "challenge")
		if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
			t.Fatal(err)
		}
		if st, err := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil || !st.Approved {
			t.Fatalf("await: %+v %v", st, err)
		}
		return browser, si
	}

	// The first exchange makes a session; the second, by the page or anyone holding the token,
	// is refused, and still is after that session signed out.
	browser, si := approve()
	if err := browser.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil {
		t.Fatal(err)
	}
	thief := n.client()
	wantCode(t, thief.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken), "challenge_redeemed")
	var sec struct {
		MFAEnabled bool `json:"mfa_enabled"`
	}
	// The approval spent on the session cannot turn 2FA off.
	wantCode(t, browser.Post(ctx, "/v1/security/mfa/disable", map[string]any{"challenge_id": si.Challenge.ID}, nil), "challenge_redeemed")
	if err := browser.Get(ctx, "/v1/security", &sec); err != nil || !sec.MFAEnabled {
		t.Fatalf("2FA after a refused disable: %+v %v", sec, err)
	}
	if err := browser.Delete(ctx, "/v1/session"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, thief.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken), "challenge_redeemed")

	// Exchanges racing over HTTP: exactly one gets a session.
	_, si = approve()
	codes := make([]string, 8)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			err := n.client().RedeemLogin(ctx, si.Challenge.ID, si.LoginToken)
			if e, ok := err.(*client.Error); ok {
				codes[i] = e.Code
			} else if err != nil {
				codes[i] = err.Error()
			}
		})
	}
	wg.Wait()
	won := 0
	for i, c := range codes {
		switch c {
		case "":
			won++
		case "challenge_redeemed":
		default:
			t.Fatalf("exchange %d: %s", i, c)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d racing exchanges got a session, want 1 (%v)", won, len(codes), codes)
	}

	// A step-up spends the approval too: after turning 2FA off, no session comes of it.
	browser, si = approve()
	if err := b.Post(ctx, "/v1/security/mfa/disable", map[string]any{"challenge_id": si.Challenge.ID}, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, browser.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken), "challenge_redeemed")
}
