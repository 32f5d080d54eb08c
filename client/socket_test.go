package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/transport/push/wire"
)

// TestSocketReconnectsUntilAPermanentClose: the server closes the socket as too slow, then
// as shutting down, then (the device having been unlinked while it was away) lists no account
// and closes it for good. The client connects again after each close but the last, forgets
// the links the server no longer lists, and then stops.
func TestSocketReconnectsUntilAPermanentClose(t *testing.T) {
	t.Parallel()
	d, err := client.NewDevice("test", "test")
	if err != nil {
		t.Fatal(err)
	}
	d.ID = uuid.New()
	a, b, fresh := uuid.New(), uuid.New(), uuid.New()
	d.AddLink(client.Link{AccountID: a, TOTPSecret: "JBSWY3DPEHPK3PXP", LinkedAt: time.Now().Add(-time.Hour)})
	d.AddLink(client.Link{AccountID: b, TOTPSecret: "JBSWY3DPEHPK3PXP", LinkedAt: time.Now().Add(-time.Hour)})
	// A link made after the socket dialled is kept even when the server's list lacks it.
	d.AddLink(client.Link{AccountID: fresh, TOTPSecret: "JBSWY3DPEHPK3PXP", LinkedAt: time.Now().Add(time.Hour)})

	script := []struct {
		accounts []uuid.UUID
		close    wire.Close
	}{
		{[]uuid.UUID{a, b}, wire.CloseTooSlow},
		{[]uuid.UUID{a, b}, wire.CloseShuttingDown},
		{[]uuid.UUID{b}, wire.CloseReplaced},
		{nil, wire.CloseNoAccount},
		{[]uuid.UUID{a, b}, wire.CloseTooSlow}, // never reached
	}
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		mu.Lock()
		step := script[conns]
		conns++
		mu.Unlock()
		ctx := r.Context()
		var auth wire.Message
		if wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeHello, Nonce: make([]byte, 32)}) != nil ||
			wsjson.Read(ctx, ws, &auth) != nil || auth.Type != wire.TypeAuth || auth.DeviceID != d.ID {
			t.Errorf("connection %d: no auth: %+v", conns, auth)
			return
		}
		wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeReady, DeviceID: d.ID, Accounts: step.accounts})
		ws.Close(step.close.Code, step.close.Reason)
	}))
	defer srv.Close()

	var closed []string
	var unlinked []uuid.UUID
	sock := client.NewSocket(d, srv.URL, client.Handlers{
		Closed:   func(reason string) { closed = append(closed, reason) },
		Unlinked: func(a uuid.UUID) { unlinked = append(unlinked, a) },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = sock.Run(ctx)
	if !errors.Is(err, client.ErrClosedByServer) {
		t.Fatalf("Run ended with %v after %d connections", err, sock.Connections())
	}
	if sock.Connections() != 4 {
		t.Fatalf("%d connections, want 4: one per close until the permanent one", sock.Connections())
	}
	if !slices.Equal(closed, []string{wire.CloseNoAccount.Reason}) {
		t.Fatalf("Closed told %q", closed)
	}
	if !slices.Equal(unlinked, []uuid.UUID{a, b}) {
		t.Fatalf("unlinked %v, want %v then %v", unlinked, a, b)
	}
	if len(d.Links) != 1 || d.Links[0].AccountID != fresh {
		t.Fatalf("links left: %+v", d.Links)
	}
}

func TestCloseCodesSayWhetherToReconnect(t *testing.T) {
	t.Parallel()
	for _, c := range []wire.Close{wire.CloseNoAccount, wire.CloseAuthFailed} {
		if !c.Permanent() {
			t.Errorf("%d %s: must be permanent", c.Code, c.Reason)
		}
	}
	for _, c := range []wire.Close{wire.CloseTooSlow, wire.CloseAuthTimeout, wire.CloseReplaced, wire.CloseTooManyFromAddress,
		wire.CloseTooManyWaiting, wire.CloseUnavailable, wire.CloseShuttingDown} {
		if c.Permanent() || c.Reason == "" {
			t.Errorf("%d %q: must say to reconnect, with a reason", c.Code, c.Reason)
		}
	}
}
