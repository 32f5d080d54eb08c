// Package bridge makes the event log a watermill message.Subscriber, so that projections, push
// hubs and the audit tail run as handlers of a watermill Router with its middleware. The topic
// of a subscription is the consumer's name: its checkpoint is kept under that name, and a
// restarted consumer resumes after the last event it acknowledged.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// Checkpoints keeps the last position each named consumer acknowledged: the port's
// capability (eventstore.Checkpoints), which every backend, the read models' set and the push
// hub's live checkpoints implement.
type Checkpoints = eventstore.Checkpoints

// Metadata keys of the messages a Subscriber delivers.
const (
	MetaType          = "event_type"
	MetaSchemaVersion = "schema_version"
	MetaStream        = "stream"
	MetaVersion       = "stream_version"
	MetaPosition      = "position"
	MetaCorrelationID = "correlation_id"
	MetaCausationID   = "causation_id"
	MetaActor         = "actor"
	MetaRecordedAt    = "recorded_at"
)

// ErrSubscriberClosed is returned by Subscribe after Close.
var ErrSubscriberClosed = errors.New("bridge: subscriber closed")

// Config tunes a Subscriber.
type Config struct {
	// NackDelay is how long a nacked message waits before it is delivered again. Default 100ms.
	NackDelay time.Duration
	// CloseTimeout bounds how long Close waits for the handler of a delivered message to ack
	// or nack it. Default 30s.
	CloseTimeout time.Duration
	// OnCaughtUp, if set, is called once per subscription when it has delivered the history.
	OnCaughtUp func(topic string)
	// Batch, above 1, lets one message carry up to Batch events: those the subscription has
	// already received when the handler is free for the next message. It never waits for more,
	// so a lone event goes at once, alone. Read a message with Events. Default 1: one event per
	// message, read with Event or Events.
	Batch int
	// Linger, with Batch above 1, makes a message of live events wait up to Linger after its
	// first event for more (or until Batch are there) before it goes to the handler. A
	// consumer that is not in a hurry (a read model) then leaves the moment after a commit to
	// those that are (the push hub, on the same processor), and folds more events per message.
	// Default 0: never wait.
	Linger time.Duration
	// Urgent marks the consumer's subscription eventstore.SubscribeFrom.Urgent: people wait
	// for what it does with each event (the push hub).
	Urgent bool
	// Logger defaults to watermill.NopLogger.
	Logger watermill.LoggerAdapter
}

func (c *Config) setDefaults() {
	if c.NackDelay <= 0 {
		c.NackDelay = 100 * time.Millisecond
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
	if c.Batch < 1 {
		c.Batch = 1
	}
}

// Subscriber delivers the event log as watermill messages, one at a time and in global order:
// the next message only after the previous one is acked; a nacked message is delivered again,
// with the same events. A message carries one event, or several if Config.Batch allows.
type Subscriber struct {
	store eventstore.Store
	cps   Checkpoints
	cfg   Config

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a Subscriber over store that keeps checkpoints in cps.
func NewSubscriber(store eventstore.Store, cps Checkpoints, cfg Config) *Subscriber {
	cfg.setDefaults()
	return &Subscriber{store: store, cps: cps, cfg: cfg, closing: make(chan struct{})}
}

// Subscribe starts delivering the events after the checkpoint of the consumer named topic.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic == "" {
		return nil, fmt.Errorf("bridge subscribe: the topic (consumer name) is empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSubscriberClosed
	}
	from, err := s.cps.LoadCheckpoint(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("bridge subscribe %s: %w", topic, err)
	}
	out := make(chan *message.Message)
	c := &consumer{s: s, topic: topic, out: out, acked: from, saved: from, kick: make(chan struct{}, 1)}
	s.wg.Add(2)
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		defer s.wg.Done()
		c.saveLoop(cctx)
	}()
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer cancel()
		c.run(ctx)
	}()
	return out, nil
}

// Close stops every subscription once the message in flight is settled, saves each
// consumer's checkpoint, and closes the output channels.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// consumer is one subscription of one named consumer.
type consumer struct {
	s     *Subscriber
	topic string
	out   chan *message.Message

	saveMu sync.Mutex // one checkpoint write at a time, so that none goes backwards
	mu     sync.Mutex
	acked  eventstore.Position // last acknowledged
	saved  eventstore.Position // last written to the checkpoint store
	kick   chan struct{}
}

func (c *consumer) run(ctx context.Context) {
	defer c.flush()
	for {
		if c.stopping(ctx) {
			return
		}
		c.mu.Lock()
		from := c.acked
		c.mu.Unlock()
		start := eventstore.After(from)
		if c.s.cfg.Urgent {
			start = start.Urgent()
		}
		sub, err := c.s.store.Subscribe(ctx, start)
		if err != nil {
			c.s.cfg.Logger.Error("bridge: subscribe failed; retrying", err, watermill.LogFields{"topic": c.topic})
			if !c.sleep(ctx, time.Second) {
				return
			}
			continue
		}
		err = c.deliver(ctx, sub)
		sub.Close()
		if err == nil {
			return
		}
		c.s.cfg.Logger.Error("bridge: subscription failed; resubscribing", err, watermill.LogFields{"topic": c.topic})
		if !c.sleep(ctx, time.Second) {
			return
		}
	}
}

