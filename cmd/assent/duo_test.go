package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	duo "github.com/duosecurity/duo_api_golang"
	"github.com/duosecurity/duo_api_golang/authapi"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
)

// duoNode is a node whose Auth API Duo's official Go client reaches over TLS on loopback (a
// TLS listener in front of the node, as a proxy that terminates TLS would be), with one
// integration. Devices talk to the node itself.
type duoNode struct {
	*node
	tls        *httptest.Server
	ikey, skey string
	key        domain.IntegrationKey
	stop       func()
}

func startDuoNode(t *testing.T, opts startOptions) *duoNode {
	t.Helper()
	d := startDuoNodeAt(t, t.TempDir(), opts)
	k, err := d.srv.App.CreateIntegration(context.Background(), "VPN")
	if err != nil {
		t.Fatal(err)
	}
	d.ikey, d.skey, d.key = k.Key.String(), k.Secret, k.Key
	return d
}

// startDuoNodeAt starts a node on the data directory dir, without creating an integration.
func startDuoNodeAt(t *testing.T, dir string, opts startOptions) *duoNode {
	t.Helper()
	// The TLS listener forwards to the node, which starts after it: its URL is the node's
	// public URL, as a proxy's is.
	var forward atomic.Pointer[httputil.ReverseProxy]
	proxy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := forward.Load(); f != nil {
			f.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(proxy.Close)
	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.PublicURL = proxy.URL
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	t.Cleanup(stop)
	n := &node{t: t, srv: srv, url: "http://" + srv.Addr(), rec: &recorder{}}
	target, _ := url.Parse(n.url)
	forward.Store(httputil.NewSingleHostReverseProxy(target))
	return &duoNode{node: n, tls: proxy, stop: stop}
}

// api is Duo's official client for the node's integration, trusting the TLS listener.
func (d *duoNode) api(ikey, skey string) *authapi.AuthApi {
	c := duo.NewDuoApi(ikey, skey, strings.TrimPrefix(d.tls.URL, "https://"), "assent-test")
	c.SetCustomHTTPClient(d.tls.Client())
	return authapi.NewAuthApi(*c)
}

func okStat(t *testing.T, what string, r duo.StatResult, err error) {
	t.Helper()
	r.SyncCode()
	if err != nil || r.Stat != "OK" {
		msg := ""
		if r.Message != nil {
			msg = *r.Message
		}
		if r.Message_Detail != nil {
			msg += ": " + *r.Message_Detail
		}
		t.Fatalf("%s: %s %s %v", what, r.Stat, msg, err)
	}
}

func failStat(t *testing.T, what string, r duo.StatResult, err error, code int32) {
	t.Helper()
	r.SyncCode()
	if err != nil || r.Stat != "FAIL" || r.Code == nil || *r.Code != code {
		t.Fatalf("%s: want FAIL %d, got %+v %v", what, code, r, err)
	}
}

// enrollUser enrolls username through the API and links p with the activation code, through
// the client package as `assent device link` does; it returns the user ID and the link.
func (d *duoNode) enrollUser(t *testing.T, api *authapi.AuthApi, username string, p *phone) (string, client.LinkResult) {
	t.Helper()
	en, err := api.Enroll(authapi.EnrollUsername(username), authapi.EnrollValidSeconds(600))
	okStat(t, "enroll", en.StatResult, err)
	if en.Response.Username != username || en.Response.User_Id == "" ||
		time.Until(time.Unix(en.Response.Expiration, 0)) < 590*time.Second || time.Until(time.Unix(en.Response.Expiration, 0)) > 601*time.Second {
		t.Fatalf("enroll answered %+v", en.Response)
	}
	st, err := api.EnrollStatus(en.Response.User_Id, en.Response.Activation_Code)
	okStat(t, "enroll_status", st.StatResult, err)
	if st.Response != "waiting" {
		t.Fatalf("enroll_status before the link = %q", st.Response)
	}
	// The activation barcode is a PNG of the same link.
	resp, err := d.tls.Client().Get(en.Response.Activation_Barcode)
	if err != nil {
		t.Fatal(err)
	}
	png, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("activation_barcode is not a PNG: %q", png[:min(len(png), 40)])
	}
	_, token, err := client.ParseEnrollmentLink(en.Response.Activation_Code)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.client().Enroll(ctxT(t), p.dev, token)
	if err != nil {
		t.Fatal(err)
	}
	st, err = api.EnrollStatus(en.Response.User_Id, en.Response.Activation_Code)
	okStat(t, "enroll_status", st.StatResult, err)
	if st.Response != "success" {
		t.Fatalf("enroll_status after the link = %q", st.Response)
	}
	return en.Response.User_Id, res
}

