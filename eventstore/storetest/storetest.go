// Package storetest is the contract every eventstore.Store backend passes. A backend's tests
// call Run with a function that opens a store. The suite uses fresh stream names in every test
// and filters the global log by them, so it also runs against a shared server.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// Opener opens a store for one test. The store is closed by the suite.
type Opener func(t *testing.T) eventstore.Store

// Run runs the whole contract against the backend that open returns.
func Run(t *testing.T, open Opener) {
	t.Run("ExpectedVersion", func(t *testing.T) { t.Parallel(); testExpectedVersion(t, open) })
	t.Run("ConcurrentAppendsOneWinner", func(t *testing.T) { t.Parallel(); testConcurrentAppends(t, open) })
	t.Run("IdempotentRetry", func(t *testing.T) { t.Parallel(); testIdempotentRetry(t, open) })
	t.Run("AtomicMultiEventAppend", func(t *testing.T) { t.Parallel(); testAtomicAppend(t, open) })
	t.Run("MultiStreamAppend", func(t *testing.T) { t.Parallel(); testMultiStreamAppend(t, open) })
	t.Run("ReadStreams", func(t *testing.T) { t.Parallel(); testReadStreams(t, open) })
	t.Run("ReadAllChained", func(t *testing.T) { t.Parallel(); testReadAllChained(t, open) })
	t.Run("Head", func(t *testing.T) { t.Parallel(); testHead(t, open) })
	t.Run("Checkpoints", func(t *testing.T) { t.Parallel(); testCheckpoints(t, open) })
	t.Run("InvalidAppend", func(t *testing.T) { t.Parallel(); testInvalidAppend(t, open) })
	t.Run("ReadStream", func(t *testing.T) { t.Parallel(); testReadStream(t, open) })
	t.Run("ReadAll", func(t *testing.T) { t.Parallel(); testReadAll(t, open) })
	t.Run("SubscribeFromStart", func(t *testing.T) { t.Parallel(); testSubscribeFromStart(t, open) })
	t.Run("SubscribeFromMiddle", func(t *testing.T) { t.Parallel(); testSubscribeFromMiddle(t, open) })
	t.Run("SubscribeFromEnd", func(t *testing.T) { t.Parallel(); testSubscribeFromEnd(t, open) })
	t.Run("SubscribeUnderConcurrentWriters", func(t *testing.T) { t.Parallel(); testSubscribeConcurrent(t, open) })
	t.Run("SlowSubscriberDoesNotBlockAppends", func(t *testing.T) { t.Parallel(); testSlowSubscriber(t, open) })
	t.Run("SubscriptionCancellation", func(t *testing.T) { t.Parallel(); testCancellation(t, open) })
	t.Run("SubjectKeys", func(t *testing.T) { t.Parallel(); testSubjectKeys(t, open) })
}

// fixture is one test's store and its private stream prefix.
type fixture struct {
	t      *testing.T
	store  eventstore.Store
	prefix string
	ctx    context.Context
}

func newFixture(t *testing.T, open Opener) *fixture {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &fixture{t: t, store: s, prefix: "t" + strings.ReplaceAll(uuid.NewString()[:8], "-", "") + "-", ctx: ctx}
}

func (f *fixture) stream(name string) string { return f.prefix + name }

func (f *fixture) mine(ev eventstore.RecordedEvent) bool {
	return strings.HasPrefix(ev.Stream, f.prefix)
}

// Event builds an event with a fresh ID whose data records n.
func Event(typ string, n int) eventstore.EventData {
	data, _ := json.Marshal(map[string]int{"n": n})
	return eventstore.EventData{
		ID:            uuid.Must(uuid.NewV7()),
		Type:          typ,
		SchemaVersion: 1,
		Data:          data,
		Metadata:      eventstore.Metadata{CorrelationID: "corr-" + fmt.Sprint(n), CausationID: "cause", Actor: "storetest"},
	}
}

func (f *fixture) mustAppend(stream string, expected eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.AppendResult {
	f.t.Helper()
	res, err := f.store.Append(f.ctx, stream, expected, evs...)
	if err != nil {
		f.t.Fatalf("append to %s (%s): %v", stream, expected, err)
	}
	return res
}

func (f *fixture) conflict(stream string, expected eventstore.ExpectedVersion, wantActual int64) {
	f.t.Helper()
	_, err := f.store.Append(f.ctx, stream, expected, Event("test.conflict", 0))
	if !errors.Is(err, eventstore.ErrConflict) {
		f.t.Fatalf("append to %s expecting %s: got %v, want a conflict", stream, expected, err)
	}
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) {
		f.t.Fatalf("conflict error %T is not a *eventstore.ConflictError", err)
	}
	if ce.Stream != stream || ce.Expected != expected || ce.Actual != wantActual {
		f.t.Fatalf("conflict = {%s %s %d}, want {%s %s %d}", ce.Stream, ce.Expected, ce.Actual, stream, expected, wantActual)
	}
}

