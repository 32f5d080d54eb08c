package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
)

// node is a real server on loopback over a real SQLite file, for one test.
type node struct {
	t   *testing.T
	srv *server
	url string
	rec *recorder
}

// client returns an API client whose every response is recorded, so that the test can check
// each one against the OpenAPI document when it ends.
func (n *node) client() *client.Client {
	c := client.New(n.url)
	c.HTTP.Transport = n.rec
	return c
}

func startNode(t *testing.T, tune ...func(*app.Config)) *node {
	t.Helper()
	var opts startOptions
	if len(tune) > 0 {
		opts.tuneApp = tune[0]
	}
	n := startNodeWith(t, nil, opts)
	t.Cleanup(func() { checkDocumented(t, n) })
	return n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// phone is a device with a live socket whose requests land in a channel.
type phone struct {
	dev      *client.Device
	sock     *client.Socket
	requests chan client.Request
	outcomes chan client.Outcome
	unlinked chan uuid.UUID
	closed   chan string
	ready    chan []uuid.UUID
	done     chan error
}

func newPhone(t *testing.T, name string) *phone {
	d, err := client.NewDevice(name, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &phone{dev: d}
}

func (p *phone) connect(t *testing.T, n *node) {
	t.Helper()
	p.requests = make(chan client.Request, 16)
	p.outcomes = make(chan client.Outcome, 16)
	p.unlinked = make(chan uuid.UUID, 16)
	p.closed = make(chan string, 1)
	p.ready = make(chan []uuid.UUID, 16)
	p.done = make(chan error, 1)
	p.sock = client.NewSocket(p.dev, n.url, client.Handlers{
		Ready:    func(a []uuid.UUID) { p.ready <- a },
		Request:  func(r client.Request) { p.requests <- r },
		Outcome:  func(o client.Outcome) { p.outcomes <- o },
		Unlinked: func(a uuid.UUID) { p.unlinked <- a },
		Closed:   func(r string) { p.closed <- r },
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { p.done <- p.sock.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-p.done })
	select {
	case <-p.ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the device socket never became ready")
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

func none[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %+v", what, v)
	case <-time.After(300 * time.Millisecond):
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got %v, want the refusal %q", err, code)
	}
}

// account registers an account and signs its browser in (without 2FA).
func (n *node) account(t *testing.T, email string) *client.Client {
	t.Helper()
	ctx := ctxT(t)
	b := n.client()
	if _, err := b.Register(ctx, email, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	res, err := b.SignIn(ctx, email, "correct horse battery staple")
	if err != nil || res.Status != "signed_in" {
		t.Fatalf("sign in without 2FA: %+v %v", res, err)
	}
	return b
}

type enrollment struct {
	Link  string `json:"link"`
	Token string `json:"token"`
	QR    struct {
		PNG []byte `json:"png"`
		SVG string `json:"svg"`
	} `json:"qr"`
}

// link enrolls p on the browser's account from the security page's QR link.
func link(t *testing.T, n *node, browser *client.Client, p *phone) client.LinkResult {
	t.Helper()
	ctx := ctxT(t)
	var e enrollment
	if err := browser.Post(ctx, "/v1/security/enrollments", nil, &e); err != nil {
		t.Fatal(err)
	}
	server, token, err := client.ParseEnrollmentLink(e.Link)
	if err != nil || server != n.url {
		t.Fatalf("enrollment link %q: server %q, %v", e.Link, server, err)
	}
	res, err := n.client().Enroll(ctx, p.dev, token)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// signIn starts a sign-in that needs the second factor.
func signIn(t *testing.T, n *node, email string) (*client.Client, client.SignInResponse) {
	t.Helper()
	b := n.client()
	res, err := b.SignIn(ctxT(t), email, "correct horse battery staple")
	if err != nil || res.Status != "challenge" || res.Challenge == nil {
		t.Fatalf("sign in with 2FA: %+v %v", res, err)
	}
	return b, res
}

// turnOffWithCode turns 2FA off on b's account with the proof it takes: the password, then a
// code (of the app or a backup code) typed for the challenge the password started.
func turnOffWithCode(t *testing.T, n *node, b *client.Client, email, code string) {
	t.Helper()
	ctx := ctxT(t)
	page, si := signIn(t, n, email)
	if err := page.PassWithCode(ctx, si.Challenge.ID, si.LoginToken, code); err != nil { // a step-up: no session
		t.Fatalf("the code for turning 2FA off: %v", err)
	}
	if err := b.Post(ctx, "/v1/security/mfa/disable", map[string]any{"challenge_id": si.Challenge.ID}, nil); err != nil {
		t.Fatalf("turn 2FA off: %v", err)
	}
}

// codeFor returns the device's current code for the account of email.
func codeFor(t *testing.T, d *client.Device, email string) string {
	t.Helper()
	codes, err := d.Codes(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if c.Email == email {
			return c.Code
		}
	}
	t.Fatalf("the device has no code for %s", email)
	return ""
}

func number(t *testing.T, c *client.Challenge) int {
	var n int
	if _, err := fmt.Sscan(c.Number, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestJourneyRegisterSignInSignOut(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	b := n.account(t, "ada@example.com")
	var sess struct {
		Email string `json:"email"`
	}
	if err := b.Get(ctx, "/v1/session", &sess); err != nil || sess.Email != "ada@example.com" {
		t.Fatalf("session: %+v %v", sess, err)
	}
	_, err := n.client().Register(ctx, "ADA@example.com", "another long password")
	wantCode(t, err, "email_taken")
	_, err = n.client().SignIn(ctx, "ada@example.com", "wrong password")
	wantCode(t, err, "wrong_credentials")
	// A state-changing request without the CSRF token is refused.
	token := b.CSRFToken
	b.CSRFToken = ""
	wantCode(t, b.Delete(ctx, "/v1/session"), "csrf_failed")
	b.CSRFToken = token
	if err := b.Delete(ctx, "/v1/session"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.Get(ctx, "/v1/session", nil), "unauthenticated")
}

func TestJourneyEnrollApproveAndCodes(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	b := n.account(t, "grace@example.com")

	// The security page listens live while the device links: once it is watching.
	news := make(chan string, 4)
	watching := make(chan struct{})
	go watchSecurity(ctx, n, b, watching, news)
	select {
	case <-watching:
	case <-ctx.Done():
		t.Fatal("the security page's stream never said it was watching")
	}
	p := newPhone(t, "grace's phone")
	res := link(t, n, b, p)
	if !res.MFAEnabled || len(res.BackupCodes) != 10 || res.TOTPSecret == "" {
		t.Fatalf("first link: mfa %v, %d backup codes, secret set %v", res.MFAEnabled, len(res.BackupCodes), res.TOTPSecret != "")
	}
	if got := recv(t, news, "device linked news"); !strings.Contains(got, "device_linked") || !strings.Contains(got, res.DeviceID.String()) {
		t.Fatalf("security page heard %q", got)
	}
	p.connect(t, n)

	// Approve with number matching: the wrong number is refused, the right one approves, and
	// the waiting login page moves on.
	browser, si := signIn(t, n, "grace@example.com")
	r := recv(t, p.requests, "challenge on the device")
	if r.ID != si.Challenge.ID || r.Context.IP != "127.0.0.1" {
		t.Fatalf("device got %+v for challenge %s", r, si.Challenge.ID)
	}
	awaited := make(chan client.LoginStatus, 1)
	go func() {
		st, err := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken)
		if err != nil {
			t.Error(err)
		}
		awaited <- st
	}()
	wrong := (number(t, si.Challenge) % 90) + 10
	if wrong == number(t, si.Challenge) {
		wrong++
	}
	wantCode(t, p.sock.Answer(ctx, r, domain.AnswerApprove, wrong), "wrong_number")
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	if st := recv(t, awaited, "login result"); st.Status != "approved" || !st.Approved {
		t.Fatalf("login page got %+v", st)
	}
	if o := recv(t, p.outcomes, "outcome on the device"); o.Status != "approved" {
		t.Fatalf("device outcome %+v", o)
	}
	// Someone else cannot redeem it; its own page can.
	wantCode(t, n.client().RedeemLogin(ctx, si.Challenge.ID, "not-the-token"), "login_token_invalid")
	if err := browser.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil {
		t.Fatal(err)
	}
	if err := browser.Get(ctx, "/v1/session", nil); err != nil {
		t.Fatalf("session after approval: %v", err)
	}
	// A replayed answer is refused.
	wantCode(t, p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)), "challenge_decided")

	// Offline: a TOTP code computed on the device completes a login, once.
	browser2, si2 := signIn(t, n, "grace@example.com")
	recv(t, p.requests, "second challenge")
	codes, err := p.dev.Codes(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := browser2.LoginWithCode(ctx, si2.Challenge.ID, si2.LoginToken, codes[0].Code); err != nil {
		t.Fatalf("offline code: %v", err)
	}
	browser3, si3 := signIn(t, n, "grace@example.com")
	recv(t, p.requests, "third challenge")
	wantCode(t, browser3.LoginWithCode(ctx, si3.Challenge.ID, si3.LoginToken, codes[0].Code), "code_reused")

	// Backup codes: one works once; a new set revokes the old.
	if err := browser3.LoginWithCode(ctx, si3.Challenge.ID, si3.LoginToken, res.BackupCodes[0]); err != nil {
		t.Fatalf("backup code: %v", err)
	}
	browser4, si4 := signIn(t, n, "grace@example.com")
	recv(t, p.requests, "fourth challenge")
	wantCode(t, browser4.LoginWithCode(ctx, si4.Challenge.ID, si4.LoginToken, res.BackupCodes[0]), "code_reused")
	var fresh struct {
		Codes []string `json:"codes"`
	}
	if err := browser3.Post(ctx, "/v1/security/backup-codes", nil, &fresh); err != nil || len(fresh.Codes) != 10 {
		t.Fatalf("regenerate: %d codes, %v", len(fresh.Codes), err)
	}
	wantCode(t, browser4.LoginWithCode(ctx, si4.Challenge.ID, si4.LoginToken, res.BackupCodes[1]), "wrong_code")
	if err := browser4.LoginWithCode(ctx, si4.Challenge.ID, si4.LoginToken, fresh.Codes[0]); err != nil {
		t.Fatalf("a code of the new set: %v", err)
	}
}

func newGet(ctx context.Context, url string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
}

// watchSecurity reads the security page's event stream and forwards its data lines.
// watchSecurity reads the security page's stream: it closes watching at the stream's first
// event, which says the server is watching the account, and sends every later event to out.
func watchSecurity(ctx context.Context, n *node, b *client.Client, watching chan<- struct{}, out chan<- string) {
	req, _ := newGet(ctx, n.url+"/v1/security/events")
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	for {
		k, err := resp.Body.Read(buf)
		if k > 0 {
			for _, line := range strings.Split(string(buf[:k]), "\n") {
				switch {
				case !strings.HasPrefix(line, "data:"):
				case strings.Contains(line, "watching"):
					if watching != nil {
						close(watching)
						watching = nil
					}
				default:
					out <- line
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func TestJourneyDenyFraudAndTwoDevices(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	b := n.account(t, "linus@example.com")
	p1, p2 := newPhone(t, "phone"), newPhone(t, "tablet")
	link(t, n, b, p1)
	link(t, n, b, p2)
	p1.connect(t, n)
	p2.connect(t, n)

	// Both devices get the challenge; the first answer wins and the other device is told.
	browser, si := signIn(t, n, "linus@example.com")
	r1 := recv(t, p1.requests, "challenge on device 1")
	r2 := recv(t, p2.requests, "challenge on device 2")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = p1.sock.Answer(ctx, r1, domain.AnswerApprove, number(t, si.Challenge))
	}()
	go func() { defer wg.Done(); errs[1] = p2.sock.Answer(ctx, r2, domain.AnswerDeny, 0) }()
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two racing answers: %v / %v; want exactly one winner", errs[0], errs[1])
	}
	o1, o2 := recv(t, p1.outcomes, "outcome 1"), recv(t, p2.outcomes, "outcome 2")
	if o1.Status != o2.Status {
		t.Fatalf("devices told different outcomes: %s / %s", o1.Status, o2.Status)
	}
	st, err := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken)
	if err != nil || st.Status != o1.Status {
		t.Fatalf("login page: %+v %v, devices: %s", st, err, o1.Status)
	}

	// Deny: the page hears denied and cannot redeem.
	browser, si = signIn(t, n, "linus@example.com")
	r := recv(t, p1.requests, "challenge to deny")
	recv(t, p2.requests, "challenge to deny on device 2")
	if err := p1.sock.Answer(ctx, r, domain.AnswerDeny, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); st.Status != "denied" {
		t.Fatalf("after deny: %+v", st)
	}
	wantCode(t, browser.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken), "challenge_denied")

	// "This wasn't me": fraud reported, and the next sign-in is not pushed.
	browser, si = signIn(t, n, "linus@example.com")
	r = recv(t, p1.requests, "challenge to report")
	recv(t, p2.requests, "challenge to report on device 2")
	if err := p1.sock.Answer(ctx, r, domain.AnswerFraud, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); st.Status != "fraud_reported" {
		t.Fatalf("after fraud: %+v", st)
	}
	_, si = signIn(t, n, "linus@example.com")
	if !si.Challenge.PushMuted || si.Challenge.Devices != 0 {
		t.Fatalf("after a fraud report the challenge was pushed: %+v", si.Challenge)
	}
	none(t, p1.requests, "push while muted")
}

func TestJourneyOneDeviceThreeAccountsReconnectAndUnlink(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	p := newPhone(t, "shared phone")
	var browsers []*client.Client
	emails := []string{"a@example.com", "b@example.com", "c@example.com"}
	for _, e := range emails {
		b := n.account(t, e)
		link(t, n, b, p)
		browsers = append(browsers, b)
	}
	if len(p.dev.Links) != 3 {
		t.Fatalf("device holds %d links, want 3", len(p.dev.Links))
	}
	codes, err := p.dev.Codes(time.Now())
	if err != nil || len(codes) != 3 {
		t.Fatalf("codes: %d, %v", len(codes), err)
	}
	p.connect(t, n)
	for _, e := range emails {
		_, si := signIn(t, n, e)
		if r := recv(t, p.requests, "challenge of "+e); r.ID != si.Challenge.ID {
			t.Fatalf("challenge of %s: got %s", e, r.ID)
		}
	}

	// Offline for a moment: a challenge issued meanwhile arrives on reconnect, once.
	p.sock.Drop()
	_, si := signIn(t, n, emails[0])
	r := recv(t, p.requests, "challenge after reconnect")
	if r.ID != si.Challenge.ID {
		t.Fatalf("after reconnect: got %s, want %s", r.ID, si.Challenge.ID)
	}
	if p.sock.Connections() < 2 {
		t.Fatalf("the socket did not reconnect (%d connections)", p.sock.Connections())
	}
	none(t, p.requests, "a challenge shown twice")

	// Unlinking one account tells the socket; unlinking the last closes it.
	for i, b := range browsers {
		var sec struct {
			AccountID uuid.UUID `json:"account_id"`
		}
		if err := b.Get(ctx, "/v1/security", &sec); err != nil {
			t.Fatal(err)
		}
		acct := sec.AccountID
		// The device is each account's last second factor: it goes with 2FA, which takes proof.
		turnOffWithCode(t, n, b, emails[i], codeFor(t, p.dev, emails[i]))
		if got := recv(t, p.unlinked, "unlinked"); got != acct {
			t.Fatalf("unlinked %s, want %s", got, acct)
		}
	}
	if reason := recv(t, p.closed, "socket closed"); !strings.Contains(reason, "no linked account") {
		t.Fatalf("close reason %q", reason)
	}
}

func TestJourneyPhoneLinkTOTPAppAndRefusals(t *testing.T) {
	t.Parallel()
	n := startNodeWithLimits(t, roomyLimits()) // seven password checks of one account in a row
	ctx := ctxT(t)
	b := n.account(t, "hedy@example.com")

	// From the phone, 2FA off: credentials, then Authorize.
	p := newPhone(t, "hedy's phone")
	c := n.client()
	start, err := c.PhoneLinkBegin(ctx, "hedy@example.com", "correct horse battery staple")
	if err != nil || start.Challenge != nil {
		t.Fatalf("phone link begin: %+v %v", start, err)
	}
	res, err := c.PhoneLinkAuthorize(ctx, p.dev, "hedy@example.com", "correct horse battery staple", uuid.Nil)
	if err != nil || !res.MFAEnabled {
		t.Fatalf("phone link authorize: %+v %v", res, err)
	}
	p.connect(t, n)

	// A second phone, 2FA on: it must pass a challenge, approved on the first phone.
	p2 := newPhone(t, "hedy's tablet")
	start, err = c.PhoneLinkBegin(ctx, "hedy@example.com", "correct horse battery staple")
	if err != nil || start.Challenge == nil {
		t.Fatalf("phone link with 2FA on: %+v %v", start, err)
	}
	_, err = c.PhoneLinkAuthorize(ctx, p2.dev, "hedy@example.com", "correct horse battery staple", start.Challenge.ID)
	wantCode(t, err, "second_factor_required")
	r := recv(t, p.requests, "the phone link's challenge")
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, start.Challenge)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PhoneLinkAuthorize(ctx, p2.dev, "hedy@example.com", "correct horse battery staple", start.Challenge.ID); err != nil {
		t.Fatalf("phone link after approval: %v", err)
	}

	// A standard authenticator app: otpauth:// URI, confirmed by its first code.
	var app struct {
		ID         uuid.UUID `json:"id"`
		OTPAuthURI string    `json:"otpauth_uri"`
	}
	if err := b.Post(ctx, "/v1/security/totp-apps", nil, &app); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(app.OTPAuthURI)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") == "" {
		t.Fatalf("otpauth URI %q", app.OTPAuthURI)
	}
	wantCode(t, b.Post(ctx, "/v1/security/totp-apps/"+app.ID.String()+"/confirm", map[string]string{"code": "000000"}, nil), "wrong_code")
	code, err := client.TOTPCode(u.Query().Get("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Post(ctx, "/v1/security/totp-apps/"+app.ID.String()+"/confirm", map[string]string{"code": code}, nil); err != nil {
		t.Fatalf("confirm the app: %v", err)
	}

	// Refusals: a bad signature over HTTP; an answer for an account the device is not linked
	// to; a login page awaiting another's challenge; a malformed request.
	_, si := signIn(t, n, "hedy@example.com")
	r = recv(t, p.requests, "challenge")
	stranger := newPhone(t, "stranger")
	strangerBrowser := n.account(t, "eve@example.com")
	link(t, n, strangerBrowser, stranger)
	wantCode(t, n.client().AnswerHTTP(ctx, stranger.dev, r, domain.AnswerApprove, number(t, si.Challenge)), "device_not_linked")
	forged := *p.dev
	forged.PrivateKey = stranger.dev.PrivateKey
	wantCode(t, n.client().AnswerHTTP(ctx, &forged, r, domain.AnswerApprove, number(t, si.Challenge)), "bad_signature")
	_, err = n.client().AwaitLogin(ctx, si.Challenge.ID, "guess")
	wantCode(t, err, "login_token_invalid")
	wantCode(t, n.client().Post(ctx, "/v1/accounts", map[string]any{"email": 7}, nil), "invalid_request")
}

func TestJourneyUnansweredChallengeExpires(t *testing.T) {
	t.Parallel()
	clock := &testClock{now: time.Now()}
	n := startNode(t, func(c *app.Config) { c.Clock = clock.Now })
	ctx := ctxT(t)
	b := n.account(t, "expiring@example.com")
	p := newPhone(t, "phone")
	link(t, n, b, p)
	p.connect(t, n)
	browser, si := signIn(t, n, "expiring@example.com")
	r := recv(t, p.requests, "challenge")
	clock.Advance(3 * time.Minute) // the sweeper expires it within a second
	st, err := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken)
	if err != nil || st.Status != "expired" {
		t.Fatalf("unanswered challenge: %+v %v", st, err)
	}
	if o := recv(t, p.outcomes, "expiry on the device"); o.Status != "expired" {
		t.Fatalf("device told %+v", o)
	}
	wantCode(t, p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)), "challenge_decided")
	wantCode(t, browser.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken), "challenge_expired")
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
