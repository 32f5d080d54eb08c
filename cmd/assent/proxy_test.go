package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/transport/httpapi"
	"github.com/assent-dev/assent/websession"
)

// startNodeWith starts a real node on loopback whose configuration and options the test
// adjusts; its requests are made with plain HTTP, so that the test sets every header.
func startNodeWith(t *testing.T, adjust func(*config.Config), opts startOptions) *node {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	if adjust != nil {
		adjust(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &node{t: t, srv: srv, url: "http://" + srv.Addr(), rec: &recorder{}}
}

// post sends a JSON body with the given headers and returns the response, its body closed.
func post(t *testing.T, url, body string, header map[string]string) *http.Response {
	resp, _ := postRead(t, url, body, header)
	return resp
}

// postRead is post that returns the response's body too.
func postRead(t *testing.T, url, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

const testPassword = "correct horse battery staple"

func credentialsJSON(email string) string {
	return `{"email":"` + email + `","password":"` + testPassword + `"}`
}

// tightSignIns allows two sign-ins per client address, then refuses.
func tightSignIns() *httpapi.RateLimits {
	l := httpapi.DefaultRateLimits()
	l.SignInPerIP = httpapi.Limit{PerMinute: 1, Burst: 2}
	return &l
}

func TestForwardedClientAddressIsBelievedFromTrustedProxiesOnly(t *testing.T) {
	t.Parallel()
	n := startNodeWith(t, func(c *config.Config) { c.TrustedProxies = "127.0.0.1" }, startOptions{limits: tightSignIns()})
	// The sign-in context the device shows carries the client's address.
	b := n.account(t, "seen@example.com")
	p := newPhone(t, "phone")
	link(t, n, b, p)
	p.connect(t, n)
	resp := post(t, n.url+"/v1/sessions", credentialsJSON("seen@example.com"), map[string]string{"X-Forwarded-For": "198.51.100.7"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("sign-in with 2FA: %d", resp.StatusCode)
	}
	if r := recv(t, p.requests, "challenge"); r.Context.IP != "198.51.100.7" {
		t.Fatalf("the device was shown the address %q, want the client's 198.51.100.7", r.Context.IP)
	}

	attempt := 0
	signIn := func(header map[string]string) int {
		t.Helper()
		attempt++
		// An unknown email each time: only the per-address limit can refuse.
		return post(t, n.url+"/v1/sessions", credentialsJSON("nobody"+string(rune('a'+attempt))+"@example.com"), header).StatusCode
	}
	want := func(header map[string]string, status int) {
		t.Helper()
		if got := signIn(header); got != status {
			t.Fatalf("sign-in with %v: %d, want %d", header, got, status)
		}
	}
	xff := func(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }

	// Each client behind the proxy has its own limit.
	want(xff("198.51.100.1"), http.StatusUnauthorized)
	want(xff("198.51.100.1"), http.StatusUnauthorized)
	want(xff("198.51.100.1"), http.StatusTooManyRequests)
	want(xff("198.51.100.2"), http.StatusUnauthorized)
	// What the client itself put in X-Forwarded-For, left of the address the proxy appended,
	// is not believed: the right-most address that is not a trusted proxy is the client.
	want(xff("203.0.113.9, 198.51.100.1"), http.StatusTooManyRequests)
	// Nothing left of an untrusted address is believed: here the client is 198.51.100.9.
	want(map[string]string{"X-Forwarded-For": "198.51.100.1, 198.51.100.9"}, http.StatusUnauthorized)
	// X-Real-IP, when there is no X-Forwarded-For.
	realIP := func(v string) map[string]string { return map[string]string{"X-Real-IP": v} }
	want(realIP("198.51.100.3"), http.StatusUnauthorized)
	want(realIP("198.51.100.3"), http.StatusUnauthorized)
	want(realIP("198.51.100.3"), http.StatusTooManyRequests)
	want(realIP("198.51.100.4"), http.StatusUnauthorized)

}

func TestForwardingHeadersFromAnUntrustedPeerAreIgnored(t *testing.T) {
	t.Parallel()
	n := startNodeWith(t, func(c *config.Config) { c.TrustedProxies = "10.0.0.0/8, 192.0.2.7" }, startOptions{limits: tightSignIns()})
	if r := post(t, n.url+"/v1/accounts", credentialsJSON("plain@example.com"), nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d", r.StatusCode)
	}
	spoof := func(ip string) map[string]string {
		return map[string]string{"X-Forwarded-For": ip, "X-Real-IP": ip, "X-Forwarded-Proto": "https"}
	}
	resp := post(t, n.url+"/v1/sessions", credentialsJSON("plain@example.com"), spoof("198.51.100.1"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if c := sessionCookie(t, resp); c.Secure {
		t.Fatal("an untrusted peer's X-Forwarded-Proto made the session cookie Secure")
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h != "" {
		t.Fatalf("an untrusted peer's X-Forwarded-Proto brought HSTS %q", h)
	}
	// Every spoofed address shares the peer's limit.
	if r := post(t, n.url+"/v1/sessions", credentialsJSON("nobody@example.com"), spoof("198.51.100.2")); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second sign-in: %d", r.StatusCode)
	}
	if r := post(t, n.url+"/v1/sessions", credentialsJSON("nobody2@example.com"), spoof("198.51.100.3")); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third sign-in from the same peer with another forwarded address: %d, want 429", r.StatusCode)
	}
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == websession.SessionCookie {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header.Values("Set-Cookie"))
	return nil
}

func TestSecureCookieAndHSTSFollowThePublicURL(t *testing.T) {
	t.Parallel()
	n := startNodeWith(t, func(c *config.Config) { c.PublicURL = "https://auth.example.com" }, startOptions{})
	if r := post(t, n.url+"/v1/accounts", credentialsJSON("tls@example.com"), nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d", r.StatusCode)
	}
	// The proxy in front terminates TLS and speaks plain HTTP to Assent.
	resp, raw := postRead(t, n.url+"/v1/sessions", credentialsJSON("tls@example.com"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	cookie := sessionCookie(t, resp)
	if !cookie.Secure || !cookie.HttpOnly {
		t.Fatalf("session cookie %+v: want Secure and HttpOnly when the public URL is https", cookie)
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h != "max-age=31536000" {
		t.Fatalf("Strict-Transport-Security %q, want max-age=31536000", h)
	}
	page, err := http.Get(n.url + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if h := page.Header.Get("Strict-Transport-Security"); h != "max-age=31536000" {
		t.Fatalf("the sign-in page's Strict-Transport-Security %q", h)
	}

	// Signing out clears the cookie with the same attributes.
	var body struct {
		CSRFToken string `json:"csrf_token"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.CSRFToken == "" {
		t.Fatalf("sign-in body %s: %v", raw, err)
	}
	out, err := http.NewRequest(http.MethodDelete, n.url+"/v1/session", nil)
	if err != nil {
		t.Fatal(err)
	}
	out.AddCookie(cookie)
	out.Header.Set("X-CSRF-Token", body.CSRFToken)
	or, err := http.DefaultClient.Do(out)
	if err != nil {
		t.Fatal(err)
	}
	or.Body.Close()
	if or.StatusCode != http.StatusNoContent {
		t.Fatalf("sign-out: %d", or.StatusCode)
	}
	if c := sessionCookie(t, or); !c.Secure || c.MaxAge >= 0 {
		t.Fatalf("the sign-out's clearing cookie %+v: want Secure and expired", c)
	}
}

func TestSecureCookieFollowsTheSchemeATrustedProxyForwards(t *testing.T) {
	t.Parallel()
	n := startNodeWith(t, func(c *config.Config) { c.TrustedProxies = "127.0.0.0/8,::1" }, startOptions{})
	if r := post(t, n.url+"/v1/accounts", credentialsJSON("proxied@example.com"), nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d", r.StatusCode)
	}
	for _, tc := range []struct {
		proto  string
		secure bool
	}{{"https", true}, {"", false}, {"http", false}} {
		resp := post(t, n.url+"/v1/sessions", credentialsJSON("proxied@example.com"), map[string]string{"X-Forwarded-Proto": tc.proto})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in: %d", resp.StatusCode)
		}
		if c := sessionCookie(t, resp); c.Secure != tc.secure {
			t.Errorf("X-Forwarded-Proto %q: Secure = %v, want %v", tc.proto, c.Secure, tc.secure)
		}
		if got := resp.Header.Get("Strict-Transport-Security") != ""; got != tc.secure {
			t.Errorf("X-Forwarded-Proto %q: HSTS sent = %v, want %v", tc.proto, got, tc.secure)
		}
	}
}