func (f *fixture) streamLen(stream string) int {
	f.t.Helper()
	evs, err := f.store.ReadStream(f.ctx, stream, eventstore.ReadStreamOptions{})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return 0
	}
	if err != nil {
		f.t.Fatalf("read %s: %v", stream, err)
	}
	return len(evs)
}

func testExpectedVersion(t *testing.T, open Opener) {
	f := newFixture(t, open)
	s := f.stream("ev")
	// On a stream that does not exist.
	f.conflict(s, eventstore.Exact(0), -1)
	f.conflict(s, eventstore.StreamExists(), -1)
	if res := f.mustAppend(s, eventstore.NoStream(), Event("test.a", 0)); res.Version != 0 {
		t.Fatalf("first event version = %d, want 0", res.Version)
	}
	// On a stream with one event (version 0).
	f.conflict(s, eventstore.NoStream(), 0)
	f.conflict(s, eventstore.Exact(1), 0)
	if res := f.mustAppend(s, eventstore.Exact(0), Event("test.a", 1)); res.Version != 1 {
		t.Fatalf("version after Exact(0) = %d, want 1", res.Version)
	}
	if res := f.mustAppend(s, eventstore.StreamExists(), Event("test.a", 2)); res.Version != 2 {
		t.Fatalf("version after StreamExists = %d, want 2", res.Version)
	}
	if res := f.mustAppend(s, eventstore.Any(), Event("test.a", 3)); res.Version != 3 {
		t.Fatalf("version after Any = %d, want 3", res.Version)
	}
	f.conflict(s, eventstore.Exact(2), 3)
	// Any on a stream that does not exist.
	if res := f.mustAppend(f.stream("any"), eventstore.Any(), Event("test.a", 0)); res.Version != 0 {
		t.Fatalf("Any on a new stream: version %d, want 0", res.Version)
	}
	if n := f.streamLen(s); n != 4 {
		t.Fatalf("stream holds %d events after refused appends, want 4", n)
	}
}

func testConcurrentAppends(t *testing.T, open Opener) {
	f := newFixture(t, open)
	s := f.stream("race")
	const racers, rounds = 32, 8
	for round := range rounds {
		expected := eventstore.NoStream()
		if round > 0 {
			expected = eventstore.Exact(uint64(round - 1))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, conflicts := 0, 0
		var other []error
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := f.store.Append(f.ctx, s, expected, Event("test.race", i))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, eventstore.ErrConflict):
					conflicts++
				default:
					other = append(other, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins != 1 || conflicts != racers-1 || len(other) > 0 {
			t.Fatalf("round %d: %d wins, %d conflicts, other errors %v; want 1 win and %d conflicts", round, wins, conflicts, other, racers-1)
		}
	}
	if n := f.streamLen(s); n != rounds {
		t.Fatalf("stream holds %d events, want %d", n, rounds)
	}
}

func testIdempotentRetry(t *testing.T, open Opener) {
	f := newFixture(t, open)
	s := f.stream("idem")
	f.mustAppend(s, eventstore.NoStream(), Event("test.a", 0))
	batch := []eventstore.EventData{Event("test.b", 1), Event("test.b", 2)}
	first := f.mustAppend(s, eventstore.Exact(0), batch...)
	again := f.mustAppend(s, eventstore.Exact(0), batch...)
	if again != first {
		t.Fatalf("retry returned %+v, want the original %+v", again, first)
	}
	if n := f.streamLen(s); n != 3 {
		t.Fatalf("stream holds %d events after a retried append, want 3", n)
	}
}

func testAtomicAppend(t *testing.T, open Opener) {
	f := newFixture(t, open)
	s := f.stream("atomic")
	evs := []eventstore.EventData{Event("test.m", 0), Event("test.m", 1), Event("test.m", 2)}
	res := f.mustAppend(s, eventstore.NoStream(), evs...)
	if res.Version != 2 {
		t.Fatalf("version after three events = %d, want 2", res.Version)
	}
	got, err := f.store.ReadStream(f.ctx, s, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range got {
		if ev.ID != evs[i].ID || ev.Version != uint64(i) {
			t.Fatalf("event %d = %s v%d, want %s v%d", i, ev.ID, ev.Version, evs[i].ID, i)
		}
		if i > 0 && ev.Position <= got[i-1].Position {
			t.Fatalf("positions not increasing: %d then %d", got[i-1].Position, ev.Position)
		}
	}
	if got[2].Position != res.Position {
		t.Fatalf("append result position %d, last event stored at %d", res.Position, got[2].Position)
	}
	// A refused multi-event append writes none of its events.
	f.conflict(s, eventstore.NoStream(), 2)
	_, err = f.store.Append(f.ctx, s, eventstore.Exact(0), Event("test.m", 3), Event("test.m", 4))
	if !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("stale multi-event append: %v, want conflict", err)
	}
	if n := f.streamLen(s); n != 3 {
		t.Fatalf("stream holds %d events, want 3", n)
	}
}

func testInvalidAppend(t *testing.T, open Opener) {
	f := newFixture(t, open)
	s := f.stream("invalid")
	bad := Event("test.bad", 1)
	bad.Data = []byte("{not json")
	cases := map[string]struct {
		stream string
		events []eventstore.EventData
	}{
		"no events":        {s, nil},
		"empty stream":     {"", []eventstore.EventData{Event("test.a", 0)}},
		"data not JSON":    {s, []eventstore.EventData{Event("test.a", 0), bad}},
		"no type":          {s, []eventstore.EventData{{ID: uuid.New(), SchemaVersion: 1, Data: []byte(`{}`)}}},
		"schema version 0": {s, []eventstore.EventData{{ID: uuid.New(), Type: "x", Data: []byte(`{}`)}}},
	}
	for name, c := range cases {
		_, err := f.store.Append(f.ctx, c.stream, eventstore.Any(), c.events...)
		if !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("%s: got %v, want ErrInvalidEvent", name, err)
		}
	}
	if n := f.streamLen(s); n != 0 {
		t.Fatalf("invalid appends wrote %d events", n)
	}
}

