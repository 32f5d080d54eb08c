package push

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/apierror"
)

// Message is one frame of the device socket, in either direction; Type says which fields
// are set. See docs/api.md for the protocol.
type Message struct {
	Type string `json:"type"`
	// hello (server): the nonce the device signs.
	Nonce []byte `json:"nonce,omitempty"`
	// auth (device): the device and its signature of domain.DeviceAuthPayload.
	DeviceID  uuid.UUID `json:"device_id,omitzero"`
	Signature []byte    `json:"signature,omitempty"`
	// ready (server): the accounts linked to the device.
	Accounts []uuid.UUID `json:"accounts,omitempty"`
	// challenge (server).
	Challenge *Challenge `json:"challenge,omitempty"`
	// outcome (server).
	Outcome *Outcome `json:"outcome,omitempty"`
	// unlinked, linked (server).
	AccountID uuid.UUID `json:"account_id,omitzero"`
	// ack, answer (device); result (server).
	ChallengeID uuid.UUID `json:"challenge_id,omitzero"`
	// answer (device): approve, deny or fraud, and the typed number for approve.
	Answer string `json:"answer,omitempty"`
	Number int    `json:"number,omitempty"`
	// Ref is echoed in the result of an answer.
	Ref string `json:"ref,omitempty"`
	// result (server).
	OK    bool              `json:"ok,omitempty"`
	Error *apierror.Problem `json:"error,omitempty"`
}

// Close reasons of the device socket.
const (
	ReasonAuthFailed   = "authentication failed"
	ReasonNoAccount    = "no linked account left"
	ReasonTooSlow      = "too slow to read its messages"
	ReasonShuttingDown = "server shutting down"
)

// ServeDevice runs one device socket: the device proves itself by signing a nonce, then
// receives every pending challenge of its accounts and every new one, and answers them.
func (h *Hub) ServeDevice(log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered the request
		}
		ws.SetReadLimit(h.opts.ReadLimit)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		device, accounts, err := h.authenticate(ctx, ws)
		if err != nil {
			log.Info("device socket refused", "err", err)
			ws.Close(websocket.StatusPolicyViolation, ReasonAuthFailed)
			return
		}
		if len(accounts) == 0 {
			ws.Close(websocket.StatusNormalClosure, ReasonNoAccount)
			return
		}
		c := &deviceConn{hub: h, ws: ws, device: device, cancel: cancel, out: make(chan outbound, h.opts.SendQueue),
			sent: make(map[uuid.UUID]bool), accounts: make(map[uuid.UUID]bool)}
		for _, a := range accounts {
			c.accounts[a] = true
		}
		h.add(c)
		defer h.remove(c)
		go c.writeLoop(ctx)
		c.enqueue(outbound{msg: Message{Type: "ready", DeviceID: device, Accounts: accounts}})
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
}

func (h *Hub) authenticate(ctx context.Context, ws *websocket.Conn) (uuid.UUID, []uuid.UUID, error) {
	actx, cancel := context.WithTimeout(ctx, h.opts.AuthTimeout)
	defer cancel()
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return uuid.Nil, nil, err
	}
	if err := wsjson.Write(actx, ws, Message{Type: "hello", Nonce: nonce}); err != nil {
		return uuid.Nil, nil, err
	}
	var m Message
	if err := wsjson.Read(actx, ws, &m); err != nil {
		return uuid.Nil, nil, err
	}
	if m.Type != "auth" || m.DeviceID == uuid.Nil {
		return uuid.Nil, nil, errors.New("the first message is not an auth message")
	}
	pub, err := h.backend.DevicePublicKey(actx, m.DeviceID)
	if err != nil {
		return uuid.Nil, nil, err
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, domain.DeviceAuthPayload(m.DeviceID, nonce), m.Signature) {
		return uuid.Nil, nil, domain.ErrBadSignature
	}
	accounts, err := h.backend.LinkedAccounts(actx, m.DeviceID)
	return m.DeviceID, accounts, err
}

// outbound is a message for the writer, or an order to close.
type outbound struct {
	msg         Message
	closeCode   websocket.StatusCode
	closeReason string
}

type deviceConn struct {
	hub    *Hub
	ws     *websocket.Conn
	device uuid.UUID
	cancel context.CancelFunc
	out    chan outbound

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
		if o.closeReason != "" {
			c.closing = true
		}
	default:
		c.closing = true
		go func() {
			c.ws.Close(websocket.StatusPolicyViolation, ReasonTooSlow)
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
	c.enqueue(outbound{msg: Message{Type: "challenge", Challenge: &ch}})
}

func (c *deviceConn) sendOutcome(o Outcome) {
	c.enqueue(outbound{msg: Message{Type: "outcome", Outcome: &o}})
}

// unlinked tells the device it lost an account, and closes the socket when none is left.
func (c *deviceConn) unlinked(account uuid.UUID) {
	c.mu.Lock()
	delete(c.accounts, account)
	left := len(c.accounts)
	c.mu.Unlock()
	c.enqueue(outbound{msg: Message{Type: "unlinked", AccountID: account}})
	if left == 0 {
		c.enqueue(outbound{closeCode: websocket.StatusNormalClosure, closeReason: ReasonNoAccount})
	}
}

// linked tells the device it serves one more account.
func (c *deviceConn) linked(account uuid.UUID) {
	c.mu.Lock()
	c.accounts[account] = true
	c.mu.Unlock()
	c.enqueue(outbound{msg: Message{Type: "linked", AccountID: account}})
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

func (c *deviceConn) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-c.out:
			if o.closeReason != "" {
				c.ws.Close(o.closeCode, o.closeReason)
				c.cancel()
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

func (c *deviceConn) readLoop(ctx context.Context, log *slog.Logger) {
	for {
		var m Message
		err := wsjson.Read(ctx, c.ws, &m)
		if err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				c.enqueue(outbound{msg: Message{Type: "result", Error: apierror.New(400, "bad_message", "The message is not JSON.")}})
				continue
			}
			c.cancel()
			return
		}
		switch m.Type {
		case "ack":
			if err := c.hub.backend.AcknowledgeDelivery(ctx, c.device, m.ChallengeID); err != nil {
				log.Debug("device ack refused", "device", c.device, "challenge", m.ChallengeID, "err", err)
			} else if c.hub.opts.OnDelivered != nil {
				c.hub.opts.OnDelivered(m.ChallengeID, c.device)
			}
		case "answer":
			res := Message{Type: "result", Ref: m.Ref, ChallengeID: m.ChallengeID, OK: true}
			answer, err := domain.ParseAnswer(m.Answer)
			if err == nil {
				err = c.hub.backend.Answer(ctx, c.device, m.ChallengeID, answer, m.Number, m.Signature)
			}
			if err != nil {
				res.OK = false
				var p *apierror.Problem
				if errors.As(apierror.From(log, err), &p) {
					res.Error = p
				}
			}
			c.enqueue(outbound{msg: res})
		default:
			c.enqueue(outbound{msg: Message{Type: "result", Ref: m.Ref, Error: apierror.New(400, "bad_message", "Unknown message type.")}})
		}
	}
}