// pushed waits for the push of an auth on p and checks what the device shows.
func pushed(t *testing.T, p *phone) client.Request {
	t.Helper()
	r := recv(t, p.requests, "push")
	if r.Context.App != "VPN" || !r.Context.NoNumber {
		t.Fatalf("the push shows %+v", r.Context)
	}
	return r
}

type authResult struct {
	res *authapi.AuthResult
	err error
}

func asyncAuth(api *authapi.AuthApi, opts ...func(*url.Values)) <-chan authResult {
	ch := make(chan authResult, 1)
	go func() {
		r, err := api.Auth("push", opts...)
		ch <- authResult{r, err}
	}()
	return ch
}

func TestDuoAuthAPIWithTheOfficialClient(t *testing.T) {
	t.Parallel()
	d := startDuoNode(t, startOptions{duoStatusHold: 300 * time.Millisecond})
	api := d.api(d.ikey, d.skey)
	ctx := ctxT(t)

	check, err := api.Check()
	okStat(t, "check", check.StatResult, err)

	// preauth makes the user, who must enroll.
	pre, err := api.Preauth(authapi.PreauthUsername("ada"))
	okStat(t, "preauth", pre.StatResult, err)
	if pre.Response.Result != "enroll" {
		t.Fatalf("preauth of a new user = %+v", pre.Response)
	}

	p := newPhone(t, "Ada's phone")
	userID, linked := d.enrollUser(t, api, "ada", p)
	if linked.Email != "ada" || len(linked.BackupCodes) == 0 {
		t.Fatalf("link result %+v", linked)
	}
	p.connect(t, d.node)

	// Enrolling the user again is refused: a second device is linked from the first.
	again, err := api.Enroll(authapi.EnrollUsername("ada"))
	failStat(t, "enroll again", again.StatResult, err, 40002)

	pre, err = api.Preauth(authapi.PreauthUserId(userID), authapi.PreauthIpAddr("203.0.113.5"))
	okStat(t, "preauth", pre.StatResult, err)
	if pre.Response.Result != "auth" || len(pre.Response.Devices) != 1 || pre.Response.Devices[0].Device != p.dev.ID.String() ||
		!slices.Contains(pre.Response.Devices[0].Capabilities, "push") || !slices.Contains(pre.Response.Devices[0].Capabilities, "mobile_otp") {
		t.Fatalf("preauth of an enrolled user = %+v", pre.Response)
	}

	t.Log("push, synchronous, approved with the application's context")
	ch := asyncAuth(api, authapi.AuthUsername("ada"), authapi.AuthDevice(p.dev.ID.String()), authapi.AuthIpAddr("203.0.113.5"),
		authapi.AuthType("Login request"), authapi.AuthDisplayUsername("Ada L."), authapi.AuthPushinfo("from=vpn%20gw&host=db-1"))
	r := pushed(t, p)
	want := []domain.PushInfoItem{{Key: "from", Value: "vpn gw"}, {Key: "host", Value: "db-1"}}
	if r.Context.IP != "203.0.113.5" || r.Context.Type != "Login request" || r.Context.DisplayName != "Ada L." || !slices.Equal(r.Context.PushInfo, want) {
		t.Fatalf("the push shows %+v", r.Context)
	}
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, 0); err != nil {
		t.Fatal(err)
	}
	res := recv(t, ch, "auth answer")
	okStat(t, "auth", res.res.StatResult, res.err)
	if res.res.Response.Result != "allow" || res.res.Response.Status != "allow" || res.res.Response.Status_Msg == "" {
		t.Fatalf("approved push answered %+v", res.res.Response)
	}

	t.Log("push, asynchronous: auth_status waits, then allows")
	a, err := api.Auth("push", authapi.AuthUserId(userID), authapi.AuthAsync())
	okStat(t, "auth async", a.StatResult, err)
	if _, err := uuid.Parse(a.Response.Txid); err != nil {
		t.Fatalf("txid %q", a.Response.Txid)
	}
	r = pushed(t, p)
	st, err := api.AuthStatus(a.Response.Txid)
	okStat(t, "auth_status", st.StatResult, err)
	if st.Response.Result != "waiting" {
		t.Fatalf("auth_status before the answer = %+v", st.Response)
	}
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, 0); err != nil {
		t.Fatal(err)
	}
	st, err = api.AuthStatus(a.Response.Txid)
	okStat(t, "auth_status", st.StatResult, err)
	if st.Response.Result != "allow" || st.Response.Status != "allow" {
		t.Fatalf("auth_status after approval = %+v", st.Response)
	}
	// Another integration cannot read this transaction.
	other, err := d.srv.App.CreateIntegration(ctx, "Other")
	if err != nil {
		t.Fatal(err)
	}
	st, err = d.api(other.Key.String(), other.Secret).AuthStatus(a.Response.Txid)
	failStat(t, "auth_status of another integration", st.StatResult, err, 40002)

	t.Log("push denied")
	ch = asyncAuth(api, authapi.AuthUsername("ada"))
	if err := p.sock.Answer(ctx, pushed(t, p), domain.AnswerDeny, 0); err != nil {
		t.Fatal(err)
	}
	res = recv(t, ch, "auth answer")
	okStat(t, "auth", res.res.StatResult, res.err)
	if res.res.Response.Result != "deny" || res.res.Response.Status != "deny" {
		t.Fatalf("denied push answered %+v", res.res.Response)
	}

	t.Log("passcodes: the device's offline code, then a backup (bypass) code, each once")
	code, err := client.TOTPCode(linked.TOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"allow", "deny"} {
		pc, err := api.Auth("passcode", authapi.AuthUsername("ada"), authapi.AuthPasscode(code))
		okStat(t, "auth passcode", pc.StatResult, err)
		if pc.Response.Result != want {
			t.Fatalf("device code, use %d: %+v", i+1, pc.Response)
		}
	}
	for i, want := range []string{"allow", "deny"} {
		pc, err := api.Auth("passcode", authapi.AuthUserId(userID), authapi.AuthPasscode(linked.BackupCodes[0]))
		okStat(t, "auth passcode", pc.StatResult, err)
		if pc.Response.Result != want {
			t.Fatalf("bypass code, use %d: %+v", i+1, pc.Response)
		}
	}

	t.Log("refusals")
	unknown, err := api.Auth("push", authapi.AuthUsername("nobody"))
	failStat(t, "auth of an unknown user", unknown.StatResult, err, 40002)
	phone, err := api.Auth("phone", authapi.AuthUsername("ada"))
	failStat(t, "factor phone", phone.StatResult, err, 40002)
	noFactor, err := api.Auth("", authapi.AuthUsername("ada"))
	failStat(t, "no factor", noFactor.StatResult, err, 40001)
	wrongSig, err := d.api(d.ikey, strings.Repeat("s", 40)).Check()
	failStat(t, "a wrong signature", wrongSig.StatResult, err, 40101)
	unknownKey, err := d.api("DIAAAAAAAAAAAAAAAAAA", d.skey).Check()
	failStat(t, "an unknown integration key", unknownKey.StatResult, err, 40101)

	t.Log("fraud: deny, status fraud; pushes are muted afterwards")
	ch = asyncAuth(api, authapi.AuthUsername("ada"))
	if err := p.sock.Answer(ctx, pushed(t, p), domain.AnswerFraud, 0); err != nil {
		t.Fatal(err)
	}
	res = recv(t, ch, "auth answer")
	okStat(t, "auth", res.res.StatResult, res.err)
	if res.res.Response.Result != "deny" || res.res.Response.Status != "fraud" {
		t.Fatalf("fraud answered %+v", res.res.Response)
	}
	muted, err := api.Auth("push", authapi.AuthUsername("ada"))
	okStat(t, "auth muted", muted.StatResult, err)
	if muted.Response.Result != "deny" || !strings.Contains(muted.Response.Status_Msg, "paused") {
		t.Fatalf("a push after fraud answered %+v", muted.Response)
	}
	none(t, p.requests, "push while muted")

	t.Log("a locked user: wrong codes until the lockout, then deny")
	for range 10 {
		pc, err := api.Auth("passcode", authapi.AuthUsername("ada"), authapi.AuthPasscode("000000"))
		okStat(t, "auth wrong passcode", pc.StatResult, err)
		if pc.Response.Result != "deny" {
			t.Fatalf("a wrong code answered %+v", pc.Response)
		}
	}
	locked, err := api.Auth("push", authapi.AuthUsername("ada"))
	okStat(t, "auth locked", locked.StatResult, err)
	if locked.Response.Result != "deny" || locked.Response.Status != "locked_out" {
		t.Fatalf("a locked user's push answered %+v", locked.Response)
	}
	pre, err = api.Preauth(authapi.PreauthUsername("ada"))
	okStat(t, "preauth locked", pre.StatResult, err)
	if pre.Response.Result != "deny" {
		t.Fatalf("a locked user's preauth answered %+v", pre.Response)
	}

	t.Log("a disabled integration")
	if err := d.srv.App.DisableIntegration(ctx, d.key); err != nil {
		t.Fatal(err)
	}
	check, err = api.Check()
	failStat(t, "check of a disabled integration", check.StatResult, err, 40301)
}

