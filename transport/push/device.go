package push

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
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
//
// ServeDevice returns once the device is authenticated and its socket handed to a goroutine
// of its own, which reads it until it ends and then closes it; the request's handler does
// not wait for the socket to end, so that its deep stack is not kept for the socket's life.
// Nothing of w or r is used after ServeDevice returns.
func (h *Hub) ServeDevice(w http.ResponseWriter, r *http.Request, log *slog.Logger, peer Peer) {
	admitted, refusal := h.admit(peer.Addr)
	ws, err := websocket.Accept(smallBuffers{w}, r, nil)
	if err != nil {
		if admitted {
			h.leave(peer.Addr, true)
		}
		return // Accept has answered the request
	}
	if !admitted {
		ws.Close(refusal.Code, refusal.Reason)
		ws.CloseNow()
		return
	}
	ws.SetReadLimit(h.opts.ReadLimit)
	// The socket outlives the request: its context keeps the request's values, not its end.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	handedOver := false
	defer func() {
		if !handedOver {
			cancel()
			ws.CloseNow()
			h.leave(peer.Addr, true)
		}
	}()

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
	// ready always lists the accounts, none included, so that a device unlinked while it was
	// offline learns it and forgets their secrets.
	ready := encode(wire.Message{Type: wire.TypeReady, DeviceID: device, Accounts: accounts})
	if len(accounts) == 0 {
		wctx, wcancel := context.WithTimeout(ctx, h.opts.WriteTimeout)
		err := ws.Write(wctx, websocket.MessageText, ready)
		wcancel()
		if err == nil {
			ws.Close(wire.CloseNoAccount.Code, wire.CloseNoAccount.Reason)
		}
		return
	}

	// The socket is in the hub before the device can read ready, so that the hub counts its
	// sockets in the order their devices saw them ready (the oldest is the one replaced); ready
	// is queued first, with its writer marked running, so that no frame the hub queues meanwhile
	// goes before it.
	c := &deviceConn{hub: h, ws: ws, device: device, peer: peer, cancel: cancel, accounts: accounts,
		queue: [][]byte{ready}, writing: true}
	old, stopped := h.add(c)
	go c.writeLoop()
	for _, o := range old {
		o.closeAfterQueue(wire.CloseReplaced)
	}
	handedOver = true
	h.authenticated(peer.Addr)
	if stopped {
		c.closeNow(wire.CloseShuttingDown)
	} else {
		c.startPings()
		pending, err := h.backend.PendingChallenges(ctx, device)
		if err != nil {
			log.Error("device socket: pending challenges", "device", device, "err", err)
		}
		for _, ch := range pending {
			if c.sendChallenge(ch.ID, ch.AccountID, encode(wire.Message{Type: wire.TypeChallenge, Challenge: &ch})) {
				go c.writeLoop()
			}
		}
	}
	go c.run(ctx, log)
}

// smallBuffers hands coder/websocket small buffers for the hijacked connection instead of
// net/http's 4 KiB reader and writer: device messages are small, and an idle socket should
// cost little. Bytes the client sent early, already buffered, are kept.
type smallBuffers struct{ http.ResponseWriter }

const (
	readBufferSize  = 512
	writeBufferSize = 1024
)

func (s smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	var r io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn)
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReadWriter(bufio.NewReaderSize(r, readBufferSize), bufio.NewWriterSize(conn, writeBufferSize)), nil
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

// deviceConn is an authenticated device socket. While it is idle it holds one goroutine
// (its reader) and a timer for its pings; a writer goroutine runs only while frames wait in
// its queue, and the queue is released when it empties.
type deviceConn struct {
	hub    *Hub
	ws     *websocket.Conn
	device uuid.UUID
	peer   Peer
	cancel context.CancelFunc
	seq    uint64 // guarded by hub.mu

	mu sync.Mutex
	// queue holds the encoded frames the writer has yet to send, at most Options.SendQueue;
	// final is the close the writer sends once the queue is empty.
	queue    [][]byte
	final    *wire.Close
	writing  bool // a writer goroutine is draining the queue
	closing  bool // nothing more is queued
	pinger   *time.Timer
	sent     map[uuid.UUID]struct{} // challenges shown on this socket; nil until the first
	accounts []uuid.UUID
}

// encode returns a message's frame. The messages are plain data, which always encode.
func encode(m wire.Message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("push: encode a %s message: %v", m.Type, err))
	}
	return b
}

// enqueue hands a frame to the writer; a socket whose queue is full is too slow and closed.
func (c *deviceConn) enqueue(frame []byte) {
	if c.queueFrame(frame) {
		go c.writeLoop()
	}
}

// queueFrame queues a frame and reports whether the socket needs a writer, which the caller
// must then run (writeLoop): none was running, and the frame is the writer's now. A socket
// whose queue is full is too slow and closed.
func (c *deviceConn) queueFrame(frame []byte) (start bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	if len(c.queue) >= c.hub.opts.SendQueue {
		c.closing = true
		go func() {
			c.ws.Close(wire.CloseTooSlow.Code, wire.CloseTooSlow.Reason)
			c.cancel()
		}()
		return false
	}
	c.queue = append(c.queue, frame)
	if c.writing {
		return false
	}
	c.writing = true
	return true
}

