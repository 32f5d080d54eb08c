package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assent-dev/assent/client"
)

// The terminal device's tests run `assent device …` as a person would, typing on its
// standard input and reading its standard output, against a real server on loopback.

// devTerm is a running `assent device` command.
type devTerm struct {
	t      *testing.T
	in     *io.PipeWriter
	out    *syncBuffer
	cursor int
	done   chan error
	cancel context.CancelFunc
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDevice runs `assent device args...` with its input and output in the test's hands.
func startDevice(t *testing.T, args ...string) *devTerm {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	tm := &devTerm{t: t, in: pw, out: &syncBuffer{}, done: make(chan error, 1), cancel: cancel}
	cmd := rootCommand()
	cmd.SetArgs(append([]string{"device"}, args...))
	cmd.SetIn(pr)
	cmd.SetOut(tm.out)
	cmd.SetErr(tm.out)
	go func() { tm.done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		pw.Close()
		select {
		case <-tm.done:
		case <-time.After(10 * time.Second):
			t.Error("the device command did not stop")
		}
		if t.Failed() {
			t.Logf("device output:\n%s", tm.out.String())
		}
	})
	return tm
}

// runDevice runs a device command that needs no input to its end.
func runDevice(t *testing.T, args ...string) (string, error) {
	t.Helper()
	tm := startDevice(t, args...)
	tm.in.Close()
	select {
	case err := <-tm.done:
		tm.done <- err // for the cleanup
		return tm.out.String(), err
	case <-time.After(30 * time.Second):
		t.Fatalf("assent device %s did not end; output:\n%s", strings.Join(args, " "), tm.out.String())
		return "", nil
	}
}

