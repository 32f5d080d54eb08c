package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/auditors"
	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/keyfile"
	"github.com/assent-dev/assent/transport/httpapi"
	"github.com/assent-dev/assent/websession"
)

// newSecretKey returns a random key in the --secret-keys form.
func newSecretKey(t *testing.T, id string) string {
	t.Helper()
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return id + ":" + base64.RawURLEncoding.EncodeToString(k[:])
}

// heldSession is a session cookie and its CSRF token, as a browser keeps them.
type heldSession struct{ cookie, csrf string }

// sessionOf returns the session a client holds.
func sessionOf(t *testing.T, c *client.Client) heldSession {
	t.Helper()
	s, ok := heldBy(c)
	if !ok {
		t.Fatal("the client holds no session cookie")
	}
	return s
}

func heldBy(c *client.Client) (heldSession, bool) {
	u, _ := url.Parse(c.BaseURL)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == websession.SessionCookie {
			return heldSession{cookie: ck.Value, csrf: c.CSRFToken}, true
		}
	}
	return heldSession{}, false
}

// sessionRequest sends a request with the session and returns the status and the problem's
// code, if any.
func sessionRequest(ctx context.Context, method, base, path string, s heldSession) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.AddCookie(&http.Cookie{Name: websession.SessionCookie, Value: s.cookie})
	req.Header.Set("X-CSRF-Token", s.csrf)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var p struct {
		Code string `json:"code"`
	}
	body, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(body, &p)
	return resp.StatusCode, p.Code, nil
}