// deliver hands the subscription's events to the handler, one message at a time. It returns
// nil when the consumer is stopping, or the subscription's error.
func (c *consumer) deliver(ctx context.Context, sub eventstore.Subscription) error {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-c.s.closing:
			sub.Close()
		case <-stop:
		}
	}()
	if c.s.cfg.Batch > 1 {
		return c.deliverBatches(ctx, sub)
	}
	for {
		m, err := sub.Recv()
		if err != nil {
			if c.stopping(ctx) {
				return nil
			}
			return err
		}
		if m.CaughtUp {
			c.caughtUp()
			continue
		}
		if !c.handle(ctx, []*eventstore.RecordedEvent{m.Event}) {
			return nil
		}
	}
}

func (c *consumer) caughtUp() {
	if c.s.cfg.OnCaughtUp != nil {
		c.s.cfg.OnCaughtUp(c.topic)
	}
}

// handle delivers events in one message until it is acked. It returns false when the consumer
// stops first.
func (c *consumer) handle(ctx context.Context, events []*eventstore.RecordedEvent) bool {
	last := events[len(events)-1].Position
	for {
		msg := batchMessage(events)
		msg.SetContext(ctx)
		select {
		case c.out <- msg:
		case <-c.s.closing:
			return false
		case <-ctx.Done():
			return false
		}
		// The handler has the message: wait for its verdict, even while closing (bounded), so
		// that an ack is never lost and the event handled twice.
		var grace <-chan time.Time
		closing := c.s.closing
		for settled := false; !settled; {
			select {
			case <-msg.Acked():
				c.ack(last)
				return true
			case <-msg.Nacked():
				settled = true
			case <-closing:
				closing = nil
				grace = time.After(c.s.cfg.CloseTimeout)
			case <-grace:
				return false
			}
		}
		if !c.sleep(ctx, c.s.cfg.NackDelay) {
			return false
		}
	}
}

func (c *consumer) ack(pos eventstore.Position) {
	c.mu.Lock()
	c.acked = pos
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// saveLoop writes the newest acknowledged position whenever it moved: checkpoints lag the acks
// by at most one write, and flush writes the last one when the consumer stops.
func (c *consumer) saveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		if err := c.save(ctx); err != nil && ctx.Err() == nil {
			c.s.cfg.Logger.Error("bridge: save checkpoint failed", err, watermill.LogFields{"topic": c.topic})
		}
	}
}

func (c *consumer) save(ctx context.Context) error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	pos, saved := c.acked, c.saved
	c.mu.Unlock()
	if pos == saved {
		return nil
	}
	if err := c.s.cps.SaveCheckpoint(ctx, c.topic, pos); err != nil {
		return err
	}
	c.mu.Lock()
	if pos > c.saved {
		c.saved = pos
	}
	c.mu.Unlock()
	return nil
}

func (c *consumer) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.save(ctx); err != nil {
		c.s.cfg.Logger.Error("bridge: save last checkpoint failed", err, watermill.LogFields{"topic": c.topic})
	}
}

func (c *consumer) stopping(ctx context.Context) bool {
	select {
	case <-c.s.closing:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

func (c *consumer) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.s.closing:
		return false
	case <-ctx.Done():
		return false
	}
}

// Message turns a recorded event into a watermill message: the event ID as UUID, the data as
// payload, and the rest as metadata.
func Message(ev *eventstore.RecordedEvent) *message.Message {
	msg := message.NewMessage(ev.ID.String(), ev.Data)
	msg.Metadata = message.Metadata{
		MetaType:          ev.Type,
		MetaSchemaVersion: strconv.Itoa(ev.SchemaVersion),
		MetaStream:        ev.Stream,
		MetaVersion:       strconv.FormatUint(ev.Version, 10),
		MetaPosition:      strconv.FormatUint(uint64(ev.Position), 10),
		MetaCorrelationID: ev.Metadata.CorrelationID,
		MetaCausationID:   ev.Metadata.CausationID,
		MetaActor:         ev.Metadata.Actor,
		MetaRecordedAt:    ev.Metadata.RecordedAt.Format(time.RFC3339Nano),
	}
	return msg
}

// Event turns a message delivered by a Subscriber back into the recorded event.
func Event(msg *message.Message) (eventstore.RecordedEvent, error) {
	var ev eventstore.RecordedEvent
	var err error
	if ev.ID, err = uuid.Parse(msg.UUID); err != nil {
		return ev, fmt.Errorf("bridge: message %q: bad event ID: %w", msg.UUID, err)
	}
	md := msg.Metadata
	sv, err1 := strconv.Atoi(md.Get(MetaSchemaVersion))
	ver, err2 := strconv.ParseUint(md.Get(MetaVersion), 10, 64)
	pos, err3 := strconv.ParseUint(md.Get(MetaPosition), 10, 64)
	at, err4 := time.Parse(time.RFC3339Nano, md.Get(MetaRecordedAt))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return ev, fmt.Errorf("bridge: message %s: bad metadata: %w", msg.UUID, err)
	}
	ev.Type = md.Get(MetaType)
	ev.SchemaVersion = sv
	ev.Stream = md.Get(MetaStream)
	ev.Version = ver
	ev.Position = eventstore.Position(pos)
	ev.Data = msg.Payload
	ev.Metadata = eventstore.Metadata{
		CorrelationID: md.Get(MetaCorrelationID),
		CausationID:   md.Get(MetaCausationID),
		Actor:         md.Get(MetaActor),
		RecordedAt:    at,
	}
	return ev, nil
}
