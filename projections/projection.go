package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// ErrNotFound is returned by lookups of an ID a read model does not hold.
var ErrNotFound = errors.New("projections: not found")

// Projection is a read model folded from the global log. All methods are safe for concurrent
// use; Apply must be called in log order (a router handler or Rebuild does so).
type Projection interface {
	// Name is the projection's permanent name: its watermill topic and checkpoint name.
	Name() string
	// Handles lists the event types the projection folds; every other event only moves its
	// position.
	Handles() []string
	// Apply folds one event. An event at or below Position is skipped, so a redelivery is
	// harmless. It returns an error, and applies nothing, when the event does not decode.
	Apply(ev eventstore.RecordedEvent) error
	// Position is the position of the last event applied (its checkpoint).
	Position() eventstore.Position
	// WaitFor blocks until Position is at least pos or ctx is done.
	WaitFor(ctx context.Context, pos eventstore.Position) error
	// Reset empties the read model and moves its position back to the start of the log.
	Reset()
	// Len is the number of entries in the read model, for rebuild reports.
	Len() int
}

// core holds what every projection shares: the lock that guards the read model, the
// position and the channel closed whenever the position moves.
type core struct {
	name    string
	handles map[string]bool

	mu    sync.RWMutex
	pos   eventstore.Position
	moved chan struct{}
}

func newCore(name string, types ...string) core {
	h := make(map[string]bool, len(types))
	for _, t := range types {
		h[t] = true
	}
	return core{name: name, handles: h, moved: make(chan struct{})}
}

func (c *core) Name() string { return c.name }

func (c *core) Handles() []string {
	out := make([]string, 0, len(c.handles))
	for t := range c.handles {
		out = append(out, t)
	}
	return out
}

func (c *core) Position() eventstore.Position {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pos
}

func (c *core) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		c.mu.RLock()
		cur, moved := c.pos, c.moved
		c.mu.RUnlock()
		if cur >= pos {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("projection %s: wait for position %d (at %d): %w", c.name, pos, cur, ctx.Err())
		}
	}
}

// apply decodes ev if the projection handles its type, then, under the write lock, skips it
// if it was applied already, folds it with fold and moves the position.
func (c *core) apply(ev eventstore.RecordedEvent, fold func(eventstore.RecordedEvent, domain.Event)) error {
	var e domain.Event
	if c.handles[ev.Type] {
		var err error
		if e, err = domain.Decode(ev.Type, ev.SchemaVersion, ev.Data); err != nil {
			return fmt.Errorf("projection %s: event at position %d: %w", c.name, ev.Position, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Position <= c.pos {
		return nil
	}
	if e != nil {
		fold(ev, e)
	}
	c.pos = ev.Position
	close(c.moved)
	c.moved = make(chan struct{})
	return nil
}

// reset empties the model with clear under the write lock.
func (c *core) reset(clear func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear()
	c.pos = eventstore.Start
}

func typesOf(events ...domain.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.EventType()
	}
	return out
}

// rowsLen, rowGet and rowsAll read a projection's rows keyed by ID under its lock, handing out
// copies (clone) so that callers never share the model's memory.
func rowsLen[S any](c *core, rows map[uuid.UUID]*S) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(rows)
}

func rowGet[S, V any](c *core, rows map[uuid.UUID]*S, id uuid.UUID, clone func(*S) V) (V, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := rows[id]
	if !ok {
		var zero V
		return zero, ErrNotFound
	}
	return clone(s), nil
}

// rowsAll returns every row, ordered by ID.
func rowsAll[S, V any](c *core, rows map[uuid.UUID]*S, clone func(*S) V) []V {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ids := make([]uuid.UUID, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	out := make([]V, len(ids))
	for i, id := range ids {
		out[i] = clone(rows[id])
	}
	return out
}