// writeAll runs the writers of several sockets on one goroutine, one socket after the other.
// A challenge or an outcome goes to every device of an account at once: one goroutine, which
// the scheduler runs next, writes all of their frames, a few microseconds each, instead of one
// goroutine per socket of which all but the last wait behind whatever else the commit woke
// (the sign-in's HTTP answer, the read models). A socket whose write blocks (its peer has
// stopped reading and the kernel's buffer is full) delays the sockets after it in this call
// until its write timeout ends it, as it would its own queue.
func writeAll(conns []*deviceConn) {
	for _, c := range conns {
		c.writeLoop()
	}
}

// closeAfterQueue closes the socket once what is queued has been sent.
func (c *deviceConn) closeAfterQueue(w wire.Close) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing = true
	c.final = &w
	c.startWriter()
}

// closeNow closes the socket at once, whatever is queued.
func (c *deviceConn) closeNow(w wire.Close) {
	c.mu.Lock()
	was := c.closing
	c.closing = true
	c.mu.Unlock()
	if !was {
		c.ws.Close(w.Code, w.Reason)
		c.cancel()
	}
}

// startWriter starts the writer unless one runs. c.mu is held.
func (c *deviceConn) startWriter() {
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// writeLoop sends the queued frames, each within the write timeout, then the final close if
// one was asked, and ends when the queue is empty. A frame that cannot be written ends the
// socket.
func (c *deviceConn) writeLoop() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			final := c.final
			c.queue, c.final, c.writing = nil, nil, false
			c.mu.Unlock()
			if final != nil {
				c.ws.Close(final.Code, final.Reason)
				c.cancel()
			}
			return
		}
		frame := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.mu.Unlock()
		wctx, cancel := context.WithTimeout(context.Background(), c.hub.opts.WriteTimeout)
		err := c.ws.Write(wctx, websocket.MessageText, frame)
		cancel()
		if err != nil {
			c.mu.Lock()
			c.closing = true
			c.queue, c.final = nil, nil // writing stays true: no writer starts again
			c.mu.Unlock()
			c.cancel()
			return
		}
	}
}

// startPings pings the device every PingInterval from a timer, not a goroutine of its own;
// a ping without its pong within the write timeout reaps the socket.
func (c *deviceConn) startPings() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pinger = time.AfterFunc(c.hub.opts.PingInterval, c.ping)
}

func (c *deviceConn) ping() {
	ctx, cancel := context.WithTimeout(context.Background(), c.hub.opts.WriteTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		c.cancel() // a dead peer: reap the socket
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing && c.pinger != nil {
		c.pinger.Reset(c.hub.opts.PingInterval)
	}
}

// run reads the socket until it ends, then releases what the socket held.
func (c *deviceConn) run(ctx context.Context, log *slog.Logger) {
	defer func() {
		c.cancel()
		c.mu.Lock()
		c.closing = true
		if c.pinger != nil {
			c.pinger.Stop()
			c.pinger = nil
		}
		c.mu.Unlock()
		c.hub.remove(c)
		c.ws.CloseNow()
		c.hub.leave(c.peer.Addr, false)
	}()
	c.readLoop(ctx, log)
}

// sendChallenge shows a challenge once per socket, however often it is announced; frame is
// the challenge message, encoded once for every socket it goes to. It reports, as queueFrame,
// whether the caller must run the socket's writer.
func (c *deviceConn) sendChallenge(id, account uuid.UUID, frame []byte) (start bool) {
	c.mu.Lock()
	if _, ok := c.sent[id]; ok {
		c.mu.Unlock()
		return false
	}
	if c.sent == nil {
		c.sent = make(map[uuid.UUID]struct{}, 1)
	}
	c.sent[id] = struct{}{}
	if !slices.Contains(c.accounts, account) {
		c.accounts = append(c.accounts, account)
	}
	c.mu.Unlock()
	c.hub.markShown(id, c)
	return c.queueFrame(frame)
}

// unlinked tells the device it lost an account, and closes the socket when none is left.
func (c *deviceConn) unlinked(account uuid.UUID, frame []byte) {
	c.mu.Lock()
	if i := slices.Index(c.accounts, account); i >= 0 {
		c.accounts = slices.Delete(c.accounts, i, i+1)
	}
	left := len(c.accounts)
	c.mu.Unlock()
	c.enqueue(frame)
	if left == 0 {
		c.closeAfterQueue(wire.CloseNoAccount)
	}
}

// linked tells the device it serves one more account.
func (c *deviceConn) linked(account uuid.UUID, frame []byte) {
	c.mu.Lock()
	if !slices.Contains(c.accounts, account) {
		c.accounts = append(c.accounts, account)
	}
	c.mu.Unlock()
	c.enqueue(frame)
}

// shownChallenges returns the challenges shown on this socket.
func (c *deviceConn) shownChallenges() []uuid.UUID {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]uuid.UUID, 0, len(c.sent))
	for id := range c.sent {
		out = append(out, id)
	}
	return out
}

// readLoop reads the device's messages until the socket ends. A message that is not valid
// JSON, or whose fields have the wrong types, is answered with a result 400 bad_message and
// the socket stays open.
func (c *deviceConn) readLoop(ctx context.Context, log *slog.Logger) {
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		var m wire.Message
		if err := json.Unmarshal(b, &m); err != nil {
			c.enqueue(encode(wire.Message{Type: wire.TypeResult, Ref: refOf(b), Error: badMessage(err)}))
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
			c.enqueue(encode(c.answer(ctx, log, m)))
		default:
			c.enqueue(encode(wire.Message{Type: wire.TypeResult, Ref: m.Ref, Error: apierror.New(400, "bad_message", "Unknown message type.")}))
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
