package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
)

// Browser tests drive the pages in headless Chromium. Without a browser they skip, saying how
// to install one; with ASSENT_REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails them.

// chromiumPath finds a Chromium or Chrome binary: $ASSENT_CHROMIUM, then the usual names.
func chromiumPath() string {
	if p := os.Getenv("ASSENT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is one headless Chromium with one tab, for one test.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	axe       string // axe-core's source, "" when the accessibility check is skipped
	artifacts string // where look saves screenshots, made at the first look

	mu       sync.Mutex
	console  []chromedp.ConsoleMessage
	requests []string // "METHOD URL" of every request the page sent
	looks    int
	opened   map[string]bool // the paths open visited
	lookedAt map[string]bool // the paths look checked
}

// requireChromium returns the browser's path, or skips the test saying how to install one
// (fails it under ASSENT_REQUIRE_BROWSER=1).
func requireChromium(t *testing.T) string {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		msg := "no Chromium found: install it (Debian/Ubuntu: apt-get install chromium) or set ASSENT_CHROMIUM to a Chrome or Chromium binary"
		if os.Getenv("ASSENT_REQUIRE_BROWSER") == "1" {
			t.Fatal(msg + " (ASSENT_REQUIRE_BROWSER=1 makes this a failure)")
		}
		t.Skip(msg)
	}
	return path
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(desktopWidth, desktopHeight),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser, bound to no timeout
		t.Fatalf("start %s: %v", path, err)
	}
	b := &browser{t: t, ctx: ctx, base: base, axe: requireAxe(t), opened: map[string]bool{}, lookedAt: map[string]bool{}}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(desktopWidth, desktopHeight)); err != nil {
		t.Fatal(err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request != nil {
			b.mu.Lock()
			b.requests = append(b.requests, e.Request.Method+" "+e.Request.URL)
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.saveOnFailure) // runs before the browser is closed
	t.Cleanup(func() {
		if !t.Failed() {
			b.everyPageLooked()
		}
	})
	return b
}

// requested returns the requests the page sent ("METHOD URL") that match pattern.
func (b *browser) requested(pattern string) []string {
	re := regexp.MustCompile(pattern)
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, r := range b.requests {
		if re.MatchString(r) {
			out = append(out, r)
		}
	}
	return out
}

// saveOnFailure keeps a screenshot and the HTML of the page of a failed test in
// testdata/failures (or $ASSENT_BROWSER_FAILURES).
func (b *browser) saveOnFailure() {
	if !b.t.Failed() {
		return
	}
	dir := os.Getenv("ASSENT_BROWSER_FAILURES")
	if dir == "" {
		dir = filepath.Join("testdata", "failures")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("failure screenshot: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	name := fileName(b.t.Name()) + "-" + time.Now().Format("150405")
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		p := filepath.Join(dir, name+".png")
		if os.WriteFile(p, png, 0o644) == nil {
			b.t.Logf("screenshot of the failing page: %s", p)
		}
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".html"), []byte(html), 0o644)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		b.t.Logf("the page was %s", loc)
	}
	for _, m := range b.consoleMessages() {
		b.t.Logf("console: %s", m)
	}
}

func (b *browser) consoleMessages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		out = append(out, m.String())
	}
	return out
}

// do runs steps with a timeout.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.t.Logf("%s open %s", time.Now().Format("15:04:05.000"), path)
	b.do("open "+path, chromedp.Navigate(b.base+path))
	b.mu.Lock()
	b.opened[pagePath(path)] = true
	b.mu.Unlock()
}

func (b *browser) visible(id string) {
	b.t.Helper()
	b.do("wait for #"+id, chromedp.WaitVisible(chromedp.ID(id)))
}

// typeInto types text into a field with key events, as a keyboard does.
func (b *browser) typeInto(id, text string) {
	b.t.Helper()
	b.do("type into #"+id, chromedp.WaitVisible(chromedp.ID(id)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ""`, id)),
		chromedp.SendKeys(chromedp.ID(id), text))
	if got := b.eval(fmt.Sprintf(`document.getElementById(%q).value`, id)); got != text {
		b.t.Fatalf("#%s holds %q after typing %q", id, got, text)
	}
}

// press presses Enter in a field: forms are submitted from the keyboard.
func (b *browser) enter(id string) {
	b.t.Helper()
	b.do("press Enter in #"+id, chromedp.SendKeys(chromedp.ID(id), "\r"))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// text is the text content of the element with the given id ("" when there is none).
func (b *browser) text(id string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.getElementById(%q) || {}).textContent || ""`, id)))
	if err != nil {
		b.t.Fatalf("text of #%s: %v", id, err)
	}
	return strings.TrimSpace(s)
}