// TestDuoAuthTimeout: a push nobody answers ends as Duo's timeout when the challenge expires.
func TestDuoAuthTimeout(t *testing.T) {
	t.Parallel()
	d := startDuoNode(t, startOptions{tuneApp: func(c *app.Config) { c.Policy.ChallengeTTL = 10 * time.Second }})
	api := d.api(d.ikey, d.skey)
	p := newPhone(t, "phone")
	d.enrollUser(t, api, "grace", p)
	p.connect(t, d.node)
	ch := asyncAuth(api, authapi.AuthUsername("grace"))
	pushed(t, p)
	res := recv2(t, ch, 30*time.Second)
	okStat(t, "auth", res.res.StatResult, res.err)
	if res.res.Response.Result != "deny" || res.res.Response.Status != "timeout" {
		t.Fatalf("an unanswered push answered %+v", res.res.Response)
	}
}

func recv2[T any](t *testing.T, ch <-chan T, wait time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("no answer")
		panic("unreachable")
	}
}

// TestDuoBypassCodes: an administrator issues bypass codes with the server stopped; each works
// once, through the Auth API, until it expires.
func TestDuoBypassCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDuoNodeAt(t, dir, startOptions{})
	k, err := d.srv.App.CreateIntegration(context.Background(), "SSH")
	if err != nil {
		t.Fatal(err)
	}
	d.ikey, d.skey, d.key = k.Key.String(), k.Secret, k.Key
	p := newPhone(t, "phone")
	d.enrollUser(t, d.api(d.ikey, d.skey), "linus", p)
	d.stop()

	out, err := runAdmin(t, "admin", "bypass-codes", "--integration", d.ikey, "--user", "linus", "--count", "3", "--valid-for", "1h", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[3], "valid until ") {
		t.Fatalf("bypass-codes printed:\n%s", out)
	}
	codes := lines[:3]
	if _, err := runAdmin(t, "admin", "bypass-codes", "--integration", d.ikey, "--user", "nobody", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "has no user 'nobody'") {
		t.Fatalf("bypass codes for an unknown user: %v", err)
	}
	if _, err := runAdmin(t, "admin", "bypass-codes", "--integration", d.ikey, "--user", "linus", "--count", "11", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "option 'count'") {
		t.Fatalf("eleven bypass codes: %v", err)
	}

	d2 := startDuoNodeAt(t, dir, startOptions{})
	api := d2.api(d.ikey, d.skey)
	for i, c := range []struct{ code, want string }{{codes[0], "allow"}, {codes[0], "deny"}, {codes[2], "allow"}, {"0000-0000", "deny"}} {
		pc, err := api.Auth("passcode", authapi.AuthUsername("linus"), authapi.AuthPasscode(c.code))
		okStat(t, "auth passcode", pc.StatResult, err)
		if pc.Response.Result != c.want {
			t.Fatalf("bypass code %d: %+v, want %s", i, pc.Response, c.want)
		}
	}
}