// expect waits until the output, after what was already expected, contains want, and
// returns the output up to and including it.
func (tm *devTerm) expect(want string) string {
	tm.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		all := tm.out.String()
		if i := strings.Index(all[tm.cursor:], want); i >= 0 {
			got := all[tm.cursor : tm.cursor+i+len(want)]
			tm.cursor += i + len(want)
			return got
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the device never said %q; it said:\n%s", want, all[tm.cursor:])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send types a line.
func (tm *devTerm) send(line string) {
	tm.t.Helper()
	if _, err := io.WriteString(tm.in, line+"\n"); err != nil {
		tm.t.Fatalf("type %q: %v", line, err)
	}
}

// wait waits for the command to end by itself.
func (tm *devTerm) wait() error {
	tm.t.Helper()
	select {
	case err := <-tm.done:
		tm.done <- err
		return err
	case <-time.After(20 * time.Second):
		tm.t.Fatalf("the device command did not end; it said:\n%s", tm.out.String())
		return nil
	}
}

func newEnrollment(t *testing.T, b *client.Client) enrollment {
	t.Helper()
	var e enrollment
	if err := b.Post(ctxT(t), "/v1/security/enrollments", nil, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDeviceLinkRunApproveDenyFraudCodesAndUnlink(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	state := filepath.Join(t.TempDir(), "config", "device.json")
	alice := n.account(t, "alice@example.com")
	bob := n.account(t, "bob@example.com")

	// Link by a QR image, as scanned from the security page: the first link turns 2FA on
	// and shows the backup codes once.
	e := newEnrollment(t, alice)
	qr := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(qr, e.QR.PNG, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runDevice(t, "--state", state, "link", "--qr", qr, "--name", "test terminal")
	if err != nil {
		t.Fatalf("link --qr: %v\n%s", err, out)
	}
	for _, want := range []string{"Linked alice@example.com on " + n.url, "Two-factor authentication is now on for alice@example.com", "Backup codes, shown only now"} {
		if !strings.Contains(out, want) {
			t.Fatalf("link said:\n%s\nwant %q", out, want)
		}
	}
	if codes := regexp.MustCompile(`(?m)^  [0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$`).FindAllString(out, -1); len(codes) != 10 {
		t.Fatalf("link showed %d backup codes:\n%s", len(codes), out)
	}
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	// A second account by the pasted link: one device, two accounts.
	out, err = runDevice(t, "--state", state, "link", newEnrollment(t, bob).Link)
	if err != nil || !strings.Contains(out, "Linked bob@example.com") || !strings.Contains(out, "Accounts on this device: 2.") {
		t.Fatalf("link: %v\n%s", err, out)
	}

	// Offline codes of both accounts, from the state file alone.
	dev, err := client.Load(state)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := dev.Codes(time.Now())
	out, err = runDevice(t, "--state", state, "codes")
	after, _ := dev.Codes(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range before {
		shown := func(code string) string { return code[:3] + " " + code[3:] }
		if !strings.Contains(out, c.Email) || !(strings.Contains(out, shown(c.Code)) || strings.Contains(out, shown(after[i].Code))) {
			t.Fatalf("codes said:\n%s\nwant %s with %s", out, c.Email, c.Code)
		}
	}
	if !regexp.MustCompile(`\d+s\n`).MatchString(out) {
		t.Fatalf("codes shows no seconds left:\n%s", out)
	}

	// Run: requests of both accounts over one socket, with their context.
	run := startDevice(t, "--state", state, "run")
	run.expect("Connected. Accounts on this device: alice@example.com, bob@example.com.")

	browser, si := signIn(t, n, "alice@example.com")
	run.expect("Sign-in request for alice@example.com")
	run.expect("from:    127.0.0.1")
	run.expect("Enter the number shown on the login page")
	right := number(t, si.Challenge)
	run.send(fmt.Sprint(right%90 + 10 + boolInt(right%90+10 == right)))
	run.expect("yes / no / this wasn't me [y/n/f]: ")
	run.send("y")
	run.expect("That is not the number shown on the login page.")
	run.send(fmt.Sprint(right))
	run.expect("[y/n/f]: ")
	run.send("yes")
	run.expect("Approved.")
	if st, err := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil || st.Status != "approved" {
		t.Fatalf("the login page got %+v, %v", st, err)
	}

	browser, si = signIn(t, n, "bob@example.com")
	run.expect("Sign-in request for bob@example.com")
	run.expect("Enter the number")
	run.send("")
	run.expect("no / this wasn't me [n/f]: ")
	run.send("n")
	run.expect("Denied.")
	if st, _ := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); st.Status != "denied" {
		t.Fatalf("after no: %+v", st)
	}

	browser, si = signIn(t, n, "alice@example.com")
	run.expect("Sign-in request for alice@example.com")
	run.expect("Enter the number")
	run.send("")
	run.send("f")
	run.expect("Reported")
	if st, _ := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); st.Status != "fraud_reported" {
		t.Fatalf("after this wasn't me: %+v", st)
	}

	// A request answered elsewhere (here: with a code) is withdrawn from the prompt.
	browser, si = signIn(t, n, "bob@example.com")
	run.expect("Sign-in request for bob@example.com")
	codes, _ := dev.Codes(time.Now())
	if err := browser.LoginWithCode(ctx, si.Challenge.ID, si.LoginToken, codes[1].Code); err != nil {
		t.Fatal(err)
	}
	run.expect("This request was completed with a code. Nothing to answer.")

	// Unlinking on the server is shown and the link dropped from the state file; unlinking
	// the last account stops the device. The device is each account's last second factor, so
	// it goes with 2FA, which takes the password and a second factor: here the push approved
	// on this device for bob, and a code for alice (whose pushes the fraud report muted).
	browser, si = signIn(t, n, "bob@example.com")
	run.expect("Sign-in request for bob@example.com")
	run.expect("Enter the number")
	run.send(fmt.Sprint(number(t, si.Challenge)))
	run.expect("[y/n/f]: ")
	run.send("y")
	run.expect("Approved.")
	if st, err := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil || st.Status != "approved" {
		t.Fatalf("the login page got %+v, %v", st, err)
	}
	if err := bob.Post(ctx, "/v1/security/mfa/disable", map[string]any{"challenge_id": si.Challenge.ID}, nil); err != nil {
		t.Fatal(err)
	}
	run.expect("bob@example.com was unlinked from this device on the server")
	if d, err := client.Load(state); err != nil || len(d.Links) != 1 || d.Links[0].Email != "alice@example.com" {
		t.Fatalf("state after the unlink: %+v, %v", d, err)
	}
	turnOffWithCode(t, n, alice, "alice@example.com", codeFor(t, dev, "alice@example.com"))
	run.expect("alice@example.com was unlinked")
	run.expect("No account is linked to this device any more. Stopping.")
	if err := run.wait(); err != nil {
		t.Fatalf("run ended with %v", err)
	}
	out, err = runDevice(t, "--state", state, "codes")
	if err != nil || !strings.Contains(out, "No account is linked") {
		t.Fatalf("codes after the unlinks: %v\n%s", err, out)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestDevicePhoneLinkPassesTheSecondFactorAndAsksToAuthorize(t *testing.T) {
	t.Parallel()
	n := startNodeWithLimits(t, roomyLimits()) // seven password checks of one account in a row
	n.account(t, "phone@example.com")
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.json"), filepath.Join(dir, "second.json")

	// 2FA off: the password, then Authorize.
	pl := startDevice(t, "--state", first, "phone-link", "--server", n.url, "--email", "phone@example.com", "--name", "first")
	pl.expect("Password for phone@example.com: ")
	pl.send("correct horse battery staple")
	pl.expect("Authorize linking this device (first) to phone@example.com? [y/N]: ")
	pl.send("y")
	pl.expect("Linked phone@example.com")
	pl.expect("Two-factor authentication is now on")
	if err := pl.wait(); err != nil {
		t.Fatal(err)
	}

	// A wrong password is refused in the server's words.
	bad := startDevice(t, "--state", second, "phone-link", "--server", n.url, "--email", "phone@example.com")
	bad.send("wrong password")
	if err := bad.wait(); err == nil || !strings.Contains(err.Error(), "The email address or the password is wrong.") {
		t.Fatalf("wrong password: %v", err)
	}

	// 2FA on: the second device shows the number to enter on the first, which approves it.
	run := startDevice(t, "--state", first, "run")
	run.expect("Connected.")
	pl = startDevice(t, "--state", second, "phone-link", "--server", n.url, "--email", "phone@example.com", "--name", "second")
	pl.send("correct horse battery staple")
	said := pl.expect(" and approve.")
	m := regexp.MustCompile(`enter (\d\d) and approve`).FindStringSubmatch(said)
	if m == nil {
		t.Fatalf("phone-link said %q", said)
	}
	// The first device is told that a new device is being linked, not that someone signs in.
	run.expect("A new device, second, is being linked to phone@example.com")
	run.expect("Enter the number")
	run.send(m[1])
	run.expect("Is this you linking second?")
	run.send("y")
	run.expect("Approved.")
	pl.expect("Approved.")
	pl.expect("[y/N]: ")
	pl.send("n")
	pl.expect("Not linked.")
	if err := pl.wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(second); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("declining to authorize wrote a state file: %v", err)
	}

	// Again, passing the second factor with the first device's offline code instead.
	pl = startDevice(t, "--state", second, "phone-link", "--server", n.url, "--email", "phone@example.com", "--name", "second")
	pl.send("correct horse battery staple")
	pl.expect("Code (or wait for the approval): ")
	run.expect("A new device, second, is being linked to phone@example.com")
	d, err := client.Load(first)
	if err != nil {
		t.Fatal(err)
	}
	codes, _ := d.Codes(time.Now())
	pl.send(codes[0].Code)
	pl.expect("Code accepted.")
	run.expect("This request was completed with a code.")
	pl.expect("[y/N]: ")
	pl.send("y")
	pl.expect("Linked phone@example.com")
	if err := pl.wait(); err != nil {
		t.Fatal(err)
	}
	if d, err := client.Load(second); err != nil || len(d.Links) != 1 {
		t.Fatalf("second device: %+v, %v", d, err)
	}
}

func TestDeviceStateFileReadableByOthersIsRefused(t *testing.T) {
	t.Parallel()
	d, err := client.NewDevice("x", "linux")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "device.json")
	if err := d.Save(state); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runDevice(t, "--state", state, "codes"); !errors.Is(err, client.ErrStateFileOpen) {
		t.Fatalf("codes with a world-readable state file: %v", err)
	}
	if _, err := runDevice(t, "--state", filepath.Join(t.TempDir(), "none.json"), "run"); err == nil || !strings.Contains(err.Error(), "link an account first") {
		t.Fatalf("run without a state file: %v", err)
	}
}