// waitText waits until the element's text contains want, and returns it.
func (b *browser) waitText(id, want string) string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := b.text(id)
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("#%s says %q; want it to contain %q", id, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) location() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// noPageErrors fails on uncaught exceptions and Content-Security-Policy violations.
func (b *browser) noPageErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		if m.IsException() || strings.Contains(m.String(), "Content Security Policy") {
			b.t.Errorf("the page reported: %s", m)
		}
	}
}

// scanQR decodes the QR code image the page shows, as a phone's camera would.
func (b *browser) scanQR(id string) string {
	b.t.Helper()
	src := b.eval(fmt.Sprintf(`document.getElementById(%q).src`, id))
	data, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		b.t.Fatalf("#%s shows %.40q, not a PNG", id, src)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		b.t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		b.t.Fatal(err)
	}
	text, err := decodeQR(img)
	if err != nil {
		b.t.Fatal(err)
	}
	return text
}

// signInWithPassword submits the sign-in form and waits for the step that follows.
func (b *browser) signInWithPassword(email, password, next string) {
	b.t.Helper()
	b.open("/signin")
	b.typeInto("email", email)
	b.typeInto("password", password)
	b.enter("password")
	b.visible(next)
}

// navigation is the text of the main navigation's visible items, joined with "|", once the
// page knows whether the person is signed in.
func (b *browser) navigation() string {
	b.t.Helper()
	const items = `[...document.querySelectorAll('nav[aria-label="Main"] li')].filter(li => !li.hidden).map(li => li.textContent.trim()).join('|')`
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := b.eval(items); got != "" || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) signOut() {
	b.t.Helper()
	b.open("/")
	b.visible("home-account")
	b.click("#signout")
	b.visible("signin-form")
}

