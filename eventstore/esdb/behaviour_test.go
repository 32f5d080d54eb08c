package esdb

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// These tests run the Store and the real v4 client against the fake server: they check the
// adapter's decisions, not EventStoreDB's (see fake_server_test.go).

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestConflictFromClientError(t *testing.T) {
	t.Parallel()
	f, _ := startFake(t, false)
	s := openFake(t, f)
	defer s.Close()
	ctx := testCtx(t)
	for _, c := range []struct {
		given      int // events in the stream
		expected   eventstore.ExpectedVersion
		wantActual int64
	}{
		{0, eventstore.Exact(3), -1},
		{0, eventstore.StreamExists(), -1},
		{2, eventstore.NoStream(), 1},
		{2, eventstore.Exact(0), 1},
	} {
		stream := "conflict-" + uuid.NewString()
		for i := range c.given {
			if _, err := s.Append(ctx, stream, eventstore.Any(), storetest.Event("test.a", i)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := s.Append(ctx, stream, c.expected, storetest.Event("test.b", 0))
		var ce *eventstore.ConflictError
		if !errors.Is(err, eventstore.ErrConflict) || !errors.As(err, &ce) {
			t.Fatalf("%d events, expecting %s: got %v, want a *ConflictError", c.given, c.expected, err)
		}
		if ce.Stream != stream || ce.Expected != c.expected || ce.Actual != c.wantActual {
			t.Errorf("%d events, expecting %s: conflict %+v, want actual %d", c.given, c.expected, ce, c.wantActual)
		}
	}
}

func TestRetriesWithStoredIDs(t *testing.T) {
	t.Parallel()
	f, _ := startFake(t, false)
	s := openFake(t, f)
	defer s.Close()
	ctx := testCtx(t)
	stream := "retry-" + uuid.NewString()
	a, b, c := storetest.Event("test.a", 1), storetest.Event("test.b", 2), storetest.Event("test.c", 3)
	first, err := s.Append(ctx, stream, eventstore.NoStream(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	// Some of the IDs: refused as duplicates, as by the embedded store.
	if _, err := s.Append(ctx, stream, eventstore.NoStream(), a, c); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("append repeating one ID of two: %v, want ErrDuplicateEventID", err)
	}
	// All of them, in another order (which the server does not take as a retry): the original.
	got, err := s.Append(ctx, stream, eventstore.NoStream(), b, a)
	if err != nil || got != first {
		t.Fatalf("append repeating both IDs: %+v, %v; want %+v", got, err, first)
	}
	evs, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil || len(evs) != 2 {
		t.Fatalf("the stream holds %d events (%v), want 2", len(evs), err)
	}
}

func TestReservedNamesRefused(t *testing.T) {
	t.Parallel()
	f, _ := startFake(t, false)
	s := openFake(t, f)
	defer s.Close()
	ctx := testCtx(t)
	dollar := storetest.Event("$custom", 0)
	if _, err := s.Append(ctx, "account-1", eventstore.Any(), dollar); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Errorf("event type starting with '$': %v, want ErrInvalidEvent", err)
	}
	if _, err := s.Append(ctx, checkpointStreamPrefix+"x", eventstore.Any(), storetest.Event("test.a", 0)); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Errorf("checkpoint stream: %v, want ErrInvalidEvent", err)
	}
	for _, stream := range []string{"account-1", checkpointStreamPrefix + "x"} {
		if _, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Errorf("%s after refused appends: %v, want ErrStreamNotFound", stream, err)
		}
	}
}

