package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// testReadAllChained covers eventstore.ChainReader for the stores that have it: the chained
// read returns the events ReadAll returns, in the same order, and each links to the hash of
// the previous event of its own stream (the first of a stream to the zero hash).
func testReadAllChained(t *testing.T, open Opener) {
	f := newFixture(t, open)
	c, ok := f.store.(eventstore.ChainReader)
	if !ok {
		t.Skip("the store keeps no hash chain")
	}
	first := f.mustAppend(f.stream("s0"), eventstore.Any(), Event("test.chained", 0))
	for i := 1; i < 12; i++ {
		f.mustAppend(f.stream(fmt.Sprint("s", i%3)), eventstore.Any(), Event("test.chained", i))
	}
	after := first.Position - 1
	plain := f.readAllMine(after, 5)
	var got []eventstore.ChainedEvent
	for {
		evs, err := c.ReadAllChained(f.ctx, after, 5)
		if err != nil {
			t.Fatalf("read chained after %d: %v", after, err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if ev.Position <= after {
				t.Fatalf("read chained after %d returned position %d", after, ev.Position)
			}
			after = ev.Position
			if f.mine(ev.RecordedEvent) {
				got = append(got, ev)
			}
		}
	}
	if len(got) != 12 || len(plain) != 12 {
		t.Fatalf("read chained found %d of my events and read all %d, want 12 and 12", len(got), len(plain))
	}
	last := map[string]eventstore.Hash{}
	for i, ev := range got {
		if ev.ID != plain[i].ID || ev.Position != plain[i].Position {
			t.Fatalf("chained event %d is %s at %d, read all has %s at %d", i, ev.ID, ev.Position, plain[i].ID, plain[i].Position)
		}
		if ev.PrevHash != last[ev.Stream] {
			t.Fatalf("event %d of %s (version %d) links to %s, want %s", i, ev.Stream, ev.Version, ev.PrevHash, last[ev.Stream])
		}
		last[ev.Stream] = ev.Hash()
	}
}

// testHead covers eventstore.HeadReader for the stores that have it: the head reaches every
// acknowledged append (at once, or on PostgreSQL once the transactions older than it have
// ended), and is before every append that follows its reading.
func testHead(t *testing.T, open Opener) {
	f := newFixture(t, open)
	h, ok := f.store.(eventstore.HeadReader)
	if !ok {
		t.Skip("the store does not read its head")
	}
	for i := range 3 {
		last := f.mustAppend(f.stream("head"), eventstore.Any(), Event("test.head", i))
		deadline := time.Now().Add(10 * time.Second)
		for {
			head, err := h.Head(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if head >= last.Position {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("head %d, 10 s after an append acknowledged at %d", head, last.Position)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	head, err := h.Head(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next := f.mustAppend(f.stream("head"), eventstore.Any(), Event("test.head", 3)); next.Position <= head {
		t.Fatalf("an append after the head %d was read is at %d, not after it", head, next.Position)
	}
}

// testCheckpoints covers eventstore.Checkpoints for the stores that have it: a consumer never
// saved loads Start, a save is what the next load returns, and consumers do not share one.
func testCheckpoints(t *testing.T, open Opener) {
	f := newFixture(t, open)
	c, ok := f.store.(eventstore.Checkpoints)
	if !ok {
		t.Skip("the store keeps no checkpoints")
	}
	a, b := f.prefix+"consumer-a-"+uuid.NewString()[:8], f.prefix+"consumer-b-"+uuid.NewString()[:8]
	if pos, err := c.LoadCheckpoint(f.ctx, a); err != nil || pos != eventstore.Start {
		t.Fatalf("a consumer never saved loads %d, %v; want Start", pos, err)
	}
	res := f.mustAppend(f.stream("cp"), eventstore.Any(), Event("test.cp", 0), Event("test.cp", 1))
	for _, want := range []eventstore.Position{res.Position, res.Position + 1} {
		if err := c.SaveCheckpoint(f.ctx, a, want); err != nil {
			t.Fatal(err)
		}
		if pos, err := c.LoadCheckpoint(f.ctx, a); err != nil || pos != want {
			t.Fatalf("load after saving %d: %d, %v", want, pos, err)
		}
	}
	if pos, err := c.LoadCheckpoint(f.ctx, b); err != nil || pos != eventstore.Start {
		t.Fatalf("another consumer loads %d, %v; want Start", pos, err)
	}
}
