package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/bridge"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// handled records what a consumer did with each event, across router restarts.
type handled struct {
	mu       sync.Mutex
	attempts map[string]int
	done     []eventstore.RecordedEvent
	changed  chan struct{}
}

func (h *handled) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.done)
}

// handler fails in three ways before it succeeds: event n%7==3 panics on its first attempt
// (Recoverer turns it into an error, Retry retries), n%7==5 fails five times (more than Retry
// allows: the message is nacked and delivered again), every other event succeeds at once.
func (h *handled) handler(msg *message.Message) error {
	ev, err := bridge.Event(msg)
	if err != nil {
		return err
	}
	var n struct{ N int }
	if _, err := fmt.Sscanf(string(ev.Data), `{"n":%d}`, &n.N); err != nil {
		return err
	}
	h.mu.Lock()
	h.attempts[msg.UUID]++
	attempt := h.attempts[msg.UUID]
	h.mu.Unlock()
	switch {
	case n.N%7 == 3 && attempt == 1:
		panic("first attempt at a 3")
	case n.N%7 == 5 && attempt <= 5:
		return errors.New("a 5 fails five times")
	}
	h.mu.Lock()
	h.done = append(h.done, ev)
	h.mu.Unlock()
	select {
	case h.changed <- struct{}{}:
	default:
	}
	return nil
}

func startRouter(t *testing.T, store *sqlite.Store, h *handled) (*message.Router, *bridge.Subscriber) {
	t.Helper()
	logger := watermill.NopLogger{}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, logger)
	if err != nil {
		t.Fatal(err)
	}
	r.AddMiddleware(
		middleware.Retry{MaxRetries: 2, InitialInterval: time.Millisecond, Logger: logger}.Middleware,
		middleware.Recoverer,
	)
	sub := bridge.NewSubscriber(store, store, bridge.Config{NackDelay: 5 * time.Millisecond})
	r.AddConsumerHandler("projection", "projection", sub, h.handler)
	go func() {
		if err := r.Run(context.Background()); err != nil {
			t.Errorf("router: %v", err)
		}
	}()
	<-r.Running()
	return r, sub
}

func waitHandled(t *testing.T, h *handled, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for h.count() < n {
		select {
		case <-h.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("handled %d of %d events", h.count(), n)
		}
	}
}