func TestCheckpoints(t *testing.T) {
	t.Parallel()
	f, _ := startFake(t, false)
	s := openFake(t, f)
	defer s.Close()
	ctx := testCtx(t)
	if p, err := s.LoadCheckpoint(ctx, "projections"); err != nil || p != eventstore.Start {
		t.Fatalf("checkpoint never saved: %d, %v; want Start", p, err)
	}
	sub, err := s.Subscribe(ctx, eventstore.FromEnd())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for _, p := range []eventstore.Position{10, 42} {
		if err := s.SaveCheckpoint(ctx, "projections", p); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := s.LoadCheckpoint(ctx, "projections"); err != nil || p != 42 {
		t.Fatalf("checkpoint = %d, %v; want 42", p, err)
	}
	c, done, err := s.acquire()
	if err != nil {
		t.Fatal(err)
	}
	meta, err := c.GetStreamMetadata(ctx, checkpointStreamPrefix+"projections", esdbclient.ReadStreamOptions{})
	done()
	if err != nil || meta.MaxCount() == nil || *meta.MaxCount() != 1 {
		t.Fatalf("checkpoint stream metadata %+v (%v), want $maxCount 1", meta, err)
	}
	if err := s.SaveCheckpoint(ctx, "", 1); !errors.Is(err, ErrInvalidCheckpointName) {
		t.Fatalf("empty name: %v, want ErrInvalidCheckpointName", err)
	}
	// Checkpoints are not events of the log.
	mine := storetest.Event("test.after-checkpoints", 0)
	if _, err := s.Append(ctx, "after-"+uuid.NewString(), eventstore.Any(), mine); err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := sub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if msg.Event != nil {
			if msg.Event.ID != mine.ID {
				t.Fatalf("the subscription delivered %s (%s), want the event after the checkpoints", msg.Event.Type, msg.Event.Stream)
			}
			break
		}
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range all {
		if strings.HasPrefix(ev.Stream, checkpointStreamPrefix) || strings.HasPrefix(ev.Stream, "$") {
			t.Fatalf("read all returned %s of %s", ev.Type, ev.Stream)
		}
	}
	if len(all) != 1 {
		t.Fatalf("read all returned %d events, want 1", len(all))
	}
}

// recvUntilCaughtUp reads sub until CaughtUp and returns the events before it.
func recvUntilCaughtUp(t *testing.T, sub eventstore.Subscription) []eventstore.RecordedEvent {
	t.Helper()
	got := make(chan []eventstore.RecordedEvent, 1)
	errc := make(chan error, 1)
	go func() {
		var evs []eventstore.RecordedEvent
		for {
			msg, err := sub.Recv()
			if err != nil {
				errc <- err
				return
			}
			if msg.CaughtUp {
				got <- evs
				return
			}
			evs = append(evs, *msg.Event)
		}
	}()
	select {
	case evs := <-got:
		return evs
	case err := <-errc:
		t.Fatalf("subscription ended before CaughtUp: %v", err)
	case <-time.After(20 * time.Second):
		sub.Close()
		t.Fatal("no CaughtUp within 20s")
	}
	return nil
}

// TestCaughtUpWithoutServerMessage plays a server that sends no caught-up message: CaughtUp
// comes from the head seen at Subscribe, also when the newest events of $all are hidden ones.
func TestCaughtUpWithoutServerMessage(t *testing.T) {
	t.Parallel()
	f, _ := startFake(t, true)
	s := openFake(t, f)
	defer s.Close()
	ctx := testCtx(t)
	var ids []uuid.UUID
	for i := range 5 { // the fifth append is followed by server events: a hidden tail
		ev := storetest.Event("test.history", i)
		ids = append(ids, ev.ID)
		if _, err := s.Append(ctx, "history", eventstore.Any(), ev); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := s.Subscribe(ctx, eventstore.FromStart())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	history := recvUntilCaughtUp(t, sub)
	if len(history) != len(ids) {
		t.Fatalf("CaughtUp after %d events, want %d", len(history), len(ids))
	}
	for i, ev := range history {
		if ev.ID != ids[i] {
			t.Fatalf("event %d is %s, want %s", i, ev.ID, ids[i])
		}
	}
	live := storetest.Event("test.live", 0)
	if _, err := s.Append(ctx, "history", eventstore.Any(), live); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.Recv()
	if err != nil || msg.Event == nil || msg.Event.ID != live.ID {
		t.Fatalf("after CaughtUp: %+v, %v; want the live event", msg, err)
	}
	// Subscribing after the last visible event: nothing to catch up on.
	sub2, err := s.Subscribe(ctx, eventstore.After(msg.Event.Position))
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	if evs := recvUntilCaughtUp(t, sub2); len(evs) != 0 {
		t.Fatalf("%d events before CaughtUp, want none", len(evs))
	}
}

func TestCloseEndsEverything(t *testing.T) {
	t.Parallel()
	f, _ := startFake(t, false)
	s := openFake(t, f)
	ctx := testCtx(t)
	sub, err := s.Subscribe(ctx, eventstore.FromEnd())
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.Recv(); err != nil || !msg.CaughtUp {
		t.Fatalf("first message from the end: %+v, %v; want CaughtUp", msg, err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := sub.Recv()
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("Recv after the store closed: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Recv still blocked after the store closed")
	}
	if _, err := s.Append(ctx, "x", eventstore.Any(), storetest.Event("test.a", 0)); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
	if _, err := s.Subscribe(ctx, eventstore.FromStart()); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("subscribe after close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestRecoversAfterServerOutage checks that the Store replaces a client that gave up during
// an outage (the v4 client stops for good when a discovery fails).
func TestRecoversAfterServerOutage(t *testing.T) {
	t.Parallel()
	f, _ := startFake(t, false)
	s := openFake(t, f)
	defer s.Close()
	ctx := testCtx(t)
	if _, err := s.Append(ctx, "outage", eventstore.Any(), storetest.Event("test.a", 0)); err != nil {
		t.Fatal(err)
	}
	f.stop()
	// An append fails on the dead connection, a later one on a new discovery, after which
	// the client gives up: an append gets ErrorCodeConnectionClosed, and the Store replaces
	// the client. How many appends that takes depends on when the client's own goroutine
	// notices the dead connection, so the test appends until it sees the client give up.
	var gaveUp bool
	var errs []error
	for i := 0; i < 20 && !gaveUp; i++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.Append(actx, "outage", eventstore.Any(), storetest.Event("test.a", 1))
		cancel()
		if err == nil {
			t.Fatalf("append %d succeeded while the server was down", i)
		}
		errs = append(errs, err)
		var ee *esdbclient.Error
		gaveUp = errors.As(err, &ee) && ee.IsErrorCode(esdbclient.ErrorCodeConnectionClosed)
	}
	if !gaveUp {
		t.Fatalf("the client never gave up in %d appends (%v): the test no longer covers the replacement of a client", len(errs), errs)
	}
	f.serve(t, f.addr)
	deadline := time.Now().Add(20 * time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.Append(actx, "outage", eventstore.Any(), storetest.Event("test.a", 2))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("appends still fail 20s after the server came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	f, conn := startFake(t, false)
	f.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := Open(ctx, conn, Options{}); err == nil || ctx.Err() != nil {
		t.Fatalf("open with no server: %v (context: %v), want an error before the deadline", err, ctx.Err())
	}
	if _, err := Open(ctx, "esdb://admin:s3cret@bad host:2113", Options{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("open with a bad connection string: %v, want an error without the password", err)
	}
}
