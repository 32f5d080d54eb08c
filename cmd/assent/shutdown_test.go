package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/transport/push/wire"
)

// TestShutdownEndsStreamsAndSocketsAtOnce: with a login page long-polling, a login page on
// SSE, a login page on a WebSocket, a security page on SSE and a device socket open, a
// shutdown gives each its ending at once (the long-poll answers pending, the SSE streams end,
// the sockets close with 1001 "server shutting down") and serve returns nil, well before the
// shutdown timeout.
func TestShutdownEndsStreamsAndSocketsAtOnce(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.LogFormat = "json"
	cfg.ShutdownTimeout = 10 * time.Second
	logr, logw := io.Pipe()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(logr)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
			}
		}
	}()
	sctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(sctx, cfg, logw); logw.Close() }()
	n := &node{t: t, url: recv(t, addr, "listening address"), rec: &recorder{}}
	ctx := ctxT(t)

	b := n.account(t, "shutdown@example.com")
	p := newPhone(t, "phone")
	link(t, n, b, p)
	_, si := signIn(t, n, "shutdown@example.com")
	base := n.url + "/v1/logins/" + si.Challenge.ID.String()
	wsBase := "ws" + strings.TrimPrefix(n.url, "http")

	// The device's socket, authenticated.
	device, _, err := websocket.Dial(ctx, wsBase+"/v1/devices/socket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer device.CloseNow()
	var m wire.Message
	if err := wsjson.Read(ctx, device, &m); err != nil || m.Type != wire.TypeHello {
		t.Fatalf("hello: %+v %v", m, err)
	}
	wsjson.Write(ctx, device, wire.Message{Type: wire.TypeAuth, DeviceID: p.dev.ID, Signature: p.dev.SignAuth(m.Nonce)})
	if err := wsjson.Read(ctx, device, &m); err != nil || m.Type != wire.TypeReady {
		t.Fatalf("ready: %+v %v", m, err)
	}
	// The login page's WebSocket, SSE stream and long-poll; the security page's SSE stream.
	tk, err := n.client().LoginStreamTicket(ctx, si.Challenge.ID, si.LoginToken)
	if err != nil {
		t.Fatal(err)
	}
	login, _, err := websocket.Dial(ctx, wsBase+"/v1/logins/"+si.Challenge.ID.String()+"/socket?ticket="+tk.Ticket, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer login.CloseNow()
	var st struct{ Status string }
	if err := wsjson.Read(ctx, login, &st); err != nil || st.Status != "pending" {
		t.Fatalf("login socket: %+v %v", st, err)
	}
	loginSSE := sseEnd(t, openSSE(t, base+"/events?ticket="+tk.Ticket, ""), `"pending"`)
	req, _ := newGet(ctx, n.url+"/v1/security/events")
	security, err := b.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer security.Body.Close()
	securitySSE := sseEnd(t, security, "watching")
	polled := make(chan string, 1)
	go func() {
		req, _ := newGet(ctx, base+"?wait=30s")
		req.Header.Set("X-Login-Token", si.LoginToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			polled <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		polled <- resp.Status + " " + string(body)
	}()
	// The devices and pages read on, as they do, so that they see their endings.
	closedWith := func(ws *websocket.Conn) <-chan string {
		out := make(chan string, 1)
		go func() {
			for {
				_, _, err := ws.Read(ctx)
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					out <- ce.Code.String() + " " + ce.Reason
					return
				} else if err != nil {
					out <- err.Error()
					return
				}
			}
		}()
		return out
	}
	deviceEnd, loginEnd := closedWith(device), closedWith(login)
	time.Sleep(100 * time.Millisecond) // let the long-poll reach the server; it ends the same if not

	began := time.Now()
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve after the shutdown: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not return")
	}
	t.Logf("serve returned %v after the signal", time.Since(began).Round(time.Millisecond))
	if got := recv(t, polled, "long-poll answer"); !strings.HasPrefix(got, "200") || !strings.Contains(got, `"pending"`) {
		t.Fatalf("long-poll: %s", got)
	}
	for name, end := range map[string]<-chan string{"device socket": deviceEnd, "login socket": loginEnd} {
		if got := recv(t, end, name+" close"); got != "StatusGoingAway server shutting down" {
			t.Fatalf("%s: %s", name, got)
		}
	}
	for name, end := range map[string]<-chan string{"login SSE": loginSSE, "security SSE": securitySSE} {
		if got := recv(t, end, name+" end"); got != "" {
			t.Fatalf("%s: %s", name, got)
		}
	}
}

// sseEnd reads a Server-Sent Events response up to a first event holding want, then tells
// how the stream ends: "" for a proper end of the response, or what was read or went wrong.
func sseEnd(t *testing.T, resp *http.Response, want string) <-chan string {
	t.Helper()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: no event holding %s: %v", resp.Request.URL.Path, want, err)
		}
		if strings.HasPrefix(line, "data:") && strings.Contains(line, want) {
			break
		}
	}
	end := make(chan string, 1)
	go func() {
		rest, err := io.ReadAll(br)
		switch {
		case err != nil:
			end <- err.Error()
		case strings.Contains(string(rest), "data:"):
			end <- "sent " + string(rest)
		default:
			end <- ""
		}
	}()
	return end
}
