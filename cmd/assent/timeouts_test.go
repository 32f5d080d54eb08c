package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/auditors"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
)

// TestIdleConnectionsCloseAndLongResponsesOutliveTheWriteTimeout runs a node whose timeouts
// are short: an idle keep-alive connection is closed by the server, while a long-poll, the
// audit tail (SSE) and the device socket (WebSocket) all run longer than the write timeout
// and still deliver.
func TestIdleConnectionsCloseAndLongResponsesOutliveTheWriteTimeout(t *testing.T) {
	t.Parallel()
	// Long enough for a password check (argon2id) under the race detector on a loaded machine:
	// a sign-in whose check outlasts it loses its answer (the client reads EOF).
	const write = 8 * time.Second
	dir := t.TempDir()
	token, err := auditors.Add(filepath.Join(dir, auditors.File), "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The password checks run in the server's process (not the worker at the lowest priority,
	// which a busy machine starves), so that the write timeout bounds them as it bounds the
	// other handlers.
	n := startNodeWith(t, func(c *config.Config) { c.DataDir = dir; c.PasswordHashing = "inline" }, startOptions{timeouts: &httpTimeouts{
		ReadHeader: 5 * time.Second, Read: 5 * time.Second, Write: write, Idle: 300 * time.Millisecond,
	}})
	// The test's clients open a connection per request, so that no request is sent on a
	// kept-alive connection the server is closing for its short idle timeout.
	n.rec.base = &http.Transport{DisableKeepAlives: true}
	plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	// An idle keep-alive connection is closed.
	conn, err := net.Dial("tcp", n.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: assent\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %d, close %v: want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("an idle keep-alive connection: read %v, want the server to close it (EOF)", err)
	}

	ctx := ctxT(t)
	b := n.account(t, "slow@example.com")
	p := newPhone(t, "phone")
	link(t, n, b, p)
	p.connect(t, n)

	// The audit tail is opened now and has nothing to send until the sign-in below.
	treq, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/v1/audit/tail?after=0", nil)
	treq.Header.Set("Authorization", "Bearer "+token)
	tresp, err := plain.Do(treq)
	if err != nil || tresp.StatusCode != http.StatusOK {
		t.Fatalf("tail: %v %v", tresp, err)
	}
	defer tresp.Body.Close()
	tail := readSSE(t, tresp)
	for ev := recv(t, tail, "tail history"); ev.event != "caught-up"; ev = recv(t, tail, "tail caught-up") {
	}

	_, si := signIn(t, n, "slow@example.com")
	r := recv(t, p.requests, "challenge")

	// A long-poll that holds the request longer than the write timeout answers "pending".
	preq, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/v1/logins/"+si.Challenge.ID.String()+"?wait="+(write+2*time.Second).String(), nil)
	preq.Header.Set("X-Login-Token", si.LoginToken)
	presp, err := plain.Do(preq)
	if err != nil {
		t.Fatalf("a long-poll longer than the write timeout: %v", err)
	}
	var st struct{ Status string }
	err = json.NewDecoder(presp.Body).Decode(&st)
	presp.Body.Close()
	if err != nil || presp.StatusCode != http.StatusOK || st.Status != "pending" {
		t.Fatalf("long-poll: %d %+v %v", presp.StatusCode, st, err)
	}

	// The device socket, open for longer than the write timeout, still carries the answer;
	// the tail, silent as long, still sends what the log gets.
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	for {
		ev, ok := <-tail
		if !ok {
			t.Fatal("the audit tail ended before it sent the approval")
		}
		if strings.Contains(ev.data, "challenge.approved") {
			break
		}
	}
}
