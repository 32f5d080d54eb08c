package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/auditors"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// auditGet reads path with the token and returns status and body.
func auditGet(t *testing.T, base, token, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestAuditOverHTTPAndCLI runs journeys 2, 5 and 4 on a real node, then audits them as an
// auditor would: every read route, the read record, the refusal of every write route, no
// secret in any output, and the CLI over the API and over the data directory.
func TestAuditOverHTTPAndCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token, err := auditors.Add(filepath.Join(dir, auditors.File), "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			if err := srv.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	n := &node{t: t, srv: srv, url: "http://" + srv.Addr(), rec: &recorder{}}
	ctx := ctxT(t)

	// History: an account links a phone (TOTP secret, backup codes), approves a login, uses a
	// backup code.
	const password = "correct horse battery staple"
	b := n.account(t, "auditee@example.com")
	p := newPhone(t, "auditee's phone")
	res := link(t, n, b, p)
	p.connect(t, n)
	browser, si := signIn(t, n, "auditee@example.com")
	r := recv(t, p.requests, "challenge")
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	if err := browser.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil {
		t.Fatal(err)
	}
	b2, si2 := signIn(t, n, "auditee@example.com")
	recv(t, p.requests, "second challenge")
	if err := b2.LoginWithCode(ctx, si2.Challenge.ID, si2.LoginToken, res.BackupCodes[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.audit.cp.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	secrets := append([]string{password, res.TOTPSecret, "$argon2id"}, res.BackupCodes...)
	var outputs [][]byte
	read := func(path string) []byte {
		t.Helper()
		status, body := auditGet(t, n.url, token, path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		outputs = append(outputs, body)
		return body
	}

	// Refusals first: no credential, and a token that is not an auditor's.
	if st, _ := auditGet(t, n.url, "", "/v1/audit/verify"); st != http.StatusUnauthorized {
		t.Fatalf("verify without a credential: %d", st)
	}
	if st, _ := auditGet(t, n.url, auditors.TokenPrefix+"forged", "/v1/audit/verify"); st != http.StatusUnauthorized {
		t.Fatalf("verify with a forged token: %d", st)
	}

	// Every write route refuses the auditor, whatever the body, and the log does not move.
	head := srv.store.(interface{ Head() eventstore.Position }).Head()
	writes := 0
	for _, rt := range srv.echo.Routes() {
		switch rt.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, "CONNECT", "TRACE", "PROPFIND", "echo_route_not_found":
			continue
		}
		path := strings.NewReplacer("{id}", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", ":id", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").Replace(rt.Path)
		path = strings.ReplaceAll(path, "*", "x")
		req, _ := http.NewRequest(rt.Method, n.url+path, strings.NewReader(`{"email":"x@example.com","password":"correct horse battery staple"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "auditor_read_only") {
			t.Errorf("%s %s with an auditor token: %d %s", rt.Method, rt.Path, resp.StatusCode, body)
		}
		writes++
	}
	t.Logf("%d write routes refused the auditor", writes)
	if writes < 10 {
		t.Fatalf("only %d write routes found", writes)
	}
	if now := srv.store.(interface{ Head() eventstore.Position }).Head(); now != head {
		t.Fatalf("the log moved from %d to %d under refused writes", head, now)
	}

	// Every read.
	var key struct {
		KeyID string `json:"key_id"`
	}
	if st, body := auditGet(t, n.url, "", "/v1/audit/key"); st != 200 || json.Unmarshal(body, &key) != nil || key.KeyID == "" {
		t.Fatalf("key: %d %s", st, body)
	}
	read("/v1/audit/checkpoint")
	logBody := read("/v1/audit/log?after=0")
	if lines := bytes.Count(logBody, []byte("\n")); lines < 15 {
		t.Fatalf("log has %d lines", lines)
	}
	read("/v1/audit/export?after=0")
	read("/v1/audit/streams/account-" + res.AccountID.String())
	tl := read("/v1/audit/accounts/" + res.AccountID.String() + "/timeline")
	for _, want := range []string{"approved by device", "backup code #1", "TOTP secret for this account set"} {
		if !strings.Contains(string(tl), want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	st := read("/v1/audit/accounts/" + res.AccountID.String() + "/state?position=3")
	if !strings.Contains(string(st), `"MFAEnabled":false`) {
		t.Errorf("state at position 3: %s", st)
	}
	var rep audit.Report
	if err := json.Unmarshal(read("/v1/audit/verify"), &rep); err != nil || !rep.OK || rep.Approvals != 1 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	// The live tail: history, caught-up, then an event appended now.
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(tctx, http.MethodGet, n.url+"/v1/audit/tail?after=0", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("tail: %v %v", resp, err)
	}
	sc := bufio.NewScanner(resp.Body)
	var tail bytes.Buffer
	caughtUp, live := false, false
	for sc.Scan() && !live {
		line := sc.Text()
		tail.WriteString(line + "\n")
		if line == "event: caught-up" {
			caughtUp = true
			n.account(t, "later@example.com") // a live event
		}
		if caughtUp && strings.Contains(line, "later@example.com") {
			live = true
		}
	}
	resp.Body.Close()
	if !live {
		t.Fatalf("tail never showed the live event:\n%s", tail.String())
	}
	outputs = append(outputs, tail.Bytes())

	// Each read was recorded, with the auditor's name.
	recs := read("/v1/audit/streams/" + audit.ReadsStream)
	for _, op := range []string{"checkpoint", "log", "export", "stream", "timeline", "state-at", "verify", "tail"} {
		if !strings.Contains(string(recs), fmt.Sprintf(`auditor \"alice\" read %s`, op)) {
			t.Errorf("no record of the %s read in %s", op, recs)
		}
	}

	// The CLI over the API.
	cli := func(args ...string) string {
		t.Helper()
		cmd := rootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("assent %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		outputs = append(outputs, out.Bytes())
		return out.String()
	}
	remote := []string{"--server", n.url, "--token", token}
	if out := cli(append([]string{"audit", "verify"}, remote...)...); !strings.HasPrefix(out, "OK") {
		t.Fatalf("remote verify: %s", out)
	}
	if out := cli(append([]string{"audit", "timeline", res.AccountID.String()}, remote...)...); !strings.Contains(out, "approved by device") {
		t.Fatalf("remote timeline: %s", out)
	}
	cli(append([]string{"audit", "replay", "account-" + res.AccountID.String()}, remote...)...)
	cli(append([]string{"audit", "state-at", res.AccountID.String(), "--position", "5"}, remote...)...)
	cli(append([]string{"audit", "export"}, remote...)...)

	// The CLI over the data directory, read-only, after the shutdown checkpoint.
	stop()
	local := []string{"--data-dir", dir}
	out := cli(append([]string{"audit", "verify"}, local...)...)
	if !strings.HasPrefix(out, "OK") || !strings.Contains(out, "from the anchor") && !strings.Contains(out, "from the log") {
		t.Fatalf("local verify: %s", out)
	}
	if !strings.Contains(out, "compared with checkpoint") {
		t.Fatalf("local verify compared with no checkpoint: %s", out)
	}
	cli(append([]string{"audit", "timeline", res.AccountID.String(), "--json"}, local...)...)
	cli(append([]string{"audit", "replay", "account-" + res.AccountID.String()}, local...)...)
	cli(append([]string{"audit", "state-at", res.AccountID.String(), "--at", time.Now().Format(time.RFC3339Nano)}, local...)...)
	cli(append([]string{"audit", "export"}, local...)...)

	for i, o := range outputs {
		for _, s := range secrets {
			if s != "" && strings.Contains(string(o), s) {
				t.Fatalf("audit output %d holds the secret %q:\n%s", i, s, o)
			}
		}
	}
}
