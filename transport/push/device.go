package push

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/apierror"
	"github.com/assent-dev/assent/transport/push/wire"
)

// Peer is what the transport knows of a device socket's other end.
type Peer struct {
	// Addr is the client's address, for the cap of sockets per address.
	Addr string
	// AllowAnswer takes a token of the answer rate limits (those of the HTTP answer route);
	// an error refuses the answer, is told to the device as the result's error, and nothing
	// is appended. Nil allows every answer.
	AllowAnswer func(device uuid.UUID) error
}

// ServeDevice runs one device socket: the device proves itself by signing a nonce, then
// receives every pending challenge of its accounts and every new one, and answers them.
// Whatever ends it, the socket is closed when ServeDevice returns.
func (h *Hub) ServeDevice(w http.ResponseWriter, r *http.Request, log *slog.Logger, peer Peer) {
	admitted, refusal := h.admit(peer.Addr)
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		if admitted {
			h.leave(peer.Addr, true)
		}
		return // Accept has answered the request
	}
	defer ws.CloseNow()
	if !admitted {
		ws.Close(refusal.Code, refusal.Reason)
		return
	}
	waiting := true
	defer func() { h.leave(peer.Addr, waiting) }()
	ws.SetReadLimit(h.opts.ReadLimit)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	// Until the device has authenticated, a timer or the shutdown may close the socket; the
	// first to close it wins, and the handler goes on only if nothing closed it.
	var closed atomic.Bool
	closeWith := func(c wire.Close) {
		if closed.CompareAndSwap(false, true) {
			ws.Close(c.Code, c.Reason)
		}
	}
	timer := time.AfterFunc(h.opts.AuthTimeout, func() { closeWith(wire.CloseAuthTimeout) })
	unhook := context.AfterFunc(h.stopping, func() { closeWith(wire.CloseShuttingDown) })
	device, accounts, err := h.authenticate(ctx, ws)
	timer.Stop()
	unhook()
	switch {
	case closed.Load():
		return
	case errors.Is(err, errPeer):
		return // the device went away or broke the protocol; nothing to tell it
	case errors.Is(err, errAuthFailed), errors.Is(err, domain.ErrBadSignature), errors.Is(err, domain.ErrDeviceNotFound):
		log.Info("device socket refused", "err", err)
		closeWith(wire.CloseAuthFailed)
		return
	case err != nil:
		log.Error("device socket: authenticate", "err", err)
		closeWith(wire.CloseUnavailable)
		return
	}
	if !closed.CompareAndSwap(false, true) {
		return
	}
	h.authenticated(peer.Addr)
	waiting = false

	c := &deviceConn{hub: h, ws: ws, device: device, peer: peer, cancel: cancel, out: make(chan outbound, h.opts.SendQueue),
		sent: make(map[uuid.UUID]bool), accounts: make(map[uuid.UUID]bool)}
	for _, a := range accounts {
		c.accounts[a] = true
	}
	// ready always lists the accounts, none included, so that a device unlinked while it was
	// offline learns it and forgets their secrets.
	go c.writeLoop(ctx)
	c.enqueue(outbound{msg: wire.Message{Type: wire.TypeReady, DeviceID: device, Accounts: accounts}})
	if len(accounts) == 0 {
		c.enqueue(outbound{close: &wire.CloseNoAccount})
		<-ctx.Done() // the writer has closed the socket
		return
	}
	for _, old := range h.add(c) {
		old.enqueue(outbound{close: &wire.CloseReplaced})
	}
	defer h.remove(c)
	pending, err := h.backend.PendingChallenges(ctx, device)
	if err != nil {
		log.Error("device socket: pending challenges", "device", device, "err", err)
	}
	for _, ch := range pending {
		c.sendChallenge(ch)
	}
	go c.pingLoop(ctx)
	c.readLoop(ctx, log)
}

