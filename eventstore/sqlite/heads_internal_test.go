package sqlite

import (
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// TestKnownHeadsBound checks that the heads are bounded: a new stream past the bound takes an
// old one's place, and is known.
func TestKnownHeadsBound(t *testing.T) {
	var k knownHeads
	for i := range 10 {
		id := uuid.New()
		req := &writeReq{stream: string(rune('a' + i)), events: []eventstore.EventData{{ID: id}},
			chain: []chainLink{{}}, result: eventstore.AppendResult{Version: uint64(i)}}
		k.add([]*writeReq{req}, 4)
		if h, ok := k.get(req.stream); !ok || h.version != uint64(i) || h.id != id {
			t.Fatalf("stream %s just written: %+v, %v", req.stream, h, ok)
		}
		if len(k.m) > 4 {
			t.Fatalf("%d heads kept, the bound is 4", len(k.m))
		}
	}
}
