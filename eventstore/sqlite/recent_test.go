package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// TestSubscriptionsAcrossTheRecentRing subscribes from the start of a log longer than the
// in-memory ring of recent events (so the first events come from the file and the rest from
// memory) and from the end (so every event comes from memory), and checks that both see every
// event once, in order, whole, each with data of its own.
func TestSubscriptionsAcrossTheRecentRing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openTemp(t)
	defer s.Close()
	live, err := s.Subscribe(ctx, eventstore.FromEnd())
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	const total = 5000
	for i := 0; i < total; i += 50 {
		evs := make([]eventstore.EventData, 50)
		for j := range evs {
			evs[j] = storetest.Event("test.ring", i+j)
			evs[j].Data = fmt.Appendf(nil, `{"n":%d}`, i+j)
			evs[j].Metadata.Actor = fmt.Sprint("actor-", (i+j)%7)
		}
		if _, err := s.Append(ctx, fmt.Sprint("ring-", i%3), eventstore.Any(), evs...); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.ReadAll(ctx, eventstore.Start, total)
	if err != nil || len(want) != total {
		t.Fatalf("read all: %d events, %v", len(want), err)
	}
	old, err := s.Subscribe(ctx, eventstore.FromStart())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	for name, sub := range map[string]eventstore.Subscription{"from the start": old, "from the end": live} {
		got := 0
		for got < total {
			msg, err := sub.Recv()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if msg.CaughtUp {
				continue
			}
			w, e := want[got], *msg.Event
			if e.Position != w.Position || e.ID != w.ID || e.Stream != w.Stream || e.Version != w.Version || e.Type != w.Type ||
				string(e.Data) != string(w.Data) || e.Metadata != w.Metadata {
				t.Fatalf("%s: event %d:\n got %+v\nwant %+v", name, got, e, w)
			}
			e.Data[0] = 'X' // a subscriber's copy is its own
			got++
		}
	}
	again, err := s.ReadAll(ctx, want[total-2].Position, 1)
	if err != nil || string(again[0].Data) != string(want[total-1].Data) {
		t.Fatalf("changing a delivered event's data changed the store's: %s, %v", again[0].Data, err)
	}
	sub, err := s.Subscribe(ctx, eventstore.After(want[total-2].Position))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msg, err := sub.Recv()
	if err != nil || msg.Event == nil || string(msg.Event.Data) != string(want[total-1].Data) {
		t.Fatalf("a later subscriber sees another subscriber's change: %+v, %v", msg, err)
	}
}
