package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/assent-dev/assent/eventstore"
)

// testMultiStreamAppend covers eventstore.MultiStreamAppender for the stores that have it: the
// parts of one append are written all or none, a conflict on any part writes nothing, and of
// appends that race for one stream exactly one writes its other streams too.
func testMultiStreamAppend(t *testing.T, open Opener) {
	f := newFixture(t, open)
	m, ok := f.store.(eventstore.MultiStreamAppender)
	if !ok {
		t.Skip("the store does not append to several streams at once")
	}
	a, b, c := f.stream("claim"), f.stream("acct-1"), f.stream("acct-2")
	res, err := m.AppendMulti(f.ctx,
		eventstore.StreamAppend{Stream: a, Expected: eventstore.NoStream(), Events: []eventstore.EventData{Event("test.claimed", 1)}},
		eventstore.StreamAppend{Stream: b, Expected: eventstore.NoStream(), Events: []eventstore.EventData{Event("test.registered", 2), Event("test.named", 3)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Version != 0 || res[1].Version != 1 || res[1].Position <= res[0].Position {
		t.Fatalf("results %+v: want version 0 of the claim, version 1 of the account after it", res)
	}
	if f.streamLen(a) != 1 || f.streamLen(b) != 2 {
		t.Fatalf("after the append: %d and %d events, want 1 and 2", f.streamLen(a), f.streamLen(b))
	}

	// A conflict on the second part writes nothing of the first.
	_, err = m.AppendMulti(f.ctx,
		eventstore.StreamAppend{Stream: c, Expected: eventstore.NoStream(), Events: []eventstore.EventData{Event("test.registered", 4)}},
		eventstore.StreamAppend{Stream: a, Expected: eventstore.NoStream(), Events: []eventstore.EventData{Event("test.claimed", 5)}})
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Stream != a || ce.Actual != 0 {
		t.Fatalf("append expecting no claim: %v, want a conflict on %s at version 0", err, a)
	}
	if n := f.streamLen(c); n != 0 {
		t.Fatalf("a refused append wrote %d events to its other stream", n)
	}

	// An event ID already stored, in a part after one long enough to need several writes:
	// refused, and the first part is not written either.
	long := make([]eventstore.EventData, 40)
	for i := range long {
		long[i] = Event("test.long", i)
	}
	first, err := f.store.ReadStream(f.ctx, a, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dup := Event("test.dup", 0)
	dup.ID = first[0].ID
	_, err = m.AppendMulti(f.ctx,
		eventstore.StreamAppend{Stream: c, Expected: eventstore.Any(), Events: long},
		eventstore.StreamAppend{Stream: f.stream("other"), Expected: eventstore.Any(), Events: []eventstore.EventData{dup}})
	if !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("append with a stored ID: %v, want ErrDuplicateEventID", err)
	}
	if n := f.streamLen(c); n != 0 {
		t.Fatalf("a refused append wrote %d events of its long part", n)
	}

	// Sixteen registrations race for one claim, beside plain appends: one wins, and only the
	// winner's account exists.
	claim := f.stream("race-claim")
	var wg sync.WaitGroup
	errs, busy := make([]error, 16), make([]error, 16)
	for i := range errs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, errs[i] = m.AppendMulti(f.ctx,
				eventstore.StreamAppend{Stream: claim, Expected: eventstore.NoStream(), Events: []eventstore.EventData{Event("test.claimed", i)}},
				eventstore.StreamAppend{Stream: f.stream(fmt.Sprintf("race-acct-%d", i)), Expected: eventstore.NoStream(), Events: []eventstore.EventData{Event("test.registered", i)}})
		}()
		go func() {
			defer wg.Done()
			_, busy[i] = f.store.Append(f.ctx, f.stream(fmt.Sprintf("busy-%d", i)), eventstore.NoStream(), Event("test.busy", i))
		}()
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		if busy[i] != nil {
			t.Fatalf("plain append %d beside the race: %v", i, busy[i])
		}
		n := f.streamLen(f.stream(fmt.Sprintf("race-acct-%d", i)))
		switch {
		case err == nil && n == 1:
			winners++
		case errors.Is(err, eventstore.ErrConflict) && n == 0:
		default:
			t.Fatalf("racer %d: %v with %d account events", i, err, n)
		}
	}
	if winners != 1 || f.streamLen(claim) != 1 {
		t.Fatalf("%d winners, claim stream of %d events; want 1 and 1", winners, f.streamLen(claim))
	}
}

// testReadStreams covers eventstore.MultiStreamReader for the stores that have it: the events of
// the streams named, merged in global order, the others left out, a missing stream ignored.
func testReadStreams(t *testing.T, open Opener) {
	f := newFixture(t, open)
	r, ok := f.store.(eventstore.MultiStreamReader)
	if !ok {
		t.Skip("the store does not read several streams at once")
	}
	a, b, other := f.stream("a"), f.stream("b"), f.stream("other")
	var want []eventstore.Position
	for i := range 30 {
		s := []string{a, b, other}[i%3]
		res, err := f.store.Append(f.ctx, s, eventstore.Any(), Event("test.happened", i))
		if err != nil {
			t.Fatal(err)
		}
		if s != other {
			want = append(want, res.Position)
		}
	}
	got, err := r.ReadStreams(f.ctx, []string{b, a, f.stream("missing")})
	if err != nil {
		t.Fatal(err)
	}
	var at []eventstore.Position
	for _, ev := range got {
		at = append(at, ev.Position)
		if ev.Stream != a && ev.Stream != b {
			t.Fatalf("an event of stream %q", ev.Stream)
		}
	}
	if fmt.Sprint(at) != fmt.Sprint(want) {
		t.Fatalf("positions %v, want %v", at, want)
	}
}
