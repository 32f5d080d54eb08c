package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// Request is a challenge shown to the device: "Is this you signing in?".
type Request struct {
	ID        uuid.UUID           `json:"id"`
	AccountID uuid.UUID           `json:"account_id"`
	Context   domain.LoginContext `json:"context"`
	ExpiresAt time.Time           `json:"expires_at"`
}

// Outcome is a challenge's final state, as the server tells every device that was shown it.
type Outcome struct {
	ChallengeID uuid.UUID `json:"challenge_id"`
	Status      string    `json:"status"`
	DeviceID    uuid.UUID `json:"device_id"`
}

// frame is one message of the device socket (see docs/api.md).
type frame struct {
	Type        string      `json:"type"`
	Nonce       []byte      `json:"nonce,omitempty"`
	DeviceID    uuid.UUID   `json:"device_id,omitzero"`
	Signature   []byte      `json:"signature,omitempty"`
	Accounts    []uuid.UUID `json:"accounts,omitempty"`
	Challenge   *Request    `json:"challenge,omitempty"`
	Outcome     *Outcome    `json:"outcome,omitempty"`
	AccountID   uuid.UUID   `json:"account_id,omitzero"`
	ChallengeID uuid.UUID   `json:"challenge_id,omitzero"`
	Answer      string      `json:"answer,omitempty"`
	Number      int         `json:"number,omitempty"`
	Ref         string      `json:"ref,omitempty"`
	OK          bool        `json:"ok,omitempty"`
	Error       *Error      `json:"error,omitempty"`
}

// Handlers receive what the socket brings. They are called from one goroutine, in order;
// they must not block for long. Any may be nil.
type Handlers struct {
	// Ready is called after every (re)connection with the accounts the server knows linked.
	Ready func(accounts []uuid.UUID)
	// Request is called once per challenge, however often it is sent (after reconnects too).
	Request func(Request)
	// Outcome tells that a challenge shown here was decided, here or elsewhere.
	Outcome func(Outcome)
	// Unlinked tells that an account was unlinked from this device on the server.
	Unlinked func(account uuid.UUID)
	// Closed is called when the server closes the socket for good (no linked account left, or
	// authentication refused) with its reason; Run then returns.
	Closed func(reason string)
}

// Socket holds a device's socket, reconnecting with backoff, and answers challenges over it.
type Socket struct {
	device   *Device
	url      string
	handlers Handlers

	mu      sync.Mutex
	ws      *websocket.Conn
	pending map[string]chan frame
	seen    map[uuid.UUID]bool
	ref     atomic.Uint64
	conns   atomic.Int64
}

// ErrClosedByServer is returned by Run when the server closes the socket for good.
var ErrClosedByServer = errors.New("assent: the server closed the device socket")

// NewSocket returns a socket of d to the server at baseURL.
func NewSocket(d *Device, baseURL string, h Handlers) *Socket {
	u := strings.TrimRight(baseURL, "/")
	u = "ws" + strings.TrimPrefix(u, "http") + "/v1/devices/socket"
	return &Socket{device: d, url: u, handlers: h, pending: make(map[string]chan frame), seen: make(map[uuid.UUID]bool)}
}

// Connections counts the connections made so far (reconnects included).
func (s *Socket) Connections() int { return int(s.conns.Load()) }

// Run keeps the socket open until ctx ends or the server closes it for good. A dropped
// connection is made again after a backoff from 100 ms to 5 s with jitter.
func (s *Socket) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		started := time.Now()
		err := s.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrClosedByServer) {
			return err
		}
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// session runs one connection.
func (s *Socket) session(ctx context.Context) error {
	ws, _, err := websocket.Dial(ctx, s.url, nil)
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	var hello frame
	if err := wsjson.Read(ctx, ws, &hello); err != nil || hello.Type != "hello" {
		return fmt.Errorf("assent: no hello: %w", err)
	}
	if err := wsjson.Write(ctx, ws, frame{Type: "auth", DeviceID: s.device.ID, Signature: s.device.SignAuth(hello.Nonce)}); err != nil {
		return err
	}
	s.conns.Add(1)
	s.mu.Lock()
	s.ws = ws
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.ws = nil
		for ref, ch := range s.pending {
			close(ch)
			delete(s.pending, ref)
		}
		s.mu.Unlock()
	}()
	for {
		var f frame
		if err := wsjson.Read(ctx, ws, &f); err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) && ce.Reason != "" && ce.Code != websocket.StatusGoingAway {
				if s.handlers.Closed != nil {
					s.handlers.Closed(ce.Reason)
				}
				return fmt.Errorf("%w: %s", ErrClosedByServer, ce.Reason)
			}
			return err
		}
		s.dispatch(ctx, ws, f)
	}
}

func (s *Socket) dispatch(ctx context.Context, ws *websocket.Conn, f frame) {
	switch f.Type {
	case "ready":
		if s.handlers.Ready != nil {
			s.handlers.Ready(f.Accounts)
		}
	case "challenge":
		if f.Challenge == nil {
			return
		}
		_ = wsjson.Write(ctx, ws, frame{Type: "ack", ChallengeID: f.Challenge.ID})
		s.mu.Lock()
		dup := s.seen[f.Challenge.ID]
		s.seen[f.Challenge.ID] = true
		s.mu.Unlock()
		if !dup && s.handlers.Request != nil {
			s.handlers.Request(*f.Challenge)
		}
	case "outcome":
		if f.Outcome != nil && s.handlers.Outcome != nil {
			s.handlers.Outcome(*f.Outcome)
		}
	case "unlinked":
		s.device.RemoveLink(f.AccountID)
		if s.handlers.Unlinked != nil {
			s.handlers.Unlinked(f.AccountID)
		}
	case "result":
		s.mu.Lock()
		ch := s.pending[f.Ref]
		delete(s.pending, f.Ref)
		s.mu.Unlock()
		if ch != nil {
			ch <- f
		}
	}
}

// ErrNotConnected is returned by Answer while the socket is down.
var ErrNotConnected = errors.New("assent: the device socket is not connected")

// Answer signs and sends an answer over the socket and waits for the server's verdict:
// answer is "approve" (with the number typed from the login page), "deny" or "fraud".
func (s *Socket) Answer(ctx context.Context, r Request, answer string, number int) error {
	sig, err := s.device.SignAnswer(r.ID, answer, number, r.Context)
	if err != nil {
		return err
	}
	ref := strconv.FormatUint(s.ref.Add(1), 10)
	ch := make(chan frame, 1)
	s.mu.Lock()
	ws := s.ws
	if ws == nil {
		s.mu.Unlock()
		return ErrNotConnected
	}
	s.pending[ref] = ch
	s.mu.Unlock()
	if err := wsjson.Write(ctx, ws, frame{Type: "answer", Ref: ref, ChallengeID: r.ID, Answer: answer, Number: number, Signature: sig}); err != nil {
		return err
	}
	select {
	case f, ok := <-ch:
		if !ok {
			return ErrNotConnected
		}
		if !f.OK {
			if f.Error != nil {
				return f.Error
			}
			return errors.New("assent: answer refused")
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drop closes the current connection, as a network failure would; Run reconnects.
func (s *Socket) Drop() {
	s.mu.Lock()
	ws := s.ws
	s.mu.Unlock()
	if ws != nil {
		ws.CloseNow()
	}
}
