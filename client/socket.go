package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push/wire"
)

// Request is a challenge shown to the device: "Is this you signing in?". Outcome is a
// challenge's final state, as the server tells every device that was shown it. Both are the
// socket's wire types.
type (
	Request = wire.Challenge
	Outcome = wire.Outcome
)

// Handlers receive what the socket brings. They are called from one goroutine, in order;
// they must not block for long. Any may be nil.
type Handlers struct {
	// Ready is called after every (re)connection with the accounts the server knows linked.
	Ready func(accounts []uuid.UUID)
	// Request is called once per challenge, however often it is sent (after reconnects too).
	Request func(Request)
	// Outcome tells that a challenge shown here was decided, here or elsewhere.
	Outcome func(Outcome)
	// Unlinked tells that an account was unlinked from this device on the server: while the
	// socket was open, or while the device was offline (learnt from the accounts the server
	// lists on connection). The link is already gone from the Device; persist it.
	Unlinked func(account uuid.UUID)
	// Closed is called when the server closes the socket for good (a permanent close code:
	// no linked account left, or authentication refused) with its reason; Run then returns.
	// After any other close, Run connects again with backoff.
	Closed func(reason string)
}

// Socket holds a device's socket, reconnecting with backoff, and answers challenges over it.
type Socket struct {
	device   *Device
	url      string
	handlers Handlers

	mu      sync.Mutex
	ws      *websocket.Conn
	pending map[string]chan wire.Message
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
	return &Socket{device: d, url: u, handlers: h, pending: make(map[string]chan wire.Message), seen: make(map[uuid.UUID]bool)}
}

// Connections counts the connections made so far (reconnects included).
func (s *Socket) Connections() int { return int(s.conns.Load()) }

// Run keeps the socket open until ctx ends or the server closes it for good (a permanent
// close code, see wire.Close). After any other close, or a lost connection, it connects again
// after an exponential backoff from 100 ms to 5 s with jitter, reset once a connection lasted.
func (s *Socket) Run(ctx context.Context) error {
	b := &backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 5 * time.Second}
	b.Reset()
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
			b.Reset()
		}
		select {
		case <-time.After(b.NextBackOff()):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// session runs one connection.
func (s *Socket) session(ctx context.Context) error {
	dialed := time.Now()
	ws, _, err := websocket.Dial(ctx, s.url, nil)
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	var hello wire.Message
	if err := wsjson.Read(ctx, ws, &hello); err != nil || hello.Type != wire.TypeHello {
		return fmt.Errorf("assent: no hello: %w", s.closed(err))
	}
	if err := wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeAuth, DeviceID: s.device.ID, Signature: s.device.SignAuth(hello.Nonce)}); err != nil {
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
		var f wire.Message
		if err := wsjson.Read(ctx, ws, &f); err != nil {
			return s.closed(err)
		}
		if f.Type == wire.TypeReady {
			s.forgetUnlisted(f.Accounts, dialed)
		}
		s.dispatch(ctx, ws, f)
	}
}

// closed turns a permanent close of the server into ErrClosedByServer, after telling the
// Closed handler; any other error is returned as it is, to connect again.
func (s *Socket) closed(err error) error {
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		return err
	}
	if c := (wire.Close{Code: ce.Code, Reason: ce.Reason}); c.Permanent() {
		if s.handlers.Closed != nil {
			s.handlers.Closed(c.Reason)
		}
		return fmt.Errorf("%w: %s", ErrClosedByServer, c.Reason)
	}
	return err
}

// forgetUnlisted drops the links the server no longer lists: they were unlinked while the
// device was offline. Links made since the connection was dialed are kept, as the server's
// list may predate them.
func (s *Socket) forgetUnlisted(accounts []uuid.UUID, dialed time.Time) {
	var gone []uuid.UUID
	for _, l := range s.device.Links {
		if !slices.Contains(accounts, l.AccountID) && l.LinkedAt.Before(dialed) {
			gone = append(gone, l.AccountID)
		}
	}
	for _, a := range gone {
		s.device.RemoveLink(a)
		if s.handlers.Unlinked != nil {
			s.handlers.Unlinked(a)
		}
	}
}

func (s *Socket) dispatch(ctx context.Context, ws *websocket.Conn, f wire.Message) {
	switch f.Type {
	case wire.TypeReady:
		if s.handlers.Ready != nil {
			s.handlers.Ready(f.Accounts)
		}
	case wire.TypeChallenge:
		if f.Challenge == nil {
			return
		}
		_ = wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeAck, ChallengeID: f.Challenge.ID})
		s.mu.Lock()
		dup := s.seen[f.Challenge.ID]
		s.seen[f.Challenge.ID] = true
		s.mu.Unlock()
		if !dup && s.handlers.Request != nil {
			s.handlers.Request(*f.Challenge)
		}
	case wire.TypeOutcome:
		if f.Outcome != nil && s.handlers.Outcome != nil {
			s.handlers.Outcome(*f.Outcome)
		}
	case wire.TypeUnlinked:
		s.device.RemoveLink(f.AccountID)
		if s.handlers.Unlinked != nil {
			s.handlers.Unlinked(f.AccountID)
		}
	case wire.TypeResult:
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
// answer is domain.AnswerApprove (with the number typed from the login page),
// domain.AnswerDeny or domain.AnswerFraud ("this wasn't me").
func (s *Socket) Answer(ctx context.Context, r Request, answer domain.Answer, number int) error {
	sig, err := s.device.SignAnswer(r.ID, answer, number, r.Context)
	if err != nil {
		return err
	}
	ref := strconv.FormatUint(s.ref.Add(1), 10)
	ch := make(chan wire.Message, 1)
	s.mu.Lock()
	ws := s.ws
	if ws == nil {
		s.mu.Unlock()
		return ErrNotConnected
	}
	s.pending[ref] = ch
	s.mu.Unlock()
	if err := wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeAnswer, Ref: ref, ChallengeID: r.ID, Answer: answer.String(), Number: number, Signature: sig}); err != nil {
		return err
	}
	select {
	case f, ok := <-ch:
		if !ok {
			return ErrNotConnected
		}
		if !f.OK {
			if p := f.Error; p != nil {
				return &Error{Status: p.Status, Code: p.Code, Message: p.Message, RetryAfter: time.Duration(f.RetryAfter) * time.Second}
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
