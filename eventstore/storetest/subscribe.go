package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// collector reads a subscription on its own goroutine and keeps this fixture's events.
type collector struct {
	f        *fixture
	sub      eventstore.Subscription
	mu       sync.Mutex
	events   []eventstore.RecordedEvent
	caughtUp int // number of my events received before CaughtUp; -1 until then
	lastPos  eventstore.Position
	err      error
	changed  chan struct{}
	done     chan struct{}
}

func (f *fixture) collect(from eventstore.SubscribeFrom) *collector {
	f.t.Helper()
	sub, err := f.store.Subscribe(f.ctx, from)
	if err != nil {
		f.t.Fatalf("subscribe %s: %v", from, err)
	}
	c := &collector{f: f, sub: sub, caughtUp: -1, changed: make(chan struct{}, 1), done: make(chan struct{})}
	f.t.Cleanup(func() { sub.Close(); <-c.done })
	go c.run()
	return c
}

func (c *collector) run() {
	defer close(c.done)
	for {
		msg, err := c.sub.Recv()
		c.mu.Lock()
		switch {
		case err != nil:
			c.err = err
		case msg.CaughtUp:
			c.caughtUp = len(c.events)
		case msg.Event != nil:
			if msg.Event.Position <= c.lastPos {
				c.err = fmt.Errorf("position %d delivered after %d", msg.Event.Position, c.lastPos)
			}
			c.lastPos = msg.Event.Position
			if c.f.mine(*msg.Event) {
				c.events = append(c.events, *msg.Event)
			}
		}
		stop := c.err != nil
		c.mu.Unlock()
		select {
		case c.changed <- struct{}{}:
		default:
		}
		if stop {
			return
		}
	}
}

// waitFor waits until the collector holds n of my events (and no more arrive for a moment
// when exact is set), and returns them.
func (c *collector) waitFor(n int) []eventstore.RecordedEvent {
	c.f.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		got, err := len(c.events), c.err
		c.mu.Unlock()
		if err != nil && !errors.Is(err, eventstore.ErrClosed) && !errors.Is(err, context.Canceled) {
			c.f.t.Fatalf("subscription failed after %d events: %v", got, err)
		}
		if got >= n {
			break
		}
		select {
		case <-c.changed:
		case <-deadline:
			c.f.t.Fatalf("subscription delivered %d of %d events (err %v)", got, n, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]eventstore.RecordedEvent(nil), c.events...)
}

func (c *collector) caughtUpAfter() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.caughtUp
}

func ids(evs []eventstore.RecordedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func (f *fixture) appendN(stream string, n, base int) []uuid.UUID {
	out := make([]uuid.UUID, n)
	for i := range n {
		ev := Event("test.sub", base+i)
		out[i] = ev.ID
		f.mustAppend(stream, eventstore.Any(), ev)
	}
	return out
}

func sameIDs(t *testing.T, what string, got, want []uuid.UUID) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d is %s, want %s", what, i, got[i], want[i])
		}
	}
}

func testSubscribeFromStart(t *testing.T, open Opener) {
	f := newFixture(t, open)
	history := f.appendN(f.stream("a"), 20, 0)
	c := f.collect(eventstore.FromStart())
	got := c.waitFor(20)
	sameIDs(t, "history", ids(got), history)
	// CaughtUp comes after the whole history.
	deadline := time.Now().Add(30 * time.Second)
	for c.caughtUpAfter() < 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := c.caughtUpAfter(); n != 20 {
		t.Fatalf("CaughtUp after %d of my 20 historical events", n)
	}
	live := f.appendN(f.stream("b"), 10, 20)
	got = c.waitFor(30)
	sameIDs(t, "from start", ids(got), append(history, live...))
}