// Kinds of authentication failure: errPeer when the device went away or sent something
// else than the protocol, errAuthFailed when it did not prove itself.
var (
	errPeer       = errors.New("push: device socket lost before authentication")
	errAuthFailed = errors.New("push: the first message is not an auth message")
)

func (h *Hub) authenticate(ctx context.Context, ws *websocket.Conn) (uuid.UUID, []uuid.UUID, error) {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return uuid.Nil, nil, err
	}
	if err := wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeHello, Nonce: nonce}); err != nil {
		return uuid.Nil, nil, fmt.Errorf("%w: %w", errPeer, err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		return uuid.Nil, nil, fmt.Errorf("%w: %w", errPeer, err)
	}
	var m wire.Message
	if err := json.Unmarshal(b, &m); err != nil || m.Type != wire.TypeAuth || m.DeviceID == uuid.Nil {
		return uuid.Nil, nil, errAuthFailed
	}
	pub, err := h.backend.DevicePublicKey(ctx, m.DeviceID)
	if err != nil {
		return uuid.Nil, nil, err
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, domain.DeviceAuthPayload(m.DeviceID, nonce), m.Signature) {
		return uuid.Nil, nil, domain.ErrBadSignature
	}
	accounts, err := h.backend.LinkedAccounts(ctx, m.DeviceID)
	return m.DeviceID, accounts, err
}

// outbound is a message for the writer, or an order to close.
type outbound struct {
	msg   wire.Message
	close *wire.Close
}

type deviceConn struct {
	hub    *Hub
	ws     *websocket.Conn
	device uuid.UUID
	peer   Peer
	cancel context.CancelFunc
	out    chan outbound
	seq    uint64 // guarded by hub.mu

	mu       sync.Mutex
	sent     map[uuid.UUID]bool
	accounts map[uuid.UUID]bool
	closing  bool
}

// enqueue hands a message to the writer; a socket whose queue is full is too slow and closed.
func (c *deviceConn) enqueue(o outbound) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	select {
	case c.out <- o:
		if o.close != nil {
			c.closing = true
		}
	default:
		c.closing = true
		go func() {
			c.ws.Close(wire.CloseTooSlow.Code, wire.CloseTooSlow.Reason)
			c.cancel()
		}()
	}
}

// sendChallenge shows a challenge once per socket, however often it is announced.
func (c *deviceConn) sendChallenge(ch Challenge) {
	c.mu.Lock()
	if c.sent[ch.ID] {
		c.mu.Unlock()
		return
	}
	c.sent[ch.ID] = true
	c.accounts[ch.AccountID] = true
	c.mu.Unlock()
	c.hub.markShown(ch.ID, c)
	c.enqueue(outbound{msg: wire.Message{Type: wire.TypeChallenge, Challenge: &ch}})
}

func (c *deviceConn) sendOutcome(o Outcome) {
	c.enqueue(outbound{msg: wire.Message{Type: wire.TypeOutcome, Outcome: &o}})
}

// unlinked tells the device it lost an account, and closes the socket when none is left.
func (c *deviceConn) unlinked(account uuid.UUID) {
	c.mu.Lock()
	delete(c.accounts, account)
	left := len(c.accounts)
	c.mu.Unlock()
	c.enqueue(outbound{msg: wire.Message{Type: wire.TypeUnlinked, AccountID: account}})
	if left == 0 {
		c.enqueue(outbound{close: &wire.CloseNoAccount})
	}
}

// linked tells the device it serves one more account.
func (c *deviceConn) linked(account uuid.UUID) {
	c.mu.Lock()
	c.accounts[account] = true
	c.mu.Unlock()
	c.enqueue(outbound{msg: wire.Message{Type: wire.TypeLinked, AccountID: account}})
}

func (c *deviceConn) sentSnapshot() map[uuid.UUID]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[uuid.UUID]bool, len(c.sent))
	for k, v := range c.sent {
		out[k] = v
	}
	return out
}