func TestBrowserRegisterActivateApproveCodesAndRemove(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	n := startNode(t)
	b := newBrowser(t, n.url)
	ctx := ctxT(t)
	const email, password = "browser@example.com", "correct horse battery staple"

	// Register: the page signs in and lands on the home page, 2FA off.
	b.open("/register")
	b.look("register")
	b.typeInto("email", email)
	b.typeInto("password", password)
	b.enter("password")
	b.visible("home-account")
	if got := b.text("home-email"); got != email {
		t.Fatalf("home page shows %q", got)
	}
	if got := b.text("home-mfa"); got != "off" {
		t.Fatalf("2FA is %q after registering", got)
	}
	// The navigation fits a signed-in person: no "Sign in" or "Create an account", a sign-out.
	if got := b.navigation(); got != "Home|Security|Sign out" {
		t.Fatalf("signed in, the navigation shows %q", got)
	}
	b.look("home, 2FA off")

	// The sign-in page tells a signed-in person so, and leads to the account.
	b.open("/signin")
	b.waitText("signed-in-note", "You are already signed in as "+email)
	if got := b.navigation(); got != "Home|Security|Sign out" {
		t.Fatalf("signed in, the sign-in page's navigation shows %q", got)
	}
	b.look("sign-in, already signed in")

	// Activate with the app: scan the QR code the page shows, enroll with the client, and the
	// page says "device linked" live.
	b.open("/security")
	b.waitText("add-heading", "Activate")
	b.look("security, 2FA off")
	b.click("#link-app")
	b.visible("enroll-panel")
	b.waitText("enroll-status", "Waiting for your device")
	b.look("security, enrollment QR code")
	link := b.scanQR("enroll-qr")
	if !strings.HasPrefix(link, n.url+"/enroll?token=") {
		t.Fatalf("the QR code holds %q", link)
	}
	if cmd := b.text("enroll-command"); !strings.Contains(cmd, link) {
		t.Fatalf("the page's command %q lacks the link %q", cmd, link)
	}
	p := newPhone(t, "browser test phone")
	server, token, err := client.ParseEnrollmentLink(link)
	if err != nil || server != n.url {
		t.Fatalf("enrollment link %q: server %q, %v", link, server, err)
	}
	if _, err := n.client().Enroll(ctx, p.dev, token); err != nil {
		t.Fatal(err)
	}
	// Linked: the spent QR code goes away, "Device linked" is said once, and the page does not
	// send the person to "Get new backup codes", which would replace the set the device got.
	b.waitText("sec-status", "Device linked: browser test phone.")
	linked := b.waitText("sec-status", "Two-factor authentication is now on")
	if strings.Contains(linked, "Get new backup codes") {
		t.Fatalf("after the link the page says %q", linked)
	}
	b.waitText("add-heading", "Add an option")
	b.visible("device-list")
	if b.eval(`String(document.getElementById('enroll-panel').hidden) + ' ' + document.getElementById('enroll-qr').hasAttribute('src')`) != "true false" {
		t.Fatal("the spent enrollment QR code is still on the page")
	}
	if got := b.eval(`String(document.body.innerText.split('Device linked').length - 1)`); got != "1" {
		t.Fatalf("the page says \"Device linked\" %s times", got)
	}
	b.look("security, device linked")
	p.connect(t, n)

	// Backup codes: shown once, with a download of the same codes.
	b.click("#new-codes")
	b.visible("codes-panel")
	b.look("security, new backup codes")
	// Printed, the page is the codes alone: no bar, no other section, no buttons.
	b.media("print")
	if got := b.eval(`['.bar', '#sessions', '#codes-done', '#codes-list'].map(s => getComputedStyle(document.querySelector(s)).display).join(' ')`); got != "none none none block" {
		t.Fatalf("printed, the bar, another section, a button and the codes display as %q", got)
	}
	b.look("security, new backup codes, printed")
	b.media("")
	codes := strings.Fields(b.eval(`[...document.querySelectorAll('#codes-list li')].map(li => li.textContent).join(' ')`))
	if len(codes) != 10 {
		t.Fatalf("the page shows %d backup codes: %q", len(codes), codes)
	}
	href, ok := strings.CutPrefix(b.eval(`document.getElementById('codes-download').href`), "data:text/plain;charset=utf-8,")
	if !ok {
		t.Fatalf("the download link is %.40q", href)
	}
	download, err := url.PathUnescape(href)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if !strings.Contains(download, c) {
			t.Fatalf("the download lacks the code %s shown:\n%s", c, download)
		}
	}
	b.click("#codes-done")
	b.waitText("backup-left", "10 unused backup codes left")
	b.look("security, 2FA on")

	// Sign out; sign in and approve on the device, typing the number the page shows. The page
	// moves on by itself.
	b.signOut()
	if got := b.navigation(); got != "Sign in|Create an account" {
		t.Fatalf("signed out, the navigation shows %q", got)
	}
	b.signInWithPassword(email, password, "step-approve")
	b.look("sign-in, number to enter")
	shown := b.text("number")
	r := recv(t, p.requests, "the sign-in request on the device")
	var num int
	if _, err := fmt.Sscan(shown, &num); err != nil {
		t.Fatalf("the page shows the number %q", shown)
	}
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, num); err != nil {
		t.Fatal(err)
	}
	b.visible("home-account")
	if got := b.text("home-mfa"); got != "on" {
		t.Fatalf("2FA is %q after approving", got)
	}
	// The page awaited the result on the event stream, whose URL carried a ticket; the login
	// token never went in a URL.
	if got := b.requested(`^POST .*/v1/logins/[^/]+/ticket$`); len(got) == 0 {
		t.Fatal("the sign-in page asked for no stream ticket")
	}
	if got := b.requested(`^GET .*/v1/logins/[^/?]+/events\?ticket=[^&]+$`); len(got) == 0 {
		t.Fatalf("the sign-in page opened no event stream with a ticket; it sent %q", b.requested(`/v1/logins/`))
	}
	if got := b.requested(`/v1/logins/.*[?&]token=`); len(got) > 0 {
		t.Fatalf("the login token went in a URL: %q", got)
	}

	// Denied on the device: the page says so in plain words.
	b.signOut()
	b.signInWithPassword(email, password, "step-approve")
	r = recv(t, p.requests, "the request to deny")
	if err := p.sock.Answer(ctx, r, domain.AnswerDeny, 0); err != nil {
		t.Fatal(err)
	}
	b.visible("step-outcome")
	b.waitText("outcome-heading", "Sign-in denied")
	b.look("sign-in, denied")

	// Offline: "Use a code instead" with the device's current code.
	b.signInWithPassword(email, password, "step-approve")
	recv(t, p.requests, "the request answered with a code")
	b.click("#use-code")
	b.visible("step-code")
	b.typeInto("code", "000000")
	b.enter("code")
	b.waitText("code-error", "not right")
	b.look("sign-in, wrong code")
	offline, err := p.dev.Codes(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.typeInto("code", offline[0].Code)
	b.enter("code")
	b.visible("home-account")

	// A backup code kept from the page.
	b.signOut()
	b.signInWithPassword(email, password, "step-approve")
	recv(t, p.requests, "the request answered with a backup code")
	b.click("#use-code")
	b.typeInto("code", codes[0])
	b.enter("code")
	b.visible("home-account")

	// Remove the device: it is the last second factor, so a click does not remove it; the page
	// says so and leads to turning 2FA off, which takes the password and a second factor (here a
	// backup code). Then the page lists no device, 2FA is off, and the device is told.
	b.open("/security")
	b.click(`button[aria-label="Remove browser test phone"]`)
	b.waitText("sec-error", "This is your last second factor.")
	b.look("security, last second factor")
	if got := b.eval(`document.activeElement.id`); got != "disable-password" {
		t.Fatalf("focus is on %q, want the turn-off password field", got)
	}
	b.visible("device-list")
	b.typeInto("disable-password", password)
	b.enter("disable-password")
	b.visible("disable-confirm")
	b.look("security, turning off")
	b.typeInto("disable-code", codes[1])
	b.enter("disable-code")
	b.waitText("sec-status", "Two-factor authentication is off.")
	b.visible("devices-empty")
	recv(t, p.unlinked, "the unlink on the device")
	if !strings.HasSuffix(b.location(), "/security") {
		t.Fatalf("the page went to %s", b.location())
	}
	b.look("security, device removed")

	// An enrollment link opened in a browser lands on a page that says what it is for.
	b.open(strings.TrimPrefix(link, n.url))
	b.visible("enroll-info")
	b.look("enrollment link in a browser")
	b.noPageErrors()
}

