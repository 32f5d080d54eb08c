package esdb

import (
	"testing"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/storetest"
)

func TestHeadIsTheLastPosition(t *testing.T) {
	t.Parallel()
	f, _ := startFake(t, false)
	s := openFake(t, f)
	defer s.Close()
	ctx := testCtx(t)
	before, err := s.Head(ctx) // the server's own events may already be there
	if err != nil {
		t.Fatal(err)
	}
	var last eventstore.AppendResult
	for i := range 3 {
		res, err := s.Append(ctx, "head-test", eventstore.Any(), storetest.Event("test.head", i))
		if err != nil {
			t.Fatal(err)
		}
		last = res
	}
	if last.Position <= before {
		t.Fatalf("appended at %d, not after the head %d", last.Position, before)
	}
	if h, err := s.Head(ctx); err != nil || h != last.Position {
		t.Fatalf("head = %d, %v; want the last append's position %d", h, err, last.Position)
	}
}
