package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// TestReadStreamsFindsIndexedAndTailEntries reads streams whose older events are in
// stream_index and newer ones still in the writer's tail: every event once, in global order.
func TestReadStreamsFindsIndexedAndTailEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{IndexDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []eventstore.Position
	appendSome := func(from int) {
		for i := from; i < from+12; i++ {
			st := []string{"a", "b", "other"}[i%3]
			res, err := s.Append(ctx, st, eventstore.Any(), storetest.Event("test.happened", i))
			if err != nil {
				t.Fatal(err)
			}
			if st != "other" {
				want = append(want, res.Position)
			}
		}
	}
	appendSome(0)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Unindexed > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.Stats().Unindexed; n > 0 {
		t.Fatalf("%d events still unindexed", n)
	}
	appendSome(12) // likely in the tail still; the contract suite reads streams wholly in it
	got, err := s.ReadStreams(ctx, []string{"a", "b", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	var at []eventstore.Position
	for _, ev := range got {
		at = append(at, ev.Position)
	}
	if fmt.Sprint(at) != fmt.Sprint(want) {
		t.Fatalf("positions %v, want %v", at, want)
	}
}
