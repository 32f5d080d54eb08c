// Package push is the node's hub: it holds the sockets of the devices connected to this node
// and the login pages waiting on it, and tells them what the event log says. It learns of new
// challenges, outcomes and unlinks only from the log (HandleEvent, fed by the watermill router),
// never from a side call, so a device on one node hears what another node appended.
package push

import (
	"context"
	"crypto/ed25519"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push/wire"
)

// Challenge and Outcome are the wire's: what a device is shown of a sign-in request, and a
// challenge's final state.
type (
	Challenge = wire.Challenge
	Outcome   = wire.Outcome
)

// Backend is what the hub asks of the application. Every method is safe for concurrent use.
type Backend interface {
	// DevicePublicKey returns the key the device registered.
	DevicePublicKey(ctx context.Context, device uuid.UUID) (ed25519.PublicKey, error)
	// LinkedAccounts returns the accounts the device is linked to now.
	LinkedAccounts(ctx context.Context, device uuid.UUID) ([]uuid.UUID, error)
	// PendingChallenges returns the challenges still waiting for the device's answer.
	PendingChallenges(ctx context.Context, device uuid.UUID) ([]Challenge, error)
	// AcknowledgeDelivery records that the device has the challenge.
	AcknowledgeDelivery(ctx context.Context, device, challenge uuid.UUID) error
	// Answer records the device's signed answer.
	Answer(ctx context.Context, device, challenge uuid.UUID, answer domain.Answer, number int, signature []byte) error
	// Outcome returns the challenge's outcome, or ok=false while it is pending.
	Outcome(ctx context.Context, challenge uuid.UUID) (o Outcome, ok bool, err error)
}

// Hub routes news from the log to this node's sockets and waiting pages.
type Hub struct {
	backend Backend
	opts    Options

	mu sync.Mutex
	// devices holds each device's sockets on this node, oldest first (at most MaxPerDevice).
	devices map[uuid.UUID][]*deviceConn
	waiters map[uuid.UUID]map[chan Outcome]struct{}
	// shown indexes which sockets were sent each open challenge, to tell them its outcome.
	shown map[uuid.UUID]map[*deviceConn]struct{}
	// watchers are security pages waiting for news of their account.
	watchers map[uuid.UUID]map[chan AccountNews]struct{}
	// perAddr counts the device sockets of each client address; waiting counts those that
	// have not authenticated yet, waitingFrom those of each address; seq orders a device's
	// sockets, oldest first.
	perAddr     map[string]int
	waiting     int
	waitingFrom map[string]int
	seq         uint64

	// stopping ends when the node shuts down; active counts the sockets and streams that
	// Shutdown waits for. Add is called under mu and only before stopped is set.
	stopping context.Context
	stop     context.CancelFunc
	stopped  bool
	active   sync.WaitGroup
}

// AccountNews is what a security page hears live about its account.
type AccountNews struct {
	// Kind is device_linked, device_unlinked, push_paused ("This wasn't me" on a device),
	// push_resumed, or sessions_changed (a session of the account began or ended).
	Kind     string    `json:"kind" enum:"device_linked,device_unlinked,push_paused,push_resumed,sessions_changed"`
	DeviceID uuid.UUID `json:"device_id"`
	At       time.Time `json:"at"`
}

// Options tune the hub's sockets.
type Options struct {
	PingInterval time.Duration // default 20s
	WriteTimeout time.Duration // default 10s
	AuthTimeout  time.Duration // time a new socket has to authenticate, default 10s
	ReadLimit    int64         // bytes per message, default 16 KiB
	SendQueue    int           // messages queued per socket before it is dropped as too slow, default 256
	// MaxPerDevice is the number of sockets a device keeps on this node; a newer one closes
	// the oldest (wire.CloseReplaced). Default 3.
	MaxPerDevice int
	// MaxPerAddress caps the sockets from one client address (wire.CloseTooManyFromAddress).
	// Default 1024: phones behind one carrier or office NAT share an address.
	MaxPerAddress int
	// MaxWaiting caps the sockets of this node that have not authenticated yet, and
	// MaxWaitingPerAddress those of one address, so that one address cannot take every place
	// (wire.CloseTooManyWaiting). Defaults 256 and 32.
	MaxWaiting           int
	MaxWaitingPerAddress int
	OnDelivered          func(challenge uuid.UUID, device uuid.UUID)
	OnOutcomeSent        func(challenge uuid.UUID)
	// OnPushSent, if set, is called for each socket a new challenge is handed to, with the
	// time the challenge was issued (stats.go).
	OnPushSent func(challenge uuid.UUID, issuedAt time.Time)
}

