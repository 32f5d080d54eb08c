package projections

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/assent-dev/assent/eventstore"
)

// CommittedRows is a fresh store that reads a committed row with its until (0 for none)
// outside any write transaction. Rebuild pipelines its writes over such a store (pipeStore):
// the next group is folded while the previous one is written and committed.
type CommittedRows interface {
	FreshStore
	// GetCommitted returns the committed value and until of a row, or ErrNotFound. It may run
	// while a write transaction is open on the store.
	GetCommitted(ctx context.Context, table string, key []byte) (val []byte, until int64, err error)
}

// pipeDepth is how many committed groups a pipeStore may hold in flight, written and
// committed by its writer while the next one is folded.
const pipeDepth = 1

// pipeStore is the Store a rebuild folds into when the fresh store is a CommittedRows: a
// transaction records its writes and, at Commit, hands them to a writer goroutine, which
// applies them in a transaction of the fresh store and commits it, while the fold goes on
// with the next group. A transaction reads what it wrote, then what the transactions in
// flight wrote (their sweeps too), then the fresh store's committed rows: so it reads what it
// would have read had every transaction before it committed. One transaction at a time, as
// with every Store; an error of the writer fails every later Begin and Commit, and wait.
type pipeStore struct {
	FreshStore // Count, Scan, Promote and the rest, on the committed rows
	rows       CommittedRows
	ctx        context.Context

	mu       sync.Mutex
	drained  *sync.Cond                     // signalled when a layer leaves inflight
	inflight []*pipeLayer                   // handed to the writer, oldest first
	cps      map[string]eventstore.Position // checkpoints as of the newest transaction handed off
	err      error                          // the writer's first error
	work     chan *pipeLayer
	stopped  chan struct{}
}

// newPipe starts the writer of a pipeStore over rows; close stops it.
func newPipe(ctx context.Context, rows CommittedRows) (*pipeStore, error) {
	cps, err := rows.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	p := &pipeStore{FreshStore: rows, rows: rows, ctx: ctx, cps: cps,
		work: make(chan *pipeLayer, pipeDepth-1), stopped: make(chan struct{})}
	p.drained = sync.NewCond(&p.mu)
	go p.write()
	return p, nil
}

// write applies and commits the layers handed off, in order.
func (p *pipeStore) write() {
	defer close(p.stopped)
	for l := range p.work {
		p.mu.Lock()
		failed := p.err != nil
		p.mu.Unlock()
		var err error
		if !failed {
			err = p.commit(l)
		}
		p.mu.Lock()
		if err != nil && p.err == nil {
			p.err = err
		}
		p.inflight = slices.DeleteFunc(p.inflight, func(x *pipeLayer) bool { return x == l })
		p.drained.Broadcast()
		p.mu.Unlock()
	}
}

// commit writes a layer's operations in one transaction of the fresh store. A run of puts into
// one table in key order (a batch's rows) is written with PutRows where the store has it.
//
// The statements run under a context that is never done, and the writer checks the rebuild's
// between them: the SQLite driver watches a statement's context with a goroutine of its own,
// which cost more than a small statement does.
func (p *pipeStore) commit(l *pipeLayer) error {
	ctx := context.WithoutCancel(p.ctx)
	tx, err := p.rows.Begin(p.ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rw, _ := tx.(RowsWriter)
	var run []Row
	for i := 0; i < len(l.ops); i++ {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		op := &l.ops[i]
		switch op.kind {
		case opPut:
			if rw == nil {
				err = tx.Put(ctx, op.table, op.key, op.ix, op.until, op.val)
				break
			}
			run = append(run[:0], Row{Key: op.key, Ix: op.ix, Until: op.until, Val: op.val})
			for i+1 < len(l.ops) {
				next := &l.ops[i+1]
				if next.kind != opPut || next.table != op.table || bytes.Compare(next.key, run[len(run)-1].Key) <= 0 {
					break
				}
				run = append(run, Row{Key: next.key, Ix: next.ix, Until: next.until, Val: next.val})
				i++
			}
			err = rw.PutRows(ctx, op.table, run)
		case opDelete:
			err = tx.Delete(ctx, op.table, op.key)
		case opSweep:
			err = tx.Sweep(ctx, op.table, op.until)
		case opClear:
			err = tx.Clear(ctx, op.table)
		case opCheckpoints:
			err = tx.SetCheckpoints(ctx, op.cps)
		case opFailure:
			err = tx.PutFailure(ctx, op.failure)
		}
		if err != nil {
			return err
		}
	}
	if err := p.ctx.Err(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("read models: commit: %w", err)
	}
	return nil
}

// wait returns once every transaction handed off is committed, with the writer's error.
func (p *pipeStore) wait() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.inflight) > 0 {
		p.drained.Wait()
	}
	return p.err
}