// TestKeyRotationUnderLoad rotates the secret keys as the README says, on a real server under
// concurrent sign-ins: restart with a new primary and the old key second, then restart without
// the old key. While the old key is listed, everything it made keeps working: sessions and their
// CSRF tokens, a login token, the sealed TOTP secret, backup codes and the checkpoints it signed.
// Once it is retired, its sessions are refused with 401 and its checkpoints are reported as
// signed by a key no longer trusted.
func TestKeyRotationUnderLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	auditor, err := auditors.Add(filepath.Join(dir, auditors.File), "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	oldKey, newKey := newSecretKey(t, "old"), newSecretKey(t, "new")
	generous := httpapi.DefaultRateLimits()
	generous.SignInPerIP = httpapi.Limit{PerMinute: 100000, Burst: 100000}
	generous.SignInPerAccount = generous.SignInPerIP
	var srv *server
	boot := func(keys, listen string) {
		t.Helper()
		cfg := config.Defaults()
		cfg.DataDir, cfg.Listen, cfg.SecretKeys = dir, listen, keys
		s, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{limits: &generous})
		if err != nil {
			t.Fatalf("start with keys %q: %v", strings.Split(keys, ":")[0], err)
		}
		srv = s
	}
	stop := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if srv != nil {
			if err := srv.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
			srv = nil
		}
	}
	t.Cleanup(stop)
	boot(oldKey, "127.0.0.1:0")
	addr := srv.Addr()
	base := "http://" + addr
	n := &node{t: t, srv: srv, url: base, rec: &recorder{}}
	ctx := ctxT(t)
	const password = "correct horse battery staple"

	// Under the old key: an account with a phone (a sealed TOTP secret, backup codes), a pending
	// sign-in (a login token), and the accounts that sign in under load, each with a session.
	holder := n.account(t, "holder@example.com")
	holderSession := sessionOf(t, holder)
	linked := link(t, n, holder, newPhone(t, "holder's phone"))
	pendingBrowser, pending := signIn(t, n, "holder@example.com")
	const workers = 4
	first := make([]heldSession, workers)
	for i := range first {
		first[i] = sessionOf(t, n.account(t, fmt.Sprintf("load%d@example.com", i)))
	}
	for what, v := range map[string]string{"session cookie": first[0].cookie, "CSRF token": first[0].csrf, "login token": pending.LoginToken} {
		if !strings.HasPrefix(v, "old:") {
			t.Fatalf("the %s %q does not name the key that made it", what, v)
		}
	}
	if _, err := srv.audit.cp.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	oldCheckpointKey := checkpoint.KeyID(srv.audit.cp.PublicKey())

	// Load: each worker signs in again and again and checks the session it got under the old key.
	var (
		mu         sync.Mutex
		failures   []string
		newIssued  = make([]atomic.Int32, workers)
		latest     = make([]heldSession, workers)
		signIns    atomic.Int32
		unanswered atomic.Int32 // requests that met no server: the restart's gap
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := fmt.Sprintf("load%d@example.com", i)
			for loadCtx.Err() == nil {
				c := client.New(base)
				res, err := c.SignIn(loadCtx, email, password)
				var refusal *client.Error
				switch {
				case loadCtx.Err() != nil:
					return
				case errors.As(err, &refusal) && refusal.Code == "busy":
					continue // the password hasher is saturated, as designed
				case errors.As(err, &refusal):
					fail("sign-in of %s: %v", email, err)
					return
				case err != nil:
					unanswered.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				case res.Status != "signed_in":
					fail("sign-in of %s: %+v", email, res)
					return
				}
				signIns.Add(1)
				s, ok := heldBy(c)
				if !ok {
					fail("sign-in of %s set no session cookie", email)
					return
				}
				if strings.HasPrefix(s.cookie, "new:") {
					newIssued[i].Add(1)
					mu.Lock()
					latest[i] = s
					mu.Unlock()
				}
				for _, held := range []heldSession{first[i], s} {
					status, code, err := sessionRequest(loadCtx, http.MethodGet, base, "/v1/session", held)
					if err != nil {
						unanswered.Add(1)
						continue
					}
					if status != http.StatusOK {
						fail("GET /v1/session with the session of %s made by key %q: %d %s", email, strings.Split(held.cookie, ":")[0], status, code)
					}
				}
			}
		}()
	}
	waitLoad := func(what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !done() {
			if time.Now().After(deadline) {
				stopLoad()
				wg.Wait()
				t.Fatalf("the load never reached %s; failures: %v", what, failures)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLoad("a few sign-ins under the old key", func() bool { return signIns.Load() >= workers })

	// Rotate: restart on the same address with a new primary, the old key second.
	stop()
	boot(newKey+","+oldKey, addr)
	n.srv = srv
	waitLoad("sign-ins under the new key by every worker", func() bool {
		for i := range newIssued {
			if newIssued[i].Load() < 2 {
				return false
			}
		}
		return true
	})
	stopLoad()
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("under load across the rotation:\n%s", strings.Join(failures, "\n"))
	}
	t.Logf("sign-ins under load: %d; requests that met the restart's gap: %d", signIns.Load(), unanswered.Load())

	// Everything the old key made still works: a CSRF-protected write with the old session and
	// token, the old login token with a TOTP code from the secret the old key sealed, a backup
	// code hashed under the old key.
	if status, code, err := sessionRequest(ctx, http.MethodPost, base, "/v1/security/enrollments", holderSession); err != nil || status != http.StatusCreated {
		t.Fatalf("a write with the old session and CSRF token after the rotation: %d %s %v", status, code, err)
	}
	totp, err := client.TOTPCode(linked.TOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := pendingBrowser.LoginWithCode(ctx, pending.Challenge.ID, pending.LoginToken, totp); err != nil {
		t.Fatalf("the old login token with a TOTP code from the secret the old key sealed: %v", err)
	}
	if s := sessionOf(t, pendingBrowser); !strings.HasPrefix(s.cookie, "new:") {
		t.Fatalf("a session made after the rotation names key %q, want the new primary", strings.Split(s.cookie, ":")[0])
	}
	b2, si2 := signIn(t, n, "holder@example.com")
	if err := b2.LoginWithCode(ctx, si2.Challenge.ID, si2.LoginToken, linked.BackupCodes[0]); err != nil {
		t.Fatalf("a backup code hashed under the old key: %v", err)
	}

	// The checkpoints: the old key's still verify, new ones are signed by the new key.
	if _, err := srv.audit.cp.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	var key struct {
		KeyID        string `json:"key_id"`
		PreviousKeys []struct {
			KeyID string `json:"key_id"`
		} `json:"previous_keys"`
	}
	if st, body := auditGet(t, base, "", "/v1/audit/key"); st != http.StatusOK || json.Unmarshal(body, &key) != nil {
		t.Fatalf("GET /v1/audit/key: %d %s", st, body)
	}
	if key.KeyID == oldCheckpointKey || len(key.PreviousKeys) != 1 || key.PreviousKeys[0].KeyID != oldCheckpointKey {
		t.Fatalf("after the rotation the checkpoint key is %q and the previous keys %+v; the old key was %q", key.KeyID, key.PreviousKeys, oldCheckpointKey)
	}
	var rep audit.Report
	st, body := auditGet(t, base, auditor, "/v1/audit/verify")
	if st != http.StatusOK || json.Unmarshal(body, &rep) != nil {
		t.Fatalf("GET /v1/audit/verify: %d %s", st, body)
	}
	if !rep.OK || rep.Checkpoints < 2 || rep.Checkpoint == nil || rep.Checkpoint.KeyID != key.KeyID || len(rep.KeysTrusted) != 2 {
		t.Fatalf("verify after the rotation: %s", body)
	}
	newSession := latest[0]

	// The CLI over the data directory trusts every key of the keyring too.
	stop()
	keysFile := filepath.Join(dir, keyfile.Name)
	writeKeys := func(keys ...string) {
		t.Helper()
		raw, _ := json.Marshal(map[string][]string{"keys": keys})
		if err := os.WriteFile(keysFile, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cliVerify := func() (string, error) {
		cmd := rootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs([]string{"audit", "verify", "--data-dir", dir})
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	writeKeys(newKey, oldKey)
	if out, err := cliVerify(); err != nil || !strings.HasPrefix(out, "OK") {
		t.Fatalf("assent audit verify with the rotated keyring: %v\n%s", err, out)
	}
	writeKeys(newKey)
	if out, err := cliVerify(); err == nil || !strings.Contains(out, "not trusted") {
		t.Fatalf("assent audit verify without the old key: %v\n%s", err, out)
	}
	if err := os.Remove(keysFile); err != nil {
		t.Fatal(err)
	}

	// Retire the old key: what it signed is refused cleanly, what the new key signed still works.
	boot(newKey, addr)
	n.srv = srv
	for i, s := range append(first, holderSession) {
		if status, code, err := sessionRequest(ctx, http.MethodGet, base, "/v1/session", s); err != nil || status != http.StatusUnauthorized || code != "unauthenticated" {
			t.Fatalf("session %d of the retired key: %d %q %v, want 401 unauthenticated", i, status, code, err)
		}
	}
	if status, code, err := sessionRequest(ctx, http.MethodGet, base, "/v1/session", newSession); err != nil || status != http.StatusOK {
		t.Fatalf("a session of the new key after the old one was retired: %d %s %v", status, code, err)
	}
	st, body = auditGet(t, base, auditor, "/v1/audit/verify")
	rep = audit.Report{}
	if st != http.StatusOK || json.Unmarshal(body, &rep) != nil {
		t.Fatalf("GET /v1/audit/verify after the retirement: %d %s", st, body)
	}
	retiredNamed := false
	for _, f := range rep.Findings {
		if f.Kind == audit.FindCheckpointBad && strings.Contains(f.Message, oldCheckpointKey) && strings.Contains(f.Message, "not trusted") {
			retiredNamed = true
		}
	}
	if rep.OK || !retiredNamed {
		t.Fatalf("verify after the retirement does not name the retired key's checkpoints: %s", body)
	}
	// The TOTP secret the retired key sealed cannot be opened: a clear 503, not a 500.
	b3, si3 := signIn(t, n, "holder@example.com")
	totp, err = client.TOTPCode(linked.TOTPSecret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	err = b3.LoginWithCode(ctx, si3.Challenge.ID, si3.LoginToken, totp)
	var refusal *client.Error
	if !errors.As(err, &refusal) || refusal.Status != http.StatusServiceUnavailable || refusal.Code != "secret_key_missing" {
		t.Fatalf("a TOTP code whose secret the retired key sealed: %v, want 503 secret_key_missing", err)
	}
}