func (o *Options) setDefaults() {
	if o.PingInterval <= 0 {
		o.PingInterval = 20 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 10 * time.Second
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 16 << 10
	}
	if o.SendQueue <= 0 {
		o.SendQueue = 256
	}
	if o.MaxPerDevice <= 0 {
		o.MaxPerDevice = 3
	}
	if o.MaxPerAddress <= 0 {
		o.MaxPerAddress = 1024
	}
	if o.MaxWaiting <= 0 {
		o.MaxWaiting = 256
	}
	if o.MaxWaitingPerAddress <= 0 {
		o.MaxWaitingPerAddress = 32
	}
}

// NewHub returns a hub over backend.
func NewHub(backend Backend, opts Options) *Hub {
	opts.setDefaults()
	stopping, stop := context.WithCancel(context.Background())
	return &Hub{
		backend:  backend,
		opts:     opts,
		devices:  make(map[uuid.UUID][]*deviceConn),
		waiters:  make(map[uuid.UUID]map[chan Outcome]struct{}),
		shown:    make(map[uuid.UUID]map[*deviceConn]struct{}),
		watchers: make(map[uuid.UUID]map[chan AccountNews]struct{}),
		perAddr:  make(map[string]int),

		waitingFrom: make(map[string]int),
		stopping:    stopping,
		stop:        stop,
	}
}

// HandleEvent tells the sockets and pages what one event of the log means for them. Events
// that concern no socket or page are ignored.
func (h *Hub) HandleEvent(ev domain.Event) { h.handle(ev, time.Time{}) }

// handle is HandleEvent for an event the log recorded at recorded (zero: not known).
func (h *Hub) handle(ev domain.Event, recorded time.Time) {
	switch e := ev.(type) {
	case domain.ChallengeIssued:
		if e.PushMuted {
			return
		}
		// The frame is encoded once and shared by every socket it goes to, and one goroutine
		// writes it to them all (writeAll).
		var frame []byte
		var writers []*deviceConn
		for _, d := range e.Devices {
			for _, conn := range h.conns(d.DeviceID) {
				if frame == nil {
					c := Challenge{ID: e.ChallengeID, AccountID: e.AccountID, Context: e.Context, ExpiresAt: e.ExpiresAt, RecordedAt: recorded}
					frame = encode(wire.Message{Type: wire.TypeChallenge, Challenge: &c})
				}
				if conn.sendChallenge(e.ChallengeID, e.AccountID, frame) {
					writers = append(writers, conn)
				}
				h.pushSent(e.ChallengeID, e.At)
			}
		}
		if len(writers) > 0 {
			go writeAll(writers)
		}
	case domain.DeviceUnlinked:
		if conns := h.conns(e.DeviceID); len(conns) > 0 {
			frame := encode(wire.Message{Type: wire.TypeUnlinked, AccountID: e.AccountID})
			for _, conn := range conns {
				conn.unlinked(e.AccountID, frame)
			}
		}
		h.tell(e.AccountID, AccountNews{Kind: "device_unlinked", DeviceID: e.DeviceID, At: e.At})
	case domain.DeviceLinked:
		if conns := h.conns(e.DeviceID); len(conns) > 0 {
			frame := encode(wire.Message{Type: wire.TypeLinked, AccountID: e.AccountID})
			for _, conn := range conns {
				conn.linked(e.AccountID, frame)
			}
		}
		h.tell(e.AccountID, AccountNews{Kind: "device_linked", DeviceID: e.DeviceID, At: e.At})
	case domain.PushMuted:
		h.tell(e.AccountID, AccountNews{Kind: "push_paused", At: e.At})
	case domain.PushResumed:
		h.tell(e.AccountID, AccountNews{Kind: "push_resumed", At: e.At})
	case domain.SessionStarted:
		h.tell(e.AccountID, AccountNews{Kind: "sessions_changed", At: e.At})
	case domain.SignedOut:
		h.tell(e.AccountID, AccountNews{Kind: "sessions_changed", At: e.At})
	case domain.SessionsEnded:
		h.tell(e.AccountID, AccountNews{Kind: "sessions_changed", At: e.At})
	default:
		if o, ok := outcomeOf(ev); ok {
			h.settle(o)
		}
	}
}

// outcomeOf returns the outcome a final challenge event states.
func outcomeOf(ev domain.Event) (Outcome, bool) {
	f, ok := ev.(domain.FinalEvent)
	if !ok {
		return Outcome{}, false
	}
	return wire.NewOutcome(f.OfChallenge(), f.Outcome(), f.DecidedBy(), f.OccurredAt()), true
}

