package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// TestStreamReadsAcrossIndexAndTail reads streams whose events are split, at every possible
// point, between stream_index and the writer's tail, and compares every read with a model:
// forwards and backwards, from every version and from the end, with limits.
func TestStreamReadsAcrossIndexAndTail(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{1, 2, 3, 5, 1 << 20} {
		t.Run(fmt.Sprintf("index-batch=%d", batch), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{IndexBatch: batch, IndexDelay: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			model := map[string][]eventstore.Position{}
			streams := []string{"a", "b", "c"}
			for i := range 14 {
				stream := streams[i%len(streams)]
				evs := make([]eventstore.EventData, 1+i%3)
				for j := range evs {
					evs[j] = storetest.Event("test.split", i*10+j)
				}
				res, err := s.Append(ctx, stream, eventstore.Any(), evs...)
				if err != nil {
					t.Fatal(err)
				}
				for j := range evs {
					model[stream] = append(model[stream], res.Position-eventstore.Position(len(evs)-1-j))
				}
				for _, st := range streams {
					checkStreamReads(t, s, st, model[st])
				}
			}
			if batch == 1<<20 && s.Stats().Unindexed == 0 {
				t.Fatal("with a large batch the events should still be in the tail")
			}
			if batch == 1 && s.Stats().Unindexed > 3 {
				t.Fatalf("with a batch of 1, %d events are unindexed", s.Stats().Unindexed)
			}
		})
	}
}

// checkStreamReads compares every read of stream with want, the positions of its events.
func checkStreamReads(t *testing.T, s *sqlite.Store, stream string, want []eventstore.Position) {
	t.Helper()
	ctx := context.Background()
	n := len(want)
	read := func(opts eventstore.ReadStreamOptions) []eventstore.Position {
		t.Helper()
		evs, err := s.ReadStream(ctx, stream, opts)
		if n == 0 {
			if !errors.Is(err, eventstore.ErrStreamNotFound) {
				t.Fatalf("read of absent stream %q: %v", stream, err)
			}
			return nil
		}
		if err != nil {
			t.Fatalf("read %q %+v: %v", stream, opts, err)
		}
		var got []eventstore.Position
		for _, ev := range evs {
			if ev.Stream != stream {
				t.Fatalf("read %q returned an event of %q", stream, ev.Stream)
			}
			got = append(got, ev.Position)
		}
		return got
	}
	for _, limit := range []int{0, 1, 2, 4} {
		cut := func(ps []eventstore.Position) []eventstore.Position {
			if limit > 0 && len(ps) > limit {
				return ps[:limit]
			}
			return ps
		}
		for from := range n + 1 {
			got := read(eventstore.ReadStreamOptions{From: uint64(from), Limit: limit})
			if exp := cut(want[from:]); !slices.Equal(got, exp) {
				t.Fatalf("%q forwards from %d limit %d: got %v, want %v", stream, from, limit, got, exp)
			}
			back := slices.Clone(want[:min(from+1, n)])
			slices.Reverse(back)
			got = read(eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: uint64(from), Limit: limit})
			if exp := cut(back); !slices.Equal(got, exp) {
				t.Fatalf("%q backwards from %d limit %d: got %v, want %v", stream, from, limit, got, exp)
			}
		}
		back := slices.Clone(want)
		slices.Reverse(back)
		got := read(eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: limit})
		if exp := cut(back); !slices.Equal(got, exp) {
			t.Fatalf("%q backwards from the end limit %d: got %v, want %v", stream, limit, got, exp)
		}
	}
}

// TestTailIsIndexedWhenIdleAndOnClose shows that entries left in the tail reach stream_index
// after the delay with no append to carry them, and that a clean close indexes everything.
func TestTailIsIndexedWhenIdleAndOnClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{IndexDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "idle", eventstore.NoStream(), storetest.Event("test.idle", 1), storetest.Event("test.idle", 2)); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Unindexed; got != 2 {
		t.Fatalf("right after the append, %d events are unindexed, want 2", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Unindexed != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the idle writer left %d events unindexed", s.Stats().Unindexed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkStreamReads(t, s, "idle", []eventstore.Position{1, 2})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(ctx, path, sqlite.Options{IndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "idle", eventstore.Exact(1), storetest.Event("test.idle", 3)); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Unindexed; got != 1 {
		t.Fatalf("after the third append, %d events are unindexed, want 1", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Stats().Unindexed; got != 0 {
		t.Fatalf("after a clean close, %d events are unindexed, want 0", got)
	}
	checkStreamReads(t, s, "idle", []eventstore.Position{1, 2, 3})
}

// TestWriterCheckpointsTheWAL shows that the writer copies the WAL back into the database file
// between commits: the writer's connection has automatic checkpoints off, so without them the
// file would stay as small as an empty store while every event piled up in the WAL.
func TestWriterCheckpointsTheWAL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	empty, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 400 { // more commits than a checkpoint waits for
		evs := make([]eventstore.EventData, 10)
		for j := range evs {
			evs[j] = storetest.Event("test.checkpoint", i*10+j)
			evs[j].Data = fmt.Appendf(nil, `{"n":%d,"pad":"%0200d"}`, i*10+j, 0)
		}
		if _, err := s.Append(ctx, fmt.Sprint("cp-", i%7), eventstore.Any(), evs...); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Checkpoints == 0 || st.CheckpointErrors != 0 {
		t.Fatalf("after %d commits: %d checkpoints, %d failed", st.Commits, st.Checkpoints, st.CheckpointErrors)
	}
	full, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if full.Size() < empty.Size()+500_000 {
		t.Fatalf("the database file grew from %d to %d bytes for about 1 MB of events: the WAL was not checkpointed", empty.Size(), full.Size())
	}
}