func TestBrowserAuthenticatorAppExpiryAndTurningOff(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	clock := &testClock{now: time.Now()}
	n := startNode(t, func(c *app.Config) { c.Clock = clock.Now })
	b := newBrowser(t, n.url)
	const email, password = "totp@example.com", "correct horse battery staple"
	b.open("/register")
	b.look("register")
	b.typeInto("email", email)
	b.typeInto("password", password)
	b.enter("password")
	b.visible("home-account")
	b.look("home, 2FA off")

	// Activate with a standard authenticator app: scan its otpauth:// QR code, confirm with
	// its first code; that turns 2FA on and shows the first backup codes once.
	b.open("/security")
	b.click("#add-totp")
	b.visible("totp-panel")
	b.look("security, authenticator app QR code")
	uri, err := url.Parse(b.scanQR("totp-qr"))
	if err != nil || uri.Scheme != "otpauth" {
		t.Fatalf("the QR code holds %v (%v)", uri, err)
	}
	secret := uri.Query().Get("secret")
	if got := b.text("totp-secret"); got != secret {
		t.Fatalf("the page shows the key %q, the QR code %q", got, secret)
	}
	b.typeInto("totp-code", "000000")
	b.enter("totp-code")
	b.waitText("totp-error", "not right")
	code, err := client.TOTPCode(secret, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.typeInto("totp-code", code)
	b.enter("totp-code")
	b.visible("codes-panel")
	codes := strings.Fields(b.eval(`[...document.querySelectorAll('#codes-list li')].map(li => li.textContent).join(' ')`))
	if len(codes) != 10 {
		t.Fatalf("confirming the app showed %d backup codes", len(codes))
	}
	b.click("#codes-done")
	b.waitText("sec-status", "Authenticator app added. Two-factor authentication is on.")
	b.waitText("mfa-summary", "Two-factor authentication is on.")
	b.waitText("app-list", "Added")
	b.look("security, authenticator app added")

	// No device to push to: the sign-in asks for a code at once. Left alone, it expires and
	// the page says so.
	b.signOut()
	b.signInWithPassword(email, password, "step-code")
	b.waitText("code-reason", "authenticator app")
	b.look("sign-in, code")
	clock.Advance(3 * time.Minute)
	b.visible("step-outcome")
	b.waitText("outcome-heading", "Sign-in request expired")
	b.look("sign-in, expired")

	// A code of the app signs in.
	b.signInWithPassword(email, password, "step-code")
	code, _ = client.TOTPCode(secret, clock.Now())
	b.typeInto("code", code)
	b.enter("code")
	b.visible("home-account")

	// Turning 2FA off takes the password and a fresh second factor (here a backup code).
	b.open("/security")
	b.typeInto("disable-password", password)
	b.enter("disable-password")
	b.visible("disable-confirm")
	b.typeInto("disable-code", codes[0])
	b.enter("disable-code")
	b.waitText("sec-status", "Two-factor authentication is off.")
	b.waitText("mfa-summary", "off")
	b.waitText("add-heading", "Activate")
	b.look("security, 2FA turned off")
	b.noPageErrors()
}