// settle tells the waiting pages and the devices that were shown the challenge its outcome.
func (h *Hub) settle(o Outcome) {
	h.mu.Lock()
	waiters := h.waiters[o.ChallengeID]
	delete(h.waiters, o.ChallengeID)
	shown := h.shown[o.ChallengeID]
	delete(h.shown, o.ChallengeID)
	h.mu.Unlock()
	for ch := range waiters {
		select {
		case ch <- o:
		default:
		}
	}
	if len(shown) > 0 {
		frame := encode(wire.Message{Type: wire.TypeOutcome, Outcome: &o})
		var writers []*deviceConn
		for conn := range shown {
			if conn.queueFrame(frame) {
				writers = append(writers, conn)
			}
		}
		if len(writers) > 0 {
			go writeAll(writers)
		}
	}
	if h.opts.OnOutcomeSent != nil && len(waiters) > 0 {
		h.opts.OnOutcomeSent(o.ChallengeID)
	}
}

// Await registers interest in a challenge's outcome. The channel receives it once, when the
// log states it; stop releases the registration. A caller registers first and then checks
// whether the outcome is already known, so that nothing falls between the two.
func (h *Hub) Await(challenge uuid.UUID) (outcome <-chan Outcome, stop func()) {
	ch := make(chan Outcome, 1)
	h.mu.Lock()
	set := h.waiters[challenge]
	if set == nil {
		set = make(map[chan Outcome]struct{})
		h.waiters[challenge] = set
	}
	set[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		if set := h.waiters[challenge]; set != nil {
			delete(set, ch)
			if len(set) == 0 {
				delete(h.waiters, challenge)
			}
		}
		h.mu.Unlock()
	}
}

// WaitOutcome waits for a challenge's outcome: at once when it is already known.
func (h *Hub) WaitOutcome(ctx context.Context, challenge uuid.UUID) (Outcome, error) {
	ch, stop := h.Await(challenge)
	defer stop()
	if o, ok, err := h.backend.Outcome(ctx, challenge); err != nil {
		return Outcome{}, err
	} else if ok {
		return o, nil
	}
	select {
	case o := <-ch:
		return o, nil
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
}

// WatchAccount registers a security page for news of its account until stop is called.
func (h *Hub) WatchAccount(account uuid.UUID) (news <-chan AccountNews, stop func()) {
	ch := make(chan AccountNews, 16)
	h.mu.Lock()
	set := h.watchers[account]
	if set == nil {
		set = make(map[chan AccountNews]struct{})
		h.watchers[account] = set
	}
	set[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		if set := h.watchers[account]; set != nil {
			delete(set, ch)
			if len(set) == 0 {
				delete(h.watchers, account)
			}
		}
		h.mu.Unlock()
	}
}

func (h *Hub) tell(account uuid.UUID, n AccountNews) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.watchers[account] {
		select {
		case ch <- n:
		default: // a page that does not read loses news, never blocks the hub
		}
	}
}

// Connected returns the number of device sockets on this node.
func (h *Hub) Connected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, conns := range h.devices {
		n += len(conns)
	}
	return n
}

func (h *Hub) conns(device uuid.UUID) []*deviceConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.devices[device])
}

// add registers an authenticated socket and returns the oldest sockets of the same device
// beyond MaxPerDevice, which the caller closes: they receive nothing more. When the node is
// shutting down it registers nothing and returns stopped.
func (h *Hub) add(c *deviceConn) (replaced []*deviceConn, stopped bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, true
	}
	h.seq++
	c.seq = h.seq
	conns := append(h.devices[c.device], c)
	if extra := len(conns) - h.opts.MaxPerDevice; extra > 0 {
		replaced = slices.Clone(conns[:extra])
		conns = slices.Clone(conns[extra:])
	}
	h.devices[c.device] = conns
	return replaced, false
}

func (h *Hub) remove(c *deviceConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if conns := h.devices[c.device]; conns != nil {
		if i := slices.Index(conns, c); i >= 0 {
			conns = slices.Delete(conns, i, i+1)
		}
		if len(conns) == 0 {
			delete(h.devices, c.device)
		} else {
			h.devices[c.device] = conns
		}
	}
	for _, id := range c.shownChallenges() {
		if set := h.shown[id]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(h.shown, id)
			}
		}
	}
}

func (h *Hub) markShown(challenge uuid.UUID, c *deviceConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.shown[challenge]
	if set == nil {
		set = make(map[*deviceConn]struct{})
		h.shown[challenge] = set
	}
	set[c] = struct{}{}
}
