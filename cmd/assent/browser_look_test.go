package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/assent-dev/assent/domain"
)

// The browser tests look at every page they visit: axe-core checks it for accessibility (a
// serious or critical violation fails the test, named), and a full-page screenshot is saved at
// a desktop and a mobile width. axe-core comes from the npm registry (web/a11y/package.json,
// installed with `npm ci` there); without it the check skips and says so, and
// ASSENT_REQUIRE_AXE=1 (set by .ci/run) turns the skip into a failure.

// The widths of the screenshots: a desktop and a phone.
const (
	desktopWidth, desktopHeight = 1280, 900
	mobileWidth, mobileHeight   = 390, 844
)

const axeMissing = "axe-core is not installed for the accessibility check: run `npm ci` in web/a11y " +
	"(or set ASSENT_AXE to an axe.min.js)"

var axeScript = sync.OnceValues(func() (string, error) {
	path := os.Getenv("ASSENT_AXE")
	if path == "" {
		path = filepath.Join("..", "..", "web", "a11y", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	return string(b), err
})

// requireAxe returns axe-core's source, or "" after saying that the check is skipped (a
// failure under ASSENT_REQUIRE_AXE=1).
func requireAxe(t *testing.T) string {
	t.Helper()
	src, err := axeScript()
	if err != nil || src == "" {
		if os.Getenv("ASSENT_REQUIRE_AXE") == "1" {
			t.Fatalf("%s (ASSENT_REQUIRE_AXE=1 makes this a failure): %v", axeMissing, err)
		}
		t.Log(axeMissing + "; the check is skipped")
		return ""
	}
	return src
}

// TestBrowserAccessibilityCheckInstalled says, as a skip, when the browser tests cannot check
// accessibility, as the browser tests themselves do without Chromium.
func TestBrowserAccessibilityCheckInstalled(t *testing.T) {
	if _, err := axeScript(); err != nil {
		if os.Getenv("ASSENT_REQUIRE_AXE") == "1" {
			t.Fatalf("%s (ASSENT_REQUIRE_AXE=1 makes this a failure): %v", axeMissing, err)
		}
		t.Skip(axeMissing + "; the check is skipped")
	}
}

// artifactsDir is where the screenshots of one test go: $ASSENT_TEST_ARTIFACTS, else
// testdata/artifacts (ignored by git), in a folder named for the test, emptied first.
func artifactsDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("ASSENT_TEST_ARTIFACTS")
	if root == "" {
		root = filepath.Join("testdata", "artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(root, fileName(t.Name())))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of the pages: %s", dir)
	return dir
}

func fileName(s string) string {
	return regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(s, "_")
}

// axeViolation is the part of an axe-core result the check reports.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// look checks the page as it is now with axe-core and saves a full-page screenshot of it at
// the desktop and the mobile width, named name. Every page a test opens must be looked at
// (checked when the test ends).
func (b *browser) look(name string) {
	b.t.Helper()
	b.mu.Lock()
	b.looks++
	n := b.looks
	b.mu.Unlock()
	if loc := b.location(); loc != "" {
		b.looked(loc)
	}
	if b.axe != "" {
		b.checkAccessibility(name)
	}
	if b.artifacts == "" {
		b.artifacts = artifactsDir(b.t)
	}
	base := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s", n, fileName(name)))
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	// From the top, so that the sticky list of sections sits where a person first sees it.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		b.t.Fatal(err)
	}
	shots := []struct {
		suffix string
		width  int64
		height int64
		opts   []chromedp.EmulateViewportOption
	}{
		{"desktop", desktopWidth, desktopHeight, nil},
		{"mobile", mobileWidth, mobileHeight, []chromedp.EmulateViewportOption{chromedp.EmulateMobile, chromedp.EmulatePortrait}},
	}
	for _, s := range shots {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(s.width, s.height, s.opts...)); err != nil {
			b.t.Fatalf("screenshot %s at %d px: %v", name, s.width, err)
		}
		// Nothing may be wider than the screen: a phone would have to scroll sideways.
		if over, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const w = document.documentElement.clientWidth;
			if (document.documentElement.scrollWidth <= w) return '';
			return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 0.5)
				.map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')).slice(0, 5).join(', ') || 'the page';
		})()`)); err != nil {
			b.t.Fatalf("width of %s at %d px: %v", name, s.width, err)
		} else if over != "" {
			b.t.Errorf("%s is wider than %d px: %s stick out", name, s.width, over)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			b.t.Fatalf("screenshot %s at %d px: %v", name, s.width, err)
		}
		if err := os.WriteFile(base+"-"+s.suffix+".png", png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(desktopWidth, desktopHeight)); err != nil {
		b.t.Fatal(err)
	}
}

// checkAccessibility runs axe-core in the page and fails the test on every serious or
// critical violation, naming the rule and the elements.
func (b *browser) checkAccessibility(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === 'object'`))
	if err != nil {
		b.t.Fatalf("accessibility check of %s: %v", name, err)
	}
	if !loaded {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](b.axe)); err != nil {
			b.t.Fatalf("inject axe-core into %s: %v", name, err)
		}
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("accessibility check of %s: %v", name, err)
	}
	var violations []axeViolation
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		b.t.Fatalf("accessibility check of %s: %v", name, err)
	}
	for _, v := range violations {
		if v.Impact != "serious" && v.Impact != "critical" {
			continue
		}
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v %s", n.Target, n.HTML))
		}
		b.t.Errorf("accessibility of %s: %s violation %q (%s) at:\n  %s", name, v.Impact, v.ID, v.Help, strings.Join(where, "\n  "))
	}
}