func testReadStream(t *testing.T, open Opener) {
	f := newFixture(t, open)
	s := f.stream("read")
	for i := range 10 {
		f.mustAppend(s, eventstore.Any(), Event("test.r", i))
	}
	f.mustAppend(f.stream("other"), eventstore.Any(), Event("test.r", 99))
	versions := func(evs []eventstore.RecordedEvent) []uint64 {
		out := make([]uint64, len(evs))
		for i, ev := range evs {
			out[i] = ev.Version
		}
		return out
	}
	cases := []struct {
		name string
		opts eventstore.ReadStreamOptions
		want []uint64
	}{
		{"all forwards", eventstore.ReadStreamOptions{}, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"forwards from 7", eventstore.ReadStreamOptions{From: 7}, []uint64{7, 8, 9}},
		{"forwards from 2, 3 events", eventstore.ReadStreamOptions{From: 2, Limit: 3}, []uint64{2, 3, 4}},
		{"backwards from end, 2 events", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 2}, []uint64{9, 8}},
		{"backwards from 3", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: 3}, []uint64{3, 2, 1, 0}},
		{"forwards past the end", eventstore.ReadStreamOptions{From: 50}, []uint64{}},
	}
	for _, c := range cases {
		got, err := f.store.ReadStream(f.ctx, s, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if fmt.Sprint(versions(got)) != fmt.Sprint(c.want) {
			t.Errorf("%s: versions %v, want %v", c.name, versions(got), c.want)
		}
	}
	all, _ := f.store.ReadStream(f.ctx, s, eventstore.ReadStreamOptions{})
	var n struct{ N int }
	if err := json.Unmarshal(all[4].Data, &n); err != nil || n.N != 4 {
		t.Fatalf("event 4 data %s (%v), want n=4", all[4].Data, err)
	}
	md := all[4].Metadata
	if md.CorrelationID != "corr-4" || md.CausationID != "cause" || md.Actor != "storetest" || md.RecordedAt.IsZero() {
		t.Fatalf("metadata did not survive: %+v", md)
	}
	if all[4].Type != "test.r" || all[4].SchemaVersion != 1 || all[4].Stream != s {
		t.Fatalf("event 4 = %+v", all[4])
	}
	if _, err := f.store.ReadStream(f.ctx, f.stream("missing"), eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("read a missing stream: %v, want ErrStreamNotFound", err)
	}
}

// readAllMine reads the whole log after 'after' and keeps this fixture's events.
func (f *fixture) readAllMine(after eventstore.Position, page int) []eventstore.RecordedEvent {
	f.t.Helper()
	var out []eventstore.RecordedEvent
	for {
		evs, err := f.store.ReadAll(f.ctx, after, page)
		if err != nil {
			f.t.Fatalf("read all after %d: %v", after, err)
		}
		if len(evs) == 0 {
			return out
		}
		for _, ev := range evs {
			if ev.Position <= after {
				f.t.Fatalf("read all after %d returned position %d", after, ev.Position)
			}
			after = ev.Position
			if f.mine(ev) {
				out = append(out, ev)
			}
		}
	}
}

func testReadAll(t *testing.T, open Opener) {
	f := newFixture(t, open)
	var want []uuid.UUID
	for i := range 30 {
		ev := Event("test.all", i)
		want = append(want, ev.ID)
		f.mustAppend(f.stream(fmt.Sprint("s", i%4)), eventstore.Any(), ev)
	}
	got := f.readAllMine(eventstore.Start, 7)
	if len(got) != len(want) {
		t.Fatalf("read all found %d of my events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i] {
			t.Fatalf("event %d of the log is %s, want %s (append order)", i, got[i].ID, want[i])
		}
	}
	mid := got[14].Position
	rest := f.readAllMine(mid, 100)
	if len(rest) != 15 || rest[0].ID != want[15] {
		t.Fatalf("read all after position %d: %d events, want 15 starting with event 15", mid, len(rest))
	}
}