func testSubscribeFromMiddle(t *testing.T, open Opener) {
	f := newFixture(t, open)
	first := f.appendN(f.stream("a"), 10, 0)
	evs, err := f.store.ReadStream(f.ctx, f.stream("a"), eventstore.ReadStreamOptions{From: 4, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := f.collect(eventstore.After(evs[0].Position))
	live := f.appendN(f.stream("b"), 5, 10)
	got := c.waitFor(10)
	sameIDs(t, "after the 5th event", ids(got), append(first[5:], live...))
}

func testSubscribeFromEnd(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.appendN(f.stream("old"), 10, 0)
	c := f.collect(eventstore.FromEnd())
	live := f.appendN(f.stream("new"), 5, 10)
	got := c.waitFor(5)
	sameIDs(t, "from end", ids(got), live)
}

func testSubscribeConcurrent(t *testing.T, open Opener) {
	f := newFixture(t, open)
	const writers, perWriter = 8, 150
	f.appendN(f.stream("history"), 20, 0)
	c := f.collect(eventstore.FromStart())
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				// Some appends carry several events, to mix batch shapes.
				evs := []eventstore.EventData{Event("test.conc", i)}
				if i%5 == 0 {
					evs = append(evs, Event("test.conc", i), Event("test.conc", i))
				}
				if _, err := f.store.Append(f.ctx, f.stream(fmt.Sprint("w", w)), eventstore.Any(), evs...); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := f.readAllMine(eventstore.Start, 1000)
	c.waitFor(len(want))
	time.Sleep(50 * time.Millisecond) // let any duplicate delivery arrive
	got := c.waitFor(len(want))
	if len(got) != len(want) {
		t.Fatalf("subscription delivered %d events, the log holds %d", len(got), len(want))
	}
	sameIDs(t, "subscription vs log", ids(got), ids(want))
	seen := map[uuid.UUID]bool{}
	for _, ev := range got {
		if seen[ev.ID] {
			t.Fatalf("event %s delivered twice", ev.ID)
		}
		seen[ev.ID] = true
	}
}

func testSlowSubscriber(t *testing.T, open Opener) {
	f := newFixture(t, open)
	// A subscription that nobody reads, while 1.6 MB of events are appended: more than any
	// transport window or buffer would hold, so a subscription that pushed its events at the
	// appenders' pace would block them.
	sub, err := f.store.Subscribe(f.ctx, eventstore.FromStart())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const n = 800
	pad := strings.Repeat("x", 2048)
	for i := range n {
		ev := Event("test.fast", i)
		ev.Data = fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, pad)
		if _, err := f.store.Append(f.ctx, f.stream("fast"), eventstore.Any(), ev); err != nil {
			t.Fatalf("append %d with an idle subscriber: %v", i, err)
		}
	}
	// The idle subscription still has every event, from the start.
	got := 0
	for got < n {
		msg, err := sub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if msg.Event != nil && f.mine(*msg.Event) {
			got++
		}
	}
}

func testCancellation(t *testing.T, open Opener) {
	f := newFixture(t, open)
	f.appendN(f.stream("c"), 3, 0)
	ctx, cancel := context.WithCancel(f.ctx)
	sub, err := f.store.Subscribe(ctx, eventstore.FromEnd())
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		for {
			msg, err := sub.Recv()
			if err != nil {
				errc <- err
				return
			}
			if msg.Event != nil && f.mine(*msg.Event) {
				errc <- fmt.Errorf("unexpected event %s", msg.Event.ID)
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond) // let Recv block
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Recv did not return after the context was cancelled")
	}
	// Close ends a subscription too.
	sub2, err := f.store.Subscribe(f.ctx, eventstore.FromEnd())
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(20 * time.Millisecond); sub2.Close() }()
	for {
		msg, err := sub2.Recv()
		if err != nil {
			if !errors.Is(err, eventstore.ErrClosed) {
				t.Fatalf("Recv after Close: %v, want ErrClosed", err)
			}
			break
		}
		if msg.Event != nil && f.mine(*msg.Event) {
			t.Fatalf("unexpected event")
		}
	}
}