// looked records that the page at loc (its path, without the query) was looked at.
func (b *browser) looked(loc string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lookedAt[pagePath(loc)] = true
}

func pagePath(loc string) string {
	loc = strings.TrimPrefix(loc, "http://")
	if i := strings.IndexByte(loc, '/'); i >= 0 {
		loc = loc[i:]
	} else {
		loc = "/"
	}
	if i := strings.IndexAny(loc, "?#"); i >= 0 {
		loc = loc[:i]
	}
	return loc
}

// everyPageLooked fails the test if it opened a page it never looked at.
func (b *browser) everyPageLooked() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for p := range b.opened {
		if !b.lookedAt[p] {
			b.t.Errorf("the test opened %s but never looked at it (browser.look)", p)
		}
	}
}

// focused describes the element that has the focus: its tag, and its id or its text.
func (b *browser) focused() string {
	b.t.Helper()
	return b.eval(`(() => { const e = document.activeElement; if (!e) return '';
		return e.tagName.toLowerCase() + (e.id ? '#' + e.id : ':' + e.textContent.trim()); })()`)
}

// outline is the computed outline style and colour of the focused element.
func (b *browser) outline() string {
	b.t.Helper()
	return b.eval(`(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle + ' ' + s.outlineColor; })()`)
}

// TestBrowserKeyboardFocusOrderAndRing: from the keyboard alone, Tab walks the sign-in page in
// reading order (skip link, the bar, the form, the way to register); a control focused from
// the keyboard shows the focus ring; the heading that a step moves the focus to shows none, so
// that it does not look like a field in error; and the sign-in completes without a pointer.
func TestBrowserKeyboardFocusOrderAndRing(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	n := startNode(t)
	const email = "keys@example.com"
	acct := n.account(t, email)
	p := newPhone(t, "keyboard test phone")
	link(t, n, acct, p)
	p.connect(t, n)

	b := newBrowser(t, n.url)
	b.open("/signin")
	if got := b.navigation(); got != "Sign in|Create an account" {
		t.Fatalf("signed out, the navigation shows %q", got)
	}
	b.look("sign-in")
	want := []string{"a:Skip to the content", "a:Assent", "a:Sign in", "a:Create an account",
		"input#email", "input#password", "button#signin-submit", "a:Create one"}
	var got []string
	buttonRing := ""
	for range want {
		b.do("press Tab", chromedp.KeyEvent("\t"))
		got = append(got, b.focused())
		if got[len(got)-1] == "button#signin-submit" {
			buttonRing = b.outline()
		}
	}
	if strings.Join(got, " > ") != strings.Join(want, " > ") {
		t.Fatalf("Tab goes\n  %s\nwant\n  %s", strings.Join(got, " > "), strings.Join(want, " > "))
	}
	// A control focused from the keyboard shows the ring.
	if buttonRing != "solid rgb(11, 87, 208)" {
		t.Fatalf("the focused button's outline is %q", buttonRing)
	}

	b.typeInto("email", email)
	b.typeInto("password", "correct horse battery staple")
	b.enter("password")
	b.visible("step-approve")
	if got := b.focused(); got != "h2#approve-heading" {
		t.Fatalf("after the password the focus is on %q, want the number's heading", got)
	}
	if got := b.outline(); !strings.HasPrefix(got, "none") {
		t.Fatalf("the focused heading has the outline %q: it looks like a field in error", got)
	}
	shown := b.text("number")
	r := recv(t, p.requests, "the sign-in request on the device")
	var num int
	if _, err := fmt.Sscan(shown, &num); err != nil {
		t.Fatalf("the page shows the number %q", shown)
	}
	if err := p.sock.Answer(ctxT(t), r, domain.AnswerApprove, num); err != nil {
		t.Fatal(err)
	}
	b.visible("home-account")
	b.look("home, 2FA on")
	b.noPageErrors()
}

// media emulates a CSS media type ("print", or "" for the screen again).
func (b *browser) media(m string) {
	b.t.Helper()
	b.do("emulate media "+m, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m})
		return err
	}))
}
