package projections

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/assent-dev/assent/eventstore"
)

// MemoryStore is a Store held in memory: for a replay that folds a few streams into a fresh
// set (the audit's account state) and for tests. It is gone when the process ends.
type MemoryStore struct {
	write  sync.Mutex // held by the open write transaction
	mu     sync.RWMutex
	data   *memData
	parent *MemoryStore // set on a fresh store
}

type memRow struct {
	val   []byte
	ix    string
	until int64
}

type memData struct {
	tables      map[string]map[string]memRow
	checkpoints map[string]eventstore.Position
	failures    map[string]FailedEvent // by projection and position
}

func newMemData() *memData {
	d := &memData{tables: map[string]map[string]memRow{}, checkpoints: map[string]eventstore.Position{}, failures: map[string]FailedEvent{}}
	for _, t := range Tables {
		d.tables[t] = map[string]memRow{}
	}
	return d
}

func (d *memData) clone() *memData {
	c := &memData{tables: map[string]map[string]memRow{}, checkpoints: map[string]eventstore.Position{}, failures: map[string]FailedEvent{}}
	for t, rows := range d.tables {
		c.tables[t] = make(map[string]memRow, len(rows))
		for k, r := range rows {
			c.tables[t][k] = r
		}
	}
	for k, v := range d.checkpoints {
		c.checkpoints[k] = v
	}
	for k, v := range d.failures {
		c.failures[k] = v
	}
	return c
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{data: newMemData()} }

var (
	_ Store      = (*MemoryStore)(nil)
	_ FreshStore = (*MemoryStore)(nil)
)

func (s *MemoryStore) table(name string) (map[string]memRow, error) {
	t, ok := s.data.tables[name]
	if !ok {
		return nil, errUnknownTable(name)
	}
	return t, nil
}

// Begin starts a write transaction over a copy of the data that Commit installs.
func (s *MemoryStore) Begin(ctx context.Context) (Tx, error) {
	s.write.Lock()
	s.mu.RLock()
	d := s.data.clone()
	s.mu.RUnlock()
	return &memTx{s: s, d: d}, nil
}

func (s *MemoryStore) Get(_ context.Context, table string, key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.table(table)
	if err != nil {
		return nil, err
	}
	r, ok := t[string(key)]
	if !ok {
		return nil, ErrNotFound
	}
	return slices.Clone(r.val), nil
}

func (s *MemoryStore) Lookup(_ context.Context, table, ix string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.table(table)
	if err != nil {
		return nil, err
	}
	for _, r := range t {
		if r.ix == ix && ix != "" {
			return slices.Clone(r.val), nil
		}
	}
	return nil, ErrNotFound
}

func (s *MemoryStore) Scan(_ context.Context, table string, fn func(key, val []byte) error) error {
	s.mu.RLock()
	t, err := s.table(table)
	if err != nil {
		s.mu.RUnlock()
		return err
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	rows := make([]memRow, len(keys))
	slices.Sort(keys)
	for i, k := range keys {
		rows[i] = t[k]
	}
	s.mu.RUnlock()
	for i, k := range keys {
		if err := fn([]byte(k), slices.Clone(rows[i].val)); err != nil {
			return err
		}
	}
	return nil
}

func (s *MemoryStore) Count(_ context.Context, table string) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.table(table)
	return len(t), err
}

func (s *MemoryStore) Checkpoints(context.Context) (map[string]eventstore.Position, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]eventstore.Position{}
	for k, v := range s.data.checkpoints {
		out[k] = v
	}
	return out, nil
}

func (s *MemoryStore) Failures(context.Context) ([]FailedEvent, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]FailedEvent, 0, len(s.data.failures))
	for _, f := range s.data.failures {
		out = append(out, f)
	}
	sortFailures(out)
	return out, nil
}

// Fresh returns an empty store that Promote installs in s.
func (s *MemoryStore) Fresh(context.Context) (FreshStore, error) {
	return &MemoryStore{data: newMemData(), parent: s}, nil
}