// inFlight is the number of transactions handed off and not committed yet.
func (p *pipeStore) inFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inflight)
}

// close waits for the writer and stops it.
func (p *pipeStore) close() error {
	err := p.wait()
	close(p.work)
	<-p.stopped
	return err
}

// Begin starts a transaction that records its writes.
func (p *pipeStore) Begin(context.Context) (Tx, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	return &pipeTx{p: p, l: newPipeLayer()}, nil
}

type opKind uint8

const (
	opPut opKind = iota
	opDelete
	opSweep // until is the sweep's before
	opClear
	opCheckpoints
	opFailure
)

type pipeOp struct {
	kind    opKind
	table   string
	key     []byte
	ix      string
	until   int64
	val     []byte
	cps     map[string]eventstore.Position
	failure FailedEvent
}

// pipeLayer is what one transaction wrote: its operations in order, and by table the last
// write of each key and the sweeps, each with its place in the order.
type pipeLayer struct {
	ops      []pipeOp
	tables   map[string]*layerTable
	failures map[string]FailedEvent
	cps      map[string]eventstore.Position
}

type layerTable struct {
	rows   map[string]layerRow
	sweeps []layerSweep
}

type layerRow struct {
	val     []byte
	until   int64
	present bool
	seq     int
}

// layerSweep deletes the rows written before it (seq) whose until is before before; all
// (a Clear) deletes every row.
type layerSweep struct {
	seq    int
	before int64
	all    bool
}

func newPipeLayer() *pipeLayer {
	return &pipeLayer{tables: map[string]*layerTable{}, failures: map[string]FailedEvent{}}
}

func (l *pipeLayer) table(name string) *layerTable {
	t := l.tables[name]
	if t == nil {
		t = &layerTable{rows: map[string]layerRow{}}
		l.tables[name] = t
	}
	return t
}

func knownTable(name string) error {
	if slices.Contains(Tables, name) {
		return nil
	}
	return errUnknownTable(name)
}

type pipeTx struct {
	p    *pipeStore
	l    *pipeLayer
	done bool
}

// Get reads the row as it would be had every transaction before this one committed.
func (t *pipeTx) Get(ctx context.Context, table string, key []byte) ([]byte, error) {
	if err := knownTable(table); err != nil {
		return nil, err
	}
	t.p.mu.Lock()
	layers := make([]*pipeLayer, 0, len(t.p.inflight)+1)
	layers = append(layers, t.l)
	for i := len(t.p.inflight) - 1; i >= 0; i-- {
		layers = append(layers, t.p.inflight[i])
	}
	t.p.mu.Unlock()
	// The sweeps met so far, newest first, apply to every older write of the key.
	cut, all := int64(math.MinInt64), false
	swept := func(until int64) bool { return all || (until != 0 && until < cut) }
	for _, l := range layers {
		lt := l.tables[table]
		if lt == nil {
			continue
		}
		if r, ok := lt.rows[string(key)]; ok {
			for _, sw := range lt.sweeps {
				if sw.seq > r.seq {
					cut, all = max(cut, sw.before), all || sw.all
				}
			}
			if !r.present || swept(r.until) {
				return nil, ErrNotFound
			}
			return r.val, nil
		}
		for _, sw := range lt.sweeps {
			cut, all = max(cut, sw.before), all || sw.all
		}
		if all {
			return nil, ErrNotFound
		}
	}
	// A transaction in flight may commit meanwhile: its rows were found above, and its sweeps,
	// applied again to a row it did not write, delete what they deleted.
	val, until, err := t.p.rows.GetCommitted(context.WithoutCancel(ctx), table, key) // see commit
	if err != nil {
		return nil, err
	}
	if swept(until) {
		return nil, ErrNotFound
	}
	return val, nil
}

