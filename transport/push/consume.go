package push

import (
	"context"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/bridge"
)

// handledTypes are the event types HandleEvent reacts to: a challenge issued, a final event of
// a challenge, and the account's news. The hub decodes only these; the rest of the log (most of
// it: sign-ins, enrollments, the audit trail) is skipped by its type string.
var handledTypes = func() map[string]bool {
	m := domain.TypeSet(domain.ChallengeIssued{}, domain.DeviceUnlinked{}, domain.DeviceLinked{}, domain.PushMuted{},
		domain.PushResumed{}, domain.SessionStarted{}, domain.SignedOut{}, domain.SessionsEnded{})
	for _, t := range domain.TypesOf[domain.FinalEvent](domain.Events) {
		m[t] = true
	}
	return m
}()

// Handler is the hub's watermill handler: it decodes each event of a type HandleEvent reacts
// to and hands it over. Other events, and events it cannot decode, are skipped.
func (h *Hub) Handler(msg *message.Message) error {
	rec, err := bridge.Event(msg)
	if err != nil {
		return err
	}
	if !handledTypes[rec.Type] {
		return nil
	}
	ev, err := domain.Decode(rec.Type, rec.SchemaVersion, rec.Data)
	if err != nil {
		// An event this node cannot read (a newer schema, say) must not stop every push after
		// it: the hub skips it. The read models record and report it.
		return nil
	}
	h.handle(ev, rec.Metadata.RecordedAt)
	return nil
}

// LiveCheckpoints makes a bridge subscription start at the head of the log as it was when the
// node started, and keeps its progress in memory only: the hub needs live news, and a socket
// gets what was pending before it connected from the read model.
type LiveCheckpoints struct {
	Head func() eventstore.Position

	mu  sync.Mutex
	pos map[string]eventstore.Position
}

var _ bridge.Checkpoints = (*LiveCheckpoints)(nil)

func (c *LiveCheckpoints) LoadCheckpoint(_ context.Context, name string) (eventstore.Position, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pos[name]; ok {
		return p, nil
	}
	return c.Head(), nil
}

func (c *LiveCheckpoints) SaveCheckpoint(_ context.Context, name string, pos eventstore.Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pos == nil {
		c.pos = make(map[string]eventstore.Position)
	}
	c.pos[name] = pos
	return nil
}