func TestRouterRestartMissesNothingAndRepeatsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	appendN := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := store.Append(ctx, fmt.Sprint("s-", i%5), eventstore.Any(), storetest.Event("test.bridged", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := &handled{attempts: map[string]int{}, changed: make(chan struct{}, 1)}

	appendN(0, 40)
	r, _ := startRouter(t, store, h)
	appendN(40, 60) // live, while the router runs
	waitHandled(t, h, 60)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	appendN(60, 100) // while no consumer runs
	r, _ = startRouter(t, store, h)
	waitHandled(t, h, 100)
	time.Sleep(100 * time.Millisecond) // room for a wrong redelivery to show
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	all, err := store.ReadAll(ctx, eventstore.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.done) != len(all) {
		t.Fatalf("handled %d events, the log holds %d", len(h.done), len(all))
	}
	for i := range all {
		if h.done[i].ID != all[i].ID {
			t.Fatalf("handled event %d is %s, the log has %s there", i, h.done[i].ID, all[i].ID)
		}
	}
	// The failure paths really ran: panics recovered, and nacks redelivered past Retry.
	if a := h.attempts[all[3].ID.String()]; a != 2 {
		t.Errorf("event 3 (panics once) took %d attempts, want 2", a)
	}
	if a := h.attempts[all[5].ID.String()]; a != 6 {
		t.Errorf("event 5 (fails five times) took %d attempts, want 6", a)
	}
	cp, err := store.LoadCheckpoint(ctx, "projection")
	if err != nil || cp != all[len(all)-1].Position {
		t.Fatalf("checkpoint = %d (%v), want %d", cp, err, all[len(all)-1].Position)
	}
}

func TestMessageRoundTrip(t *testing.T) {
	t.Parallel()
	ev := eventstore.RecordedEvent{
		ID: storetest.Event("x", 1).ID, Stream: "account-1", Type: "account.registered", SchemaVersion: 2,
		Data: []byte(`{"a":1}`), Version: 7, Position: 42,
		Metadata: eventstore.Metadata{CorrelationID: "c", CausationID: "d", Actor: "e", RecordedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
	}
	got, err := bridge.Event(bridge.Message(&ev))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", ev) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, ev)
	}
}

// TestBatchesCarryWhatIsReadyInOrderAndOnce delivers a log through a Subscriber with Batch 8
// to a handler that is slow on its first message and nacks one batch: later messages carry
// the events that piled up meanwhile (never more than 8), a nacked batch comes again with the
// same events, every event is handled once and in order, a lone live event comes alone and
// at once, and the checkpoint is the last event's.
func TestBatchesCarryWhatIsReadyInOrderAndOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for i := range 40 {
		if _, err := store.Append(ctx, fmt.Sprint("s-", i%5), eventstore.Any(), storetest.Event("test.bridged", i)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var done []eventstore.RecordedEvent
	var sizes []int
	seen := map[string][]eventstore.Position{} // message UUID -> its events, at its first delivery
	nacked := false
	got := make(chan struct{}, 1)
	caught := make(chan struct{})
	sub := bridge.NewSubscriber(store, store, bridge.Config{NackDelay: time.Millisecond, Batch: 8,
		OnCaughtUp: func(string) { close(caught) }})
	msgs, err := sub.Subscribe(ctx, "batched")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for msg := range msgs {
			events, err := bridge.Events(msg)
			if err != nil {
				t.Errorf("events of a message: %v", err)
				msg.Nack()
				continue
			}
			var pos []eventstore.Position
			for _, ev := range events {
				pos = append(pos, ev.Position)
			}
			mu.Lock()
			if first, ok := seen[msg.UUID]; ok && fmt.Sprint(first) != fmt.Sprint(pos) {
				t.Errorf("message %s came again with events %v, first with %v", msg.UUID, pos, first)
			}
			seen[msg.UUID] = pos
			if len(sizes) == 0 {
				time.Sleep(100 * time.Millisecond) // the rest of the history piles up
			}
			if len(events) > 1 && !nacked {
				nacked = true
				mu.Unlock()
				msg.Nack()
				continue
			}
			sizes = append(sizes, len(events))
			done = append(done, events...)
			mu.Unlock()
			msg.Ack()
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}()
	wait := func(n int) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			mu.Lock()
			c := len(done)
			mu.Unlock()
			if c >= n {
				return
			}
			select {
			case <-got:
			case <-time.After(5 * time.Millisecond):
			case <-deadline:
				t.Fatalf("handled %d of %d events", c, n)
			}
		}
	}
	wait(40)
	<-caught
	if _, err := store.Append(ctx, "s-lone", eventstore.Any(), storetest.Event("test.bridged", 40)); err != nil {
		t.Fatal(err)
	}
	wait(41)
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	all, err := store.ReadAll(ctx, eventstore.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(done) != len(all) {
		t.Fatalf("handled %d events, the log holds %d", len(done), len(all))
	}
	for i := range all {
		if done[i].ID != all[i].ID || string(done[i].Data) != string(all[i].Data) || done[i].Position != all[i].Position {
			t.Fatalf("handled event %d is %s at %d, the log has %s at %d", i, done[i].ID, done[i].Position, all[i].ID, all[i].Position)
		}
	}
	if !nacked {
		t.Fatal("no message carried more than one event")
	}
	for _, n := range sizes {
		if n > 8 {
			t.Fatalf("a message carried %d events, more than the batch of 8: %v", n, sizes)
		}
	}
	if last := sizes[len(sizes)-1]; last != 1 {
		t.Fatalf("the lone live event came in a message of %d", last)
	}
	cp, err := store.LoadCheckpoint(ctx, "batched")
	if err != nil || cp != all[len(all)-1].Position {
		t.Fatalf("checkpoint = %d (%v), want %d", cp, err, all[len(all)-1].Position)
	}
}

func TestBatchMessageRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	e := storetest.Event("test.bridged", 1)
	e.Metadata = eventstore.Metadata{CorrelationID: "c", CausationID: "d", Actor: "e"}
	for i := range 3 {
		e.ID = storetest.Event("x", i).ID
		if _, err := store.Append(ctx, "s", eventstore.Any(), e); err != nil {
			t.Fatal(err)
		}
	}
	want, err := store.ReadAll(ctx, eventstore.Start, 10)
	if err != nil {
		t.Fatal(err)
	}
	sub := bridge.NewSubscriber(store, store, bridge.Config{Batch: 3})
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, "rt")
	if err != nil {
		t.Fatal(err)
	}
	var got []eventstore.RecordedEvent
	batched := false
	for len(got) < len(want) {
		msg := <-msgs
		events, err := bridge.Events(msg)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, events...)
		batched = batched || msg.Metadata.Get(bridge.MetaBatch) == fmt.Sprint(len(events)) && len(events) > 1
		time.Sleep(100 * time.Millisecond) // the next events pile up
		msg.Ack()
	}
	if !batched {
		t.Fatal("no message carried a batch")
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

// TestLingerGathersLiveEventsIntoOneMessage: with Linger, a live event waits for the events
// appended shortly after it, and they go to the handler in one message; without it, a lone
// event goes at once, alone.
func TestLingerGathersLiveEventsIntoOneMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		linger   time.Duration
		messages int // the messages that carry the three events
	}{
		{linger: 2 * time.Second, messages: 1},
		{linger: 0, messages: 3},
	} {
		t.Run(fmt.Sprint("linger ", tc.linger), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			caught := make(chan struct{})
			sub := bridge.NewSubscriber(store, store, bridge.Config{Batch: 16, Linger: tc.linger,
				OnCaughtUp: func(string) { close(caught) }})
			defer sub.Close()
			msgs, err := sub.Subscribe(ctx, "linger")
			if err != nil {
				t.Fatal(err)
			}
			// An event appended while the subscription still reads the history comes with it,
			// and the end of the history closes that batch: append only once it is live.
			<-caught
			var sizes []int
			got := 0
			for i := range 3 {
				if _, err := store.Append(ctx, "s", eventstore.Any(), storetest.Event("test.linger", i)); err != nil {
					t.Fatal(err)
				}
				if tc.linger == 0 {
					// Each event is delivered before the next is appended.
					msg := <-msgs
					events, err := bridge.Events(msg)
					if err != nil {
						t.Fatal(err)
					}
					sizes = append(sizes, len(events))
					got += len(events)
					msg.Ack()
					continue
				}
				time.Sleep(100 * time.Millisecond) // well within the linger
			}
			for got < 3 {
				select {
				case msg := <-msgs:
					events, err := bridge.Events(msg)
					if err != nil {
						t.Fatal(err)
					}
					sizes = append(sizes, len(events))
					got += len(events)
					msg.Ack()
				case <-time.After(30 * time.Second):
					t.Fatalf("received %d of 3 events", got)
				}
			}
			if len(sizes) != tc.messages {
				t.Fatalf("the 3 events came in messages of %v, want %d messages", sizes, tc.messages)
			}
		})
	}
}