func (t *pipeTx) record(op pipeOp) error {
	if t.done {
		return errTxDone
	}
	if op.table != "" {
		if err := knownTable(op.table); err != nil {
			return err
		}
	}
	seq := len(t.l.ops)
	t.l.ops = append(t.l.ops, op)
	switch op.kind {
	case opPut:
		t.l.table(op.table).rows[string(op.key)] = layerRow{val: op.val, until: op.until, present: true, seq: seq}
	case opDelete:
		t.l.table(op.table).rows[string(op.key)] = layerRow{seq: seq}
	case opSweep:
		lt := t.l.table(op.table)
		lt.sweeps = append(lt.sweeps, layerSweep{seq: seq, before: op.until})
	case opClear:
		lt := t.l.table(op.table)
		lt.sweeps = append(lt.sweeps, layerSweep{seq: seq, all: true})
	}
	return nil
}

// Put records the row; the writer writes it at the transaction's turn. val is kept, not copied.
func (t *pipeTx) Put(_ context.Context, table string, key []byte, ix string, until int64, val []byte) error {
	return t.record(pipeOp{kind: opPut, table: table, key: key, ix: ix, until: until, val: val})
}

func (t *pipeTx) Delete(_ context.Context, table string, key []byte) error {
	return t.record(pipeOp{kind: opDelete, table: table, key: key})
}

func (t *pipeTx) Sweep(_ context.Context, table string, before int64) error {
	return t.record(pipeOp{kind: opSweep, table: table, until: before})
}

func (t *pipeTx) Clear(_ context.Context, table string) error {
	return t.record(pipeOp{kind: opClear, table: table})
}

// Checkpoints returns the checkpoints as of the last transaction handed off, with this one's.
func (t *pipeTx) Checkpoints(context.Context) (map[string]eventstore.Position, error) {
	t.p.mu.Lock()
	out := maps.Clone(t.p.cps)
	t.p.mu.Unlock()
	maps.Copy(out, t.l.cps)
	return out, nil
}

func (t *pipeTx) SetCheckpoint(ctx context.Context, name string, pos eventstore.Position) error {
	return t.SetCheckpoints(ctx, map[string]eventstore.Position{name: pos})
}

func (t *pipeTx) SetCheckpoints(_ context.Context, cps map[string]eventstore.Position) error {
	cps = maps.Clone(cps)
	if err := t.record(pipeOp{kind: opCheckpoints, cps: cps}); err != nil {
		return err
	}
	if t.l.cps == nil {
		t.l.cps = map[string]eventstore.Position{}
	}
	maps.Copy(t.l.cps, cps)
	return nil
}

// Failure reads this transaction's failed events, then those in flight, then the committed ones.
func (t *pipeTx) Failure(ctx context.Context, name string, pos eventstore.Position) (FailedEvent, bool, error) {
	k := failureKey(name, pos)
	if f, ok := t.l.failures[k]; ok {
		return f, true, nil
	}
	t.p.mu.Lock()
	for i := len(t.p.inflight) - 1; i >= 0; i-- {
		if f, ok := t.p.inflight[i].failures[k]; ok {
			t.p.mu.Unlock()
			return f, true, nil
		}
	}
	t.p.mu.Unlock()
	all, err := t.p.rows.Failures(ctx)
	if err != nil {
		return FailedEvent{}, false, err
	}
	for _, f := range all {
		if f.Projection == name && f.Position == pos {
			return f, true, nil
		}
	}
	return FailedEvent{}, false, nil
}

func (t *pipeTx) PutFailure(_ context.Context, f FailedEvent) error {
	if err := t.record(pipeOp{kind: opFailure, failure: f}); err != nil {
		return err
	}
	t.l.failures[failureKey(f.Projection, f.Position)] = f
	return nil
}

// Commit hands the transaction to the writer, waiting while pipeDepth others are in flight.
// It fails with the writer's error, if it had one.
func (t *pipeTx) Commit() error {
	if t.done {
		return errTxDone
	}
	t.done = true
	p := t.p
	p.mu.Lock()
	for len(p.inflight) >= pipeDepth && p.err == nil {
		p.drained.Wait()
	}
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		return err
	}
	p.inflight = append(p.inflight, t.l)
	maps.Copy(p.cps, t.l.cps)
	p.mu.Unlock()
	p.work <- t.l
	return nil
}

func (t *pipeTx) Rollback() error {
	t.done = true
	return nil
}