// writeLoop is the socket's only writer of messages; it also closes the socket when told to
// or when the node shuts down.
func (c *deviceConn) writeLoop(ctx context.Context) {
	closeWith := func(w wire.Close) {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		c.ws.Close(w.Code, w.Reason)
		c.cancel()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.hub.stopping.Done():
			closeWith(wire.CloseShuttingDown)
			return
		case o := <-c.out:
			if o.close != nil {
				closeWith(*o.close)
				return
			}
			wctx, cancel := context.WithTimeout(ctx, c.hub.opts.WriteTimeout)
			err := wsjson.Write(wctx, c.ws, o.msg)
			cancel()
			if err != nil {
				c.cancel()
				return
			}
		}
	}
}

func (c *deviceConn) pingLoop(ctx context.Context) {
	t := time.NewTicker(c.hub.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, c.hub.opts.WriteTimeout)
			err := c.ws.Ping(pctx)
			cancel()
			if err != nil {
				c.cancel() // a dead peer: reap the socket
				return
			}
		}
	}
}

// readLoop reads the device's messages until the socket ends. A message that is not valid
// JSON, or whose fields have the wrong types, is answered with a result 400 bad_message and
// the socket stays open.
func (c *deviceConn) readLoop(ctx context.Context, log *slog.Logger) {
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			c.cancel()
			return
		}
		var m wire.Message
		if err := json.Unmarshal(b, &m); err != nil {
			c.enqueue(outbound{msg: wire.Message{Type: wire.TypeResult, Ref: refOf(b), Error: badMessage(err)}})
			continue
		}
		switch m.Type {
		case wire.TypeAck:
			if err := c.hub.backend.AcknowledgeDelivery(ctx, c.device, m.ChallengeID); err != nil {
				log.Debug("device ack refused", "device", c.device, "challenge", m.ChallengeID, "err", err)
			} else if c.hub.opts.OnDelivered != nil {
				c.hub.opts.OnDelivered(m.ChallengeID, c.device)
			}
		case wire.TypeAnswer:
			c.enqueue(outbound{msg: c.answer(ctx, log, m)})
		default:
			c.enqueue(outbound{msg: wire.Message{Type: wire.TypeResult, Ref: m.Ref, Error: apierror.New(400, "bad_message", "Unknown message type.")}})
		}
	}
}

// answer decides one answer, under the same rate limits as the HTTP answer route.
func (c *deviceConn) answer(ctx context.Context, log *slog.Logger, m wire.Message) wire.Message {
	res := wire.Message{Type: wire.TypeResult, Ref: m.Ref, ChallengeID: m.ChallengeID, OK: true}
	var err error
	if c.peer.AllowAnswer != nil {
		err = c.peer.AllowAnswer(c.device)
	}
	if err == nil {
		var answer domain.Answer
		if answer, err = domain.ParseAnswer(m.Answer); err == nil {
			err = c.hub.backend.Answer(ctx, c.device, m.ChallengeID, answer, m.Number, m.Signature)
		}
	}
	if err != nil {
		res.OK = false
		var p *apierror.Problem
		if errors.As(apierror.From(log, err), &p) {
			res.Error = p
			if s, err := strconv.Atoi(p.GetHeaders().Get("Retry-After")); err == nil {
				res.RetryAfter = s
			}
		}
	}
	return res
}

// badMessage says what is wrong with a message that does not decode.
func badMessage(err error) *apierror.Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apierror.New(400, "bad_message", "The message is not JSON.")
	case errors.As(err, &typ) && typ.Field != "":
		return apierror.New(400, "bad_message", fmt.Sprintf("The field %s has the wrong type.", typ.Field))
	}
	return apierror.New(400, "bad_message", "The message does not fit the device socket's protocol.")
}

// refOf recovers the ref of a message that did not decode, to echo it in the result.
func refOf(b []byte) string {
	var r struct {
		Ref string `json:"ref"`
	}
	_ = json.Unmarshal(b, &r)
	return r.Ref
}
