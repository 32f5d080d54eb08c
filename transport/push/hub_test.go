package push_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push"
	"github.com/assent-dev/assent/transport/push/wire"
)

// backend is an in-memory stand-in for the application, so that these tests exercise the
// hub's socket protocol alone; the end-to-end tests run it over the real application.
type backend struct {
	mu       sync.Mutex
	keys     map[uuid.UUID]ed25519.PublicKey
	accounts map[uuid.UUID][]uuid.UUID
	pending  map[uuid.UUID][]push.Challenge
	acks     []uuid.UUID
	answers  []string
}

func (b *backend) DevicePublicKey(_ context.Context, d uuid.UUID) (ed25519.PublicKey, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.keys[d]
	if !ok {
		return nil, domain.ErrDeviceNotFound
	}
	return k, nil
}
func (b *backend) LinkedAccounts(_ context.Context, d uuid.UUID) ([]uuid.UUID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accounts[d], nil
}
func (b *backend) PendingChallenges(_ context.Context, d uuid.UUID) ([]push.Challenge, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pending[d], nil
}
func (b *backend) AcknowledgeDelivery(_ context.Context, d, c uuid.UUID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.acks = append(b.acks, c)
	return nil
}
func (b *backend) Answer(_ context.Context, d, c uuid.UUID, a domain.Answer, n int, sig []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.answers = append(b.answers, a.String())
	if n != 42 && a == domain.AnswerApprove {
		return domain.ErrWrongNumber
	}
	return nil
}
func (b *backend) Outcome(context.Context, uuid.UUID) (push.Outcome, bool, error) {
	return push.Outcome{}, false, nil
}

type device struct {
	id   uuid.UUID
	priv ed25519.PrivateKey
}

func dial(t *testing.T, url string, d device, sign bool) (*websocket.Conn, wire.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	var hello wire.Message
	if err := wsjson.Read(ctx, ws, &hello); err != nil || hello.Type != "hello" || len(hello.Nonce) != 32 {
		t.Fatalf("hello: %+v %v", hello, err)
	}
	sig := ed25519.Sign(d.priv, domain.DeviceAuthPayload(d.id, hello.Nonce))
	if !sign {
		sig = ed25519.Sign(d.priv, []byte("something else"))
	}
	if err := wsjson.Write(ctx, ws, wire.Message{Type: "auth", DeviceID: d.id, Signature: sig}); err != nil {
		t.Fatal(err)
	}
	var first wire.Message
	err = wsjson.Read(ctx, ws, &first)
	if err != nil {
		return ws, wire.Message{Type: closedBy(err)}
	}
	return ws, first
}

// serve runs the hub's device socket on loopback; peer.Addr defaults to the client's host.
func serve(t testing.TB, hub *push.Hub, peer push.Peer) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := peer
		if p.Addr == "" {
			p.Addr, _, _ = net.SplitHostPort(r.RemoteAddr)
		}
		hub.ServeDevice(w, r, slog.New(slog.DiscardHandler), p)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// closedBy describes how a read ended: the close code and reason, or the error.
func closedBy(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("closed:%d:%s", ce.Code, ce.Reason)
	}
	return "closed:" + err.Error()
}

func closedWith(c wire.Close) string { return fmt.Sprintf("closed:%d:%s", c.Code, c.Reason) }

func read(t *testing.T, ws *websocket.Conn) wire.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var m wire.Message
	if err := wsjson.Read(ctx, ws, &m); err != nil {
		return wire.Message{Type: closedBy(err)}
	}
	return m
}

func TestDeviceSocketProtocol(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(nil)
	d := device{id: uuid.New(), priv: priv}
	acct := uuid.New()
	old := push.Challenge{ID: uuid.New(), AccountID: acct, ExpiresAt: time.Now().Add(time.Minute)}
	b := &backend{
		keys:     map[uuid.UUID]ed25519.PublicKey{d.id: pub},
		accounts: map[uuid.UUID][]uuid.UUID{d.id: {acct}},
		pending:  map[uuid.UUID][]push.Challenge{d.id: {old}},
	}
	hub := push.NewHub(b, push.Options{})
	url := serve(t, hub, push.Peer{})

	// A wrong signature is refused with a clear close reason.
	if _, m := dial(t, url, d, false); m.Type != closedWith(wire.CloseAuthFailed) {
		t.Fatalf("bad signature: %+v", m)
	}

	ws, ready := dial(t, url, d, true)
	defer ws.CloseNow()
	if ready.Type != "ready" || len(ready.Accounts) != 1 || ready.Accounts[0] != acct {
		t.Fatalf("ready: %+v", ready)
	}
	// The pending challenge arrives on connect; announcing it again from the log shows nothing twice.
	if m := read(t, ws); m.Type != "challenge" || m.Challenge.ID != old.ID {
		t.Fatalf("pending challenge: %+v", m)
	}
	issued := domain.ChallengeIssued{ChallengeID: uuid.New(), AccountID: acct, Number: 42,
		Devices: []domain.ChallengeDevice{{DeviceID: d.id}}, ExpiresAt: time.Now().Add(time.Minute)}
	hub.HandleEvent(domain.ChallengeIssued{ChallengeID: old.ID, AccountID: acct, Devices: issued.Devices})
	hub.HandleEvent(issued)
	m := read(t, ws)
	if m.Type != "challenge" || m.Challenge.ID != issued.ChallengeID {
		t.Fatalf("live challenge: %+v", m)
	}
	// The answer result comes back with the request's ref; a page awaiting the outcome hears it.
	wait, stop := hub.Await(issued.ChallengeID)
	defer stop()
	ctx := context.Background()
	wsjson.Write(ctx, ws, wire.Message{Type: "answer", Ref: "r1", ChallengeID: issued.ChallengeID, Answer: "approve", Number: 17})
	if m := read(t, ws); m.Type != "result" || m.OK || m.Error == nil || m.Error.Code != "wrong_number" || m.Ref != "r1" {
		t.Fatalf("wrong number result: %+v", m)
	}
	wsjson.Write(ctx, ws, wire.Message{Type: "answer", Ref: "r2", ChallengeID: issued.ChallengeID, Answer: "approve", Number: 42})
	if m := read(t, ws); m.Type != "result" || !m.OK {
		t.Fatalf("answer result: %+v", m)
	}
	hub.HandleEvent(domain.ChallengeApproved{ChallengeID: issued.ChallengeID, AccountID: acct, DeviceID: d.id})
	select {
	case o := <-wait:
		if o.Status != "approved" || !o.Approved() {
			t.Fatalf("outcome %+v", o)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting page never heard the outcome")
	}
	if m := read(t, ws); m.Type != "outcome" || m.Outcome.Status != "approved" {
		t.Fatalf("device outcome: %+v", m)
	}
	// Unlinking the last account tells the socket, then closes it.
	hub.HandleEvent(domain.DeviceUnlinked{AccountID: acct, DeviceID: d.id})
	if m := read(t, ws); m.Type != "unlinked" || m.AccountID != acct {
		t.Fatalf("unlinked: %+v", m)
	}
	if m := read(t, ws); m.Type != closedWith(wire.CloseNoAccount) {
		t.Fatalf("after the last unlink: %+v", m)
	}
}
