package sqlite_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// TestUrgentSubscriptionsAreWokenByEveryCommitAndByClose: a subscription marked Urgent waits
// on a wake-up of its own; it must be woken by every commit as the others are (each event
// arrives while the subscription waits for it, in order), and by Close.
func TestUrgentSubscriptionsAreWokenByEveryCommitAndByClose(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openTemp(t)
	from := eventstore.After(0).Urgent()
	if !from.IsUrgent() || from.Position() != 0 || from.IsEnd() {
		t.Fatalf("After(0).Urgent() = %v, urgent %v", from, from.IsUrgent())
	}
	urgent, err := s.Subscribe(ctx, eventstore.FromEnd().Urgent())
	if err != nil {
		t.Fatal(err)
	}
	normal, err := s.Subscribe(ctx, eventstore.FromEnd())
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []eventstore.Subscription{urgent, normal} {
		if msg, err := sub.Recv(); err != nil || !msg.CaughtUp {
			t.Fatalf("first message %+v, %v; want caught up", msg, err)
		}
	}
	for i := range 20 {
		got := make(chan eventstore.Message, 2)
		errs := make(chan error, 2)
		for _, sub := range []eventstore.Subscription{urgent, normal} {
			go func() {
				msg, err := sub.Recv() // waits: nothing is there yet
				if err != nil {
					errs <- err
					return
				}
				got <- msg
			}()
		}
		time.Sleep(5 * time.Millisecond) // let both wait
		res, err := s.Append(ctx, "urgent", eventstore.Any(), storetest.Event("test.urgent", i))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			select {
			case msg := <-got:
				if msg.Event == nil || msg.Event.Position != res.Position {
					t.Fatalf("append %d: got %+v, want the event at %d", i, msg, res.Position)
				}
			case err := <-errs:
				t.Fatal(err)
			case <-time.After(10 * time.Second):
				t.Fatalf("append %d: a subscription was not woken", i)
			}
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := urgent.Recv()
		done <- err
	}()
	time.Sleep(5 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("Recv after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the urgent subscription")
	}
}