// Promote replaces the parent's data with s's; see FreshStore.
func (s *MemoryStore) Promote(context.Context) error {
	p := s.parent
	if p == nil {
		return nil
	}
	p.write.Lock()
	defer p.write.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, live := range p.data.checkpoints {
		if live > s.data.checkpoints[name] {
			return ErrBehind
		}
	}
	p.data = s.data.clone()
	return nil
}

// Discard forgets the fresh data.
func (s *MemoryStore) Discard(context.Context) error { return nil }

type memTx struct {
	s    *MemoryStore
	d    *memData
	done bool
}

func (tx *memTx) table(name string) (map[string]memRow, error) {
	t, ok := tx.d.tables[name]
	if !ok {
		return nil, errUnknownTable(name)
	}
	return t, nil
}

func (tx *memTx) Get(_ context.Context, table string, key []byte) ([]byte, error) {
	t, err := tx.table(table)
	if err != nil {
		return nil, err
	}
	r, ok := t[string(key)]
	if !ok {
		return nil, ErrNotFound
	}
	return slices.Clone(r.val), nil
}

func (tx *memTx) Put(_ context.Context, table string, key []byte, ix string, until int64, val []byte) error {
	t, err := tx.table(table)
	if err != nil {
		return err
	}
	t[string(key)] = memRow{val: slices.Clone(val), ix: ix, until: until}
	return nil
}

func (tx *memTx) Delete(_ context.Context, table string, key []byte) error {
	t, err := tx.table(table)
	if err != nil {
		return err
	}
	delete(t, string(key))
	return nil
}

func (tx *memTx) Sweep(_ context.Context, table string, before int64) error {
	t, err := tx.table(table)
	if err != nil {
		return err
	}
	for k, r := range t {
		if r.until != 0 && r.until < before {
			delete(t, k)
		}
	}
	return nil
}

func (tx *memTx) Clear(_ context.Context, table string) error {
	if _, err := tx.table(table); err != nil {
		return err
	}
	tx.d.tables[table] = map[string]memRow{}
	return nil
}

func (tx *memTx) Checkpoints(context.Context) (map[string]eventstore.Position, error) {
	return maps.Clone(tx.d.checkpoints), nil
}

func (tx *memTx) SetCheckpoint(_ context.Context, name string, pos eventstore.Position) error {
	tx.d.checkpoints[name] = pos
	return nil
}

func (tx *memTx) SetCheckpoints(_ context.Context, cps map[string]eventstore.Position) error {
	maps.Copy(tx.d.checkpoints, cps)
	return nil
}

func failureKey(name string, pos eventstore.Position) string {
	return fmt.Sprintf("%s\x00%d", name, pos)
}

func (tx *memTx) Failure(_ context.Context, name string, pos eventstore.Position) (FailedEvent, bool, error) {
	f, ok := tx.d.failures[failureKey(name, pos)]
	return f, ok, nil
}

func (tx *memTx) PutFailure(_ context.Context, f FailedEvent) error {
	tx.d.failures[failureKey(f.Projection, f.Position)] = f
	return nil
}

func (tx *memTx) Commit() error {
	if tx.done {
		return errTxDone
	}
	tx.done = true
	tx.s.mu.Lock()
	tx.s.data = tx.d
	tx.s.mu.Unlock()
	tx.s.write.Unlock()
	return nil
}

func (tx *memTx) Rollback() error {
	if tx.done {
		return nil
	}
	tx.done = true
	tx.s.write.Unlock()
	return nil
}

var _ CommittedRows = (*MemoryStore)(nil)

// GetCommitted returns the committed value and until of a row, or ErrNotFound.
func (s *MemoryStore) GetCommitted(_ context.Context, table string, key []byte) ([]byte, int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.table(table)
	if err != nil {
		return nil, 0, err
	}
	r, ok := t[string(key)]
	if !ok {
		return nil, 0, ErrNotFound
	}
	return slices.Clone(r.val), r.until, nil
}
