package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duosecurity/duo_api_golang/authapi"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/assent-dev/assent/app"
)

// liveOutput is a command's output that a test reads while the command runs.
type liveOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *liveOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *liveOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output holds want n times.
func (o *liveOutput) waitFor(t *testing.T, want string, n int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s := o.String(); strings.Count(s, want) >= n {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the command did not print %q %d times:\n%s", want, n, o.String())
	return ""
}

// TestDuoTOTPAppPasscode: the help desk gives a user of an integration an authenticator app
// (assent admin totp-app, with the server stopped): the command prints the otpauth URI and
// takes the app's first code from standard input, refusing a wrong one. Then, through Duo's
// official client, preauth lists the app as a token, and a code the app makes (pquerna/otp)
// is allowed once as a passcode and refused on reuse, as is the code that confirmed it.
func TestDuoTOTPAppPasscode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDuoNodeAt(t, dir, startOptions{})
	k, err := d.srv.App.CreateIntegration(context.Background(), "SSH")
	if err != nil {
		t.Fatal(err)
	}
	ikey := k.Key.String()
	d.stop()

	if _, err := runAdmin(t, "admin", "totp-app", "--integration", "DIAAAAAAAAAAAAAAAAAA", "--user", "ken", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no integration has the key") {
		t.Fatalf("an unknown integration: %v", err)
	}

	stdin, typed := io.Pipe()
	out := &liveOutput{}
	root := rootCommand()
	root.SetIn(stdin)
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs([]string{"admin", "totp-app", "--integration", ikey, "--user", "ken", "--data-dir", dir})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctxT(t)) }()

	printed := out.waitFor(t, "The app's current code: ", 1)
	m := regexp.MustCompile(`otpauth://\S+`).FindString(printed)
	key, err := otp.NewKeyFromURL(m)
	if err != nil || key.AccountName() != "ken" || !strings.Contains(printed, "█") {
		t.Fatalf("totp-app printed no QR code and otpauth URI for ken (%v):\n%s", err, printed)
	}
	// The previous step's code confirms the app (a device's clock may lag); the current one
	// is then free for the first sign-in.
	confirm, err := totp.GenerateCode(key.Secret(), time.Now().Add(-30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	wrong := "000000"
	if wrong == confirm {
		wrong = "111111"
	}
	if _, err := io.WriteString(typed, wrong+"\n"); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "The app's current code: ", 2)
	if !strings.Contains(out.String(), "That code is wrong") {
		t.Fatalf("a wrong code was not refused:\n%s", out.String())
	}
	if _, err := io.WriteString(typed, confirm+"\n"); err != nil {
		t.Fatal(err)
	}
	if err := recv2(t, done, 30*time.Second); err != nil {
		t.Fatalf("totp-app: %v\n%s", err, out.String())
	}
	typed.Close()
	printed = out.String()
	backup := regexp.MustCompile(`(?m)^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$`).FindAllString(printed, -1)
	if !strings.Contains(printed, "Confirmed") || len(backup) == 0 || strings.Count(printed, "That code is wrong") != 1 {
		t.Fatalf("totp-app printed:\n%s", printed)
	}

	d2 := startDuoNodeAt(t, dir, startOptions{})
	api := d2.api(ikey, k.Secret)
	pre, err := api.Preauth(authapi.PreauthUsername("ken"))
	okStat(t, "preauth", pre.StatResult, err)
	if pre.Response.Result != "auth" || len(pre.Response.Devices) != 1 || pre.Response.Devices[0].Type != "token" ||
		!slices.Equal(pre.Response.Devices[0].Capabilities, []string{"mobile_otp"}) {
		t.Fatalf("preauth of a user with an authenticator app = %+v", pre.Response)
	}
	code, err := totp.GenerateCode(key.Secret(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ code, want string }{{code, "allow"}, {code, "deny"}, {confirm, "deny"}} {
		pc, err := api.Auth("passcode", authapi.AuthUsername("ken"), authapi.AuthPasscode(c.code))
		okStat(t, "auth passcode", pc.StatResult, err)
		if pc.Response.Result != c.want {
			t.Fatalf("authenticator app code, use %d: %+v, want %s", i+1, pc.Response, c.want)
		}
	}
	// A push has no device to go to.
	push, err := api.Auth("push", authapi.AuthUsername("ken"))
	failStat(t, "push to a user with only an authenticator app", push.StatResult, err, 40002)
}

// TestDuoLegacyTOTPAppPasscode: on the legacy API, a user whose only second factor is an
// authenticator app is asked for a passcode (no push to choose) and the app's code, typed
// into duo_unix's prompt, is allowed once.
func TestDuoLegacyTOTPAppPasscode(t *testing.T) {
	t.Parallel()
	d := startDuoNodeAt(t, t.TempDir(), startOptions{})
	ctx := context.Background()
	k, err := d.srv.App.CreateIntegration(ctx, "SSH", app.IntegrationOptions{LegacyV1: true})
	if err != nil {
		t.Fatal(err)
	}
	added, err := d.srv.App.AddIntegrationTOTPApp(ctx, k.Key, "ken")
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(added.URI)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := totp.GenerateCode(key.Secret(), time.Now().Add(-30*time.Second))
	if _, err := d.srv.App.ConfirmTOTPApp(ctx, added.User.ID, added.AppID, first); err != nil {
		t.Fatal(err)
	}
	u := &duoUnix{t: t, d: d, ikey: k.Key.String(), skey: k.Secret}
	r := response(t, u.call("POST", "/rest/v1/preauth.bson", [][2]string{{"user", "ken"}, {"ipaddr", "203.0.113.5"}}))
	if r["result"] != "auth" || len(asM(r["factors"])) != 0 || !strings.Contains(fmt.Sprint(r["prompt"]), "Passcode") {
		t.Fatalf("preauth.bson of a user with only an authenticator app = %v", r)
	}
	code, _ := totp.GenerateCode(key.Secret(), time.Now())
	for i, want := range []string{"allow", "deny"} {
		r := response(t, u.call("POST", "/rest/v1/auth.bson", [][2]string{{"user", "ken"}, {"factor", "auto"}, {"auto", code}, {"ipaddr", "203.0.113.5"}}))
		if r["result"] != want {
			t.Fatalf("auth.bson with the app's code, use %d = %v, want %s", i+1, r, want)
		}
	}
}
