package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// openPolling opens a store whose subscriptions poll only every hour: what they get within a
// test came from a notification or a wake-up.
func openPolling(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// caughtUp subscribes from the end and waits for the CaughtUp message; events go to the channel.
func caughtUp(t *testing.T, ctx context.Context, s *postgres.Store) <-chan eventstore.RecordedEvent {
	t.Helper()
	sub, err := s.Subscribe(ctx, eventstore.FromEnd())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	if m, err := sub.Recv(); err != nil || !m.CaughtUp {
		t.Fatalf("first message %+v, %v; want CaughtUp", m, err)
	}
	out := make(chan eventstore.RecordedEvent, 16)
	go func() {
		for {
			m, err := sub.Recv()
			if err != nil {
				return
			}
			if m.Event != nil {
				out <- *m.Event
			}
		}
	}()
	return out
}

func expectEvent(t *testing.T, ctx context.Context, got <-chan eventstore.RecordedEvent, id uuid.UUID) {
	t.Helper()
	select {
	case ev := <-got:
		if ev.ID != id {
			t.Fatalf("got event %s, want %s", ev.ID, id)
		}
	case <-ctx.Done():
		t.Fatalf("event %s never arrived", id)
	}
}

// A subscription on node B wakes on the notification of node A's append, and again after its
// listening connection was cut and came back.
func TestNotificationWakesOtherNode(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := open(t, url), openPolling(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := caughtUp(t, ctx, b)

	ev := storetest.Event("test.appended", 1)
	if _, err := a.Append(ctx, "notify-"+uuid.NewString(), eventstore.NoStream(), ev); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, ctx, got, ev.ID)

	// Cut every listening connection of this database and wait for the listeners to be back.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	listeners := `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN assent_events' ORDER BY pid`
	rows, _ := conn.Query(ctx, listeners)
	before, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(before) != 2 {
		t.Fatalf("listeners %v, %v; want one per store", before, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1)`, before); err != nil {
		t.Fatal(err)
	}
	for {
		rows, _ := conn.Query(ctx, listeners)
		after, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			t.Fatal(err)
		}
		if len(after) == 2 && after[0] != before[0] && after[1] != before[1] && after[0] != before[1] {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the listeners did not come back: %v", after)
		case <-time.After(20 * time.Millisecond):
		}
	}
	ev = storetest.Event("test.appended", 2)
	if _, err := a.Append(ctx, "notify-"+uuid.NewString(), eventstore.NoStream(), ev); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, ctx, got, ev.ID)
}

// An event committed while an older transaction runs waits above the horizon; that
// transaction rolls back, which notifies nobody, and the subscription still gets the event by
// reading again on its own.
func TestEventHeldBehindRolledBackTransactionArrives(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := open(t, url), openPolling(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := caughtUp(t, ctx, b)

	tx := pgtest.HoldTransaction(t, ctx, url)
	ev := storetest.Event("test.appended", 1)
	if _, err := a.Append(ctx, "held-"+uuid.NewString(), eventstore.NoStream(), ev); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		t.Fatalf("event %s delivered while an older transaction runs", ev.ID)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, ctx, got, ev.ID)
}

// A subscription from the end delivers only what is appended after it starts, even when
// events appended before it are still held above the horizon by an older transaction.
func TestSubscribeFromEndSkipsEventsHeldAboveTheHorizon(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	s := open(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tx := pgtest.HoldTransaction(t, ctx, url)
	for i := range 3 {
		if _, err := s.Append(ctx, "before-"+uuid.NewString(), eventstore.NoStream(), storetest.Event("test.appended", i)); err != nil {
			t.Fatal(err)
		}
	}
	got := caughtUp(t, ctx, s)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	ev := storetest.Event("test.appended", 9)
	if _, err := s.Append(ctx, "after-"+uuid.NewString(), eventstore.NoStream(), ev); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, ctx, got, ev.ID)
}

// History is what was committed when the subscription began: CaughtUp comes after it, even
// when an older transaction holds part of it above the horizon for a while.
func TestCaughtUpAfterHistoryHeldAboveTheHorizon(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	s := open(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tx := pgtest.HoldTransaction(t, ctx, url)
	ev := storetest.Event("test.appended", 1)
	if _, err := s.Append(ctx, "history-"+uuid.NewString(), eventstore.NoStream(), ev); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctx, eventstore.FromStart())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	released := make(chan error, 1)
	defer func() { <-released }() // before the connection closes
	go func() {
		time.Sleep(300 * time.Millisecond)
		released <- tx.Rollback(context.Background())
	}()
	m, err := sub.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.Event == nil || m.Event.ID != ev.ID {
		t.Fatalf("first message %+v, want the event appended before the subscription", m)
	}
	if m, err := sub.Recv(); err != nil || !m.CaughtUp {
		t.Fatalf("second message %+v, %v; want CaughtUp", m, err)
	}
}