// TestDuoNumberMatching: an integration that turns number matching on answers the number with
// an async auth, for the application to show; the device must type it; a synchronous push,
// which gives the application no chance to show it, is refused.
func TestDuoNumberMatching(t *testing.T) {
	t.Parallel()
	d := startDuoNodeAt(t, t.TempDir(), startOptions{})
	k, err := d.srv.App.CreateIntegration(context.Background(), "Portal", app.IntegrationOptions{NumberMatching: true})
	if err != nil {
		t.Fatal(err)
	}
	d.ikey, d.skey, d.key = k.Key.String(), k.Secret, k.Key
	api := d.api(d.ikey, d.skey)
	p := newPhone(t, "phone")
	d.enrollUser(t, api, "mia", p)
	p.connect(t, d.node)

	sync, err := api.Auth("push", authapi.AuthUsername("mia"))
	failStat(t, "a synchronous push with number matching", sync.StatResult, err, 40002)

	c := duo.NewDuoApi(d.ikey, d.skey, strings.TrimPrefix(d.tls.URL, "https://"), "assent-test")
	c.SetCustomHTTPClient(d.tls.Client())
	_, body, err := c.SignedCall("POST", "/auth/v2/auth", url.Values{"username": {"mia"}, "factor": {"push"}, "async": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Stat     string
		Response struct{ Txid, Number string }
	}
	if err := json.Unmarshal(body, &res); err != nil || res.Stat != "OK" || len(res.Response.Number) != 2 {
		t.Fatalf("async auth answered %s", body)
	}
	var number int
	if _, err := fmt.Sscan(res.Response.Number, &number); err != nil {
		t.Fatal(err)
	}
	r := recv(t, p.requests, "push")
	if r.Context.NoNumber {
		t.Fatal("a number-matched push says no number")
	}
	if err := p.sock.Answer(ctxT(t), r, domain.AnswerApprove, 0); err == nil {
		t.Fatal("an approval without the number was accepted")
	}
	if err := p.sock.Answer(ctxT(t), r, domain.AnswerApprove, number); err != nil {
		t.Fatal(err)
	}
	st, err := api.AuthStatus(res.Response.Txid)
	okStat(t, "auth_status", st.StatResult, err)
	if st.Response.Result != "allow" {
		t.Fatalf("auth_status after the right number = %+v", st.Response)
	}
}

// TestDuoHeldRequestsEndAtShutdown: a graceful shutdown does not wait for the requests the Auth
// API holds: a synchronous auth answers 50301, an auth_status long poll "waiting", and the
// server stops within its shutdown timeout (10 s here, against holds of 120 s and 25 s).
func TestDuoHeldRequestsEndAtShutdown(t *testing.T) {
	t.Parallel()
	d := startDuoNode(t, startOptions{})
	api := d.api(d.ikey, d.skey)
	p := newPhone(t, "phone")
	p2 := newPhone(t, "phone 2")
	d.enrollUser(t, api, "ken", p)
	d.enrollUser(t, api, "dennis", p2)
	p.connect(t, d.node)
	p2.connect(t, d.node)

	held := asyncAuth(api, authapi.AuthUsername("ken"))
	pushed(t, p)
	a, err := api.Auth("push", authapi.AuthUsername("dennis"), authapi.AuthAsync())
	okStat(t, "auth async", a.StatResult, err)
	pushed(t, p2)
	status := make(chan *authapi.AuthStatusResult, 1)
	go func() {
		st, err := api.AuthStatus(a.Response.Txid)
		if err != nil {
			t.Errorf("auth_status: %v", err)
		}
		status <- st
	}()
	time.Sleep(200 * time.Millisecond) // let the long poll reach the server and wait
	d.stop()                           // fails the test if the shutdown timeout is reached

	res := recv(t, held, "the held auth's answer")
	failStat(t, "a synchronous auth at shutdown", res.res.StatResult, res.err, 50301)
	st := recv(t, status, "the long poll's answer")
	okStat(t, "auth_status at shutdown", st.StatResult, nil)
	if st.Response.Result != "waiting" {
		t.Fatalf("auth_status at shutdown = %+v", st.Response)
	}
}

// TestDuoHeldAuthOutlivesTheWriteTimeout holds a synchronous auth longer than the server's write
// timeout, which counts from the request's arrival: the answer still reaches the caller.
func TestDuoHeldAuthOutlivesTheWriteTimeout(t *testing.T) {
	t.Parallel()
	d := startDuoNode(t, startOptions{timeouts: &httpTimeouts{
		ReadHeader: 5 * time.Second, Read: 5 * time.Second, Write: 2 * time.Second, Idle: 30 * time.Second,
	}})
	api := d.api(d.ikey, d.skey)
	p := newPhone(t, "phone")
	d.enrollUser(t, api, "grace", p)
	p.connect(t, d.node)

	ch := asyncAuth(api, authapi.AuthUsername("grace"))
	r := pushed(t, p)
	time.Sleep(4 * time.Second) // twice the write timeout
	if err := p.sock.Answer(ctxT(t), r, domain.AnswerApprove, 0); err != nil {
		t.Fatal(err)
	}
	res := recv(t, ch, "the held auth's answer")
	okStat(t, "auth held past the write timeout", res.res.StatResult, res.err)
	if res.res.Response.Result != "allow" {
		t.Fatalf("auth answered %+v", res.res.Response)
	}
}
