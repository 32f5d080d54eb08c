package projections

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// ErrNotFound is returned by lookups of an ID a read model does not hold.
var ErrNotFound = errors.New("projections: not found")

// Projection is a read model folded from the global log into a Store. All methods are safe
// for concurrent use; Apply must be called in log order (a router handler or Rebuild does so).
type Projection interface {
	// Name is the projection's permanent name: its checkpoint name.
	Name() string
	// Handles lists the event types the projection folds; every other event only moves its
	// position.
	Handles() []string
	// Apply folds one event and commits it with the checkpoint. An event at or below the
	// checkpoint is skipped, so a redelivery is harmless.
	Apply(ev eventstore.RecordedEvent) error
	// Position is the position of the last event applied (its checkpoint).
	Position() eventstore.Position
	// WaitFor blocks until Position is at least pos or ctx is done.
	WaitFor(ctx context.Context, pos eventstore.Position) error
	// Reset empties the read model and moves its checkpoint back to the start of the log.
	Reset()
	// Len is the number of entries in the read model, for rebuild reports.
	Len() int

	base() *core
}

// core holds what every projection shares: its store, the position it has committed and the
// channel closed whenever the position moves.
type core struct {
	name    string
	handles map[string]bool
	tables  []string
	store   Store
	fold    func(b *batch, ev eventstore.RecordedEvent, e domain.Event) error

	mu    sync.RWMutex
	pos   eventstore.Position
	moved chan struct{}
}

func newCore(name string, store Store, tables []string, types ...string) core {
	h := make(map[string]bool, len(types))
	for _, t := range types {
		h[t] = true
	}
	return core{name: name, handles: h, tables: tables, store: store, moved: make(chan struct{})}
}

func (c *core) base() *core { return c }

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

// moveTo records a committed checkpoint and wakes the waiters.
func (c *core) moveTo(pos eventstore.Position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pos == c.pos {
		return
	}
	c.pos = pos
	close(c.moved)
	c.moved = make(chan struct{})
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

// Len counts the rows of the projection's first table; it is 0 if the store fails.
func (c *core) Len() int {
	n, _ := c.store.Count(context.Background(), c.tables[0])
	return n
}

// Reset deletes the projection's rows and checkpoint.
func (c *core) Reset() {
	ctx := context.Background()
	tx, err := c.store.Begin(ctx)
	if err != nil {
		return
	}
	defer tx.Rollback()
	for _, t := range c.tables {
		if tx.Clear(ctx, t) != nil {
			return
		}
	}
	if tx.SetCheckpoint(ctx, c.name, eventstore.Start) != nil || tx.Commit() != nil {
		return
	}
	c.mu.Lock()
	c.pos = eventstore.Start
	c.mu.Unlock()
}

func typesOf(events ...domain.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.EventType()
	}
	return out
}

// applyError is an event a read model cannot decode or fold: a poison event, recorded and
// after MaxAttempts skipped. Every other error (the store's) fails the whole batch.
type applyError struct{ err error }

