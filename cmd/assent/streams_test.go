package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/assent-dev/assent/domain"
)

type sseEvent struct {
	id, event, data string
}

// readSSE returns the events of a Server-Sent Events response as they come.
func readSSE(t *testing.T, resp *http.Response) <-chan sseEvent {
	out := make(chan sseEvent, 8)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id:"):
				ev.id = strings.TrimSpace(line[3:])
			case strings.HasPrefix(line, "event:"):
				ev.event = strings.TrimSpace(line[6:])
			case strings.HasPrefix(line, "data:"):
				ev.data = strings.TrimSpace(line[5:])
			}
		}
	}()
	return out
}

func openSSE(t *testing.T, url, lastEventID string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, url, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestLoginResultStreams(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	ctx := ctxT(t)
	b := n.account(t, "streams@example.com")
	p := newPhone(t, "phone")
	link(t, n, b, p)
	p.connect(t, n)
	_, si := signIn(t, n, "streams@example.com")
	r := recv(t, p.requests, "challenge")
	base := n.url + "/v1/logins/" + si.Challenge.ID.String()

	// Only the browser holding the login token may listen: with it, or with a ticket it got.
	if resp := openSSE(t, base+"/events?ticket=guess", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("SSE with a wrong ticket: %d", resp.StatusCode)
	}
	tk, err := n.client().LoginStreamTicket(ctx, si.Challenge.ID, si.LoginToken)
	if err != nil {
		t.Fatal(err)
	}
	sse := readSSE(t, openSSE(t, base+"/events?ticket="+tk.Ticket, ""))
	if ev := recv(t, sse, "pending event"); ev.id != "1" || ev.event != "status" || !strings.Contains(ev.data, `"pending"`) {
		t.Fatalf("first SSE event %+v", ev)
	}
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/socket?ticket=" + tk.Ticket
	ws, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	var st struct {
		Status   string `json:"status"`
		Approved bool   `json:"approved"`
	}
	if err := wsjson.Read(ctx, ws, &st); err != nil || st.Status != "pending" {
		t.Fatalf("first WebSocket status %+v %v", st, err)
	}

	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, sse, "outcome event"); ev.id != "2" || !strings.Contains(ev.data, `"approved"`) {
		t.Fatalf("SSE outcome %+v", ev)
	}
	if err := wsjson.Read(ctx, ws, &st); err != nil || st.Status != "approved" || !st.Approved {
		t.Fatalf("WebSocket outcome %+v %v", st, err)
	}
	_, _, err = ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("WebSocket after the outcome: %v, want a normal close", err)
	}

	// A page that reconnects after id 1 (or comes late) gets the outcome at once.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	late := readSSE(t, openSSE(t, base+"/events?ticket="+tk.Ticket, "1"))
	select {
	case ev := <-late:
		var body struct{ Status string }
		if ev.id != "2" || json.Unmarshal([]byte(ev.data), &body) != nil || body.Status != "approved" {
			t.Fatalf("resumed SSE %+v", ev)
		}
	case <-rctx.Done():
		t.Fatal("a resumed SSE stream did not get the known outcome at once")
	}
}
