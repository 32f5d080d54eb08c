package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// MetaBatch is the metadata key of a message that carries several events: their number. Its
// MetaPosition is the last event's position, and its payload the events (see Events).
const MetaBatch = "batch"

// received is what the read-ahead goroutine took from the subscription.
type received struct {
	m   eventstore.Message
	err error
}

// deliverBatches is deliver when Config.Batch is above 1: a goroutine receives the
// subscription's messages ahead into a buffer of Batch, and each message to the handler takes
// the events the buffer holds, waiting only for the first.
func (c *consumer) deliverBatches(ctx context.Context, sub eventstore.Subscription) error {
	size := c.s.cfg.Batch
	ahead := make(chan received, size)
	done := make(chan struct{})
	reader := make(chan struct{})
	go func() {
		defer close(reader)
		for {
			m, err := sub.Recv()
			select {
			case ahead <- received{m, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(done)
		sub.Close() // unblocks Recv
		<-reader
	}()
	var held *received // taken from the buffer, not yet delivered
	events := make([]*eventstore.RecordedEvent, 0, size)
	for {
		r := held
		held = nil
		if r == nil {
			r = new(received)
			*r = <-ahead
		}
		if r.err != nil {
			if c.stopping(ctx) {
				return nil
			}
			return r.err
		}
		if r.m.CaughtUp {
			c.caughtUp()
			continue
		}
		events = append(events[:0], r.m.Event)
		var linger <-chan time.Time
		var lingerTimer *time.Timer
		if c.s.cfg.Linger > 0 {
			lingerTimer = time.NewTimer(c.s.cfg.Linger)
			linger = lingerTimer.C
		}
		// take adds a received event to the batch, or holds what ends it.
		take := func(next received) bool {
			if next.err != nil || next.m.CaughtUp {
				held = &next
				return false
			}
			events = append(events, next.m.Event)
			return true
		}
	fill:
		for len(events) < size {
			select {
			case next := <-ahead:
				if !take(next) {
					break fill
				}
				continue
			default:
			}
			if linger == nil {
				break
			}
			select {
			case next := <-ahead:
				if !take(next) {
					break fill
				}
			case <-linger:
				break fill
			case <-c.s.closing:
				break fill
			case <-ctx.Done():
				break fill
			}
		}
		if lingerTimer != nil {
			lingerTimer.Stop()
		}
		if !c.handle(ctx, events) {
			return nil
		}
	}
}

// wireEvent is an event in the payload of a batch: strings, numbers and bytes, which JSON
// always encodes.
type wireEvent struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	SchemaVersion int    `json:"schema_version"`
	Stream        string `json:"stream"`
	Version       uint64 `json:"stream_version"`
	Position      uint64 `json:"position"`
	Data          []byte `json:"data"`
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	Actor         string `json:"actor,omitempty"`
	RecordedAt    string `json:"recorded_at"`
}

// batchMessage is Message for one event, and for several a message whose payload is the
// JSON array of the events, so that it stands on its own (a poison queue or another broker
// gets every event).
func batchMessage(events []*eventstore.RecordedEvent) *message.Message {
	if len(events) == 1 {
		return Message(events[0])
	}
	wire := make([]wireEvent, len(events))
	for i, ev := range events {
		wire[i] = wireEvent{
			ID: ev.ID.String(), Type: ev.Type, SchemaVersion: ev.SchemaVersion, Stream: ev.Stream,
			Version: ev.Version, Position: uint64(ev.Position), Data: ev.Data,
			CorrelationID: ev.Metadata.CorrelationID, CausationID: ev.Metadata.CausationID,
			Actor: ev.Metadata.Actor, RecordedAt: ev.Metadata.RecordedAt.Format(time.RFC3339Nano),
		}
	}
	payload, _ := json.Marshal(wire) // cannot fail: strings, numbers and bytes only
	last := events[len(events)-1]
	msg := message.NewMessage(last.ID.String(), payload)
	msg.Metadata = message.Metadata{
		MetaBatch:    strconv.Itoa(len(events)),
		MetaPosition: strconv.FormatUint(uint64(last.Position), 10),
	}
	return msg
}

// Events returns the events a message delivered by a Subscriber carries, in log order: one
// (see Event), or several (Config.Batch).
func Events(msg *message.Message) ([]eventstore.RecordedEvent, error) {
	if msg.Metadata.Get(MetaBatch) == "" {
		ev, err := Event(msg)
		if err != nil {
			return nil, err
		}
		return []eventstore.RecordedEvent{ev}, nil
	}
	var wire []wireEvent
	if err := json.Unmarshal(msg.Payload, &wire); err != nil {
		return nil, fmt.Errorf("bridge: message %s: bad batch: %w", msg.UUID, err)
	}
	out := make([]eventstore.RecordedEvent, len(wire))
	for i, w := range wire {
		id, err := uuid.Parse(w.ID)
		if err != nil {
			return nil, fmt.Errorf("bridge: message %s: event %d: bad event ID: %w", msg.UUID, i, err)
		}
		at, err := time.Parse(time.RFC3339Nano, w.RecordedAt)
		if err != nil {
			return nil, fmt.Errorf("bridge: message %s: event %d: bad time: %w", msg.UUID, i, err)
		}
		out[i] = eventstore.RecordedEvent{
			ID: id, Type: w.Type, SchemaVersion: w.SchemaVersion, Stream: w.Stream, Version: w.Version,
			Position: eventstore.Position(w.Position), Data: w.Data,
			Metadata: eventstore.Metadata{CorrelationID: w.CorrelationID, CausationID: w.CausationID, Actor: w.Actor, RecordedAt: at},
		}
	}
	return out, nil
}