func (e *applyError) Error() string { return e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

// batch is the work of one transaction: the rows it has read and written, by table and key,
// decoded once and written back at flush.
type batch struct {
	ctx     context.Context
	tx      Tx
	rows    map[string]map[string]*cachedRow
	pending *pendingState // the open challenges as committed, for unlinks
	retain  time.Duration
}

type cachedRow struct {
	v       any
	ix      string
	until   int64
	present bool
	dirty   bool
	stored  bool // the row may be in the store: a delete must reach it
}

func newBatch(ctx context.Context, tx Tx, pending *pendingState, retain time.Duration) *batch {
	return &batch{ctx: ctx, tx: tx, rows: map[string]map[string]*cachedRow{}, pending: pending, retain: retain}
}

func (b *batch) table(name string) map[string]*cachedRow {
	m := b.rows[name]
	if m == nil {
		m = map[string]*cachedRow{}
		b.rows[name] = m
	}
	return m
}

// load returns the row of table at key, or nil if there is none.
func load[T any](b *batch, table string, key []byte) (*T, error) {
	m := b.table(table)
	if c, ok := m[string(key)]; ok {
		if !c.present {
			return nil, nil
		}
		return c.v.(*T), nil
	}
	raw, err := b.tx.Get(b.ctx, table, key)
	if errors.Is(err, ErrNotFound) {
		m[string(key)] = &cachedRow{}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := gojson.Unmarshal(raw, v); err != nil {
		return nil, &applyError{fmt.Errorf("row %x of %s does not decode: %w", key, table, err)}
	}
	m[string(key)] = &cachedRow{v: v, present: true, stored: true}
	return v, nil
}

func (b *batch) put(table string, key []byte, ix string, until int64, v any) {
	m := b.table(table)
	stored := true // unless the batch knows it is not
	if c, ok := m[string(key)]; ok {
		stored = c.stored
	}
	m[string(key)] = &cachedRow{v: v, ix: ix, until: until, present: true, dirty: true, stored: stored}
}

// create writes a row that the event creates: its key is new (a challenge's ID), so the store
// does not hold it.
func (b *batch) create(table string, key []byte, ix string, until int64, v any) {
	m := b.table(table)
	stored := false
	if c, ok := m[string(key)]; ok {
		stored = c.stored
	}
	m[string(key)] = &cachedRow{v: v, ix: ix, until: until, present: true, dirty: true, stored: stored}
}

// del deletes a row; a row the batch created and the store never held costs no write.
func (b *batch) del(table string, key []byte) {
	m := b.table(table)
	stored := true
	if c, ok := m[string(key)]; ok {
		stored = c.stored
	}
	m[string(key)] = &cachedRow{dirty: stored, stored: stored}
}

// flush writes the changed rows, table by table in key order: a B-tree takes keys in order
// page by page, where a random order touches a page per row.
func (b *batch) flush() error {
	for _, table := range slices.Sorted(maps.Keys(b.rows)) {
		if err := b.flushTable(table); err != nil {
			return err
		}
	}
	return nil
}

// flushTable writes the changed rows of one table, in key order.
func (b *batch) flushTable(table string) error {
	m := b.rows[table]
	keys := make([]string, 0, len(m))
	for k, c := range m {
		if c.dirty {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		c := m[k]
		if c.present {
			raw, err := gojson.Marshal(c.v)
			if err != nil {
				return fmt.Errorf("projections: encode a row of %s: %w", table, err)
			}
			if err := b.tx.Put(b.ctx, table, []byte(k), c.ix, c.until, raw); err != nil {
				return err
			}
			c.stored = true
		} else if err := b.tx.Delete(b.ctx, table, []byte(k)); err != nil {
			return err
		}
		c.dirty = false
	}
	return nil
}

// sweep deletes the rows of table whose until is before before, written or not. Only that
// table's rows are written first: the others wait for the batch's end.
func (b *batch) sweep(table string, before int64) error {
	if err := b.flushTable(table); err != nil {
		return err
	}
	delete(b.rows, table)
	return b.tx.Sweep(b.ctx, table, before)
}

// counter reads and bumps a read model's counter in the meta table.
func (b *batch) counter(name string) (int, error) {
	n, err := load[int](b, "meta", []byte(name))
	if err != nil {
		return 0, err
	}
	v := 1
	if n != nil {
		v = *n + 1
	}
	b.put("meta", []byte(name), "", 0, &v)
	return v, nil
}

// bg is the context of the queries of the public surface, which takes none: a read of the
// local database.
func bg() context.Context { return context.Background() }

// getRow reads and decodes a committed row.
func getRow[T any](store Store, table string, key []byte) (T, error) {
	var v T
	raw, err := store.Get(bg(), table, key)
	if err != nil {
		return v, err
	}
	if err := gojson.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("projections: row %x of %s: %w", key, table, err)
	}
	return v, nil
}

// allRows decodes every committed row of a table, ordered by key.
func allRows[T any](store Store, table string) ([]T, error) {
	var out []T
	err := store.Scan(bg(), table, func(_, raw []byte) error {
		var v T
		if err := gojson.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("projections: a row of %s: %w", table, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}
