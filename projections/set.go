package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/bridge"
)

// Set is the server's read models, over one Store. Build it with NewSet or OpenSet.
type Set struct {
	Accounts   *Accounts
	Devices    *Devices
	Pending    *Pending
	Challenges *Challenges
	SignOuts   *SignOuts
	Sessions   *Sessions
	History    *History

	store Store
	log   *slog.Logger
	now   func() time.Time
	apply sync.Mutex // one batch at a time

	mu      sync.Mutex
	skipped int // events skipped since the set was opened, by any read model
	floor   atomic.Uint64
}

// WaitAtLeast makes every later WaitFor wait until the set has reached pos too: a node that
// starts behind the log sets it to the head, so that its queries wait for the catch-up instead
// of answering from older read models.
func (s *Set) WaitAtLeast(pos eventstore.Position) { s.floor.Store(uint64(pos)) }

// NewSet returns empty read models in memory (MemoryStore).
func NewSet() *Set {
	s, _ := OpenSet(context.Background(), NewMemoryStore(), nil)
	return s
}

// OpenSet returns the read models kept in store, at their committed checkpoints, with the open
// challenges loaded into memory. log receives the ERROR of an event skipped; nil discards it.
func OpenSet(ctx context.Context, store Store, log *slog.Logger) (*Set, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Set{
		Accounts: newAccounts(store), Devices: newDevices(store), Pending: newPending(store),
		Challenges: newChallenges(store), SignOuts: newSignOuts(store), Sessions: newSessions(store),
		History: newHistory(store),
		store:   store, log: log, now: time.Now,
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the checkpoints and the open challenges from the store.
func (s *Set) load(ctx context.Context) error {
	cps, err := s.store.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("read models: checkpoints: %w", err)
	}
	for _, p := range s.All() {
		p.base().moveTo(cps[p.Name()])
	}
	if err := s.Pending.restore(); err != nil {
		return fmt.Errorf("read models: open challenges: %w", err)
	}
	return nil
}

// Reset empties every read model and moves its checkpoint back to the start of the log, in
// one transaction; the next CatchUp folds the whole log. A node does so when its read models
// are ahead of its log (a restored backup, or a log that lost its tail): they were folded from
// events this log does not hold. Failed events are kept, for the record.
func (s *Set) Reset(ctx context.Context) error {
	tx, err := s.store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("read models: reset: %w", err)
	}
	defer tx.Rollback()
	for _, t := range Tables {
		if err := tx.Clear(ctx, t); err != nil {
			return fmt.Errorf("read models: reset %s: %w", t, err)
		}
	}
	for _, p := range s.All() {
		if err := tx.SetCheckpoint(ctx, p.Name(), eventstore.Start); err != nil {
			return fmt.Errorf("read models: reset %s: %w", p.Name(), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("read models: reset: %w", err)
	}
	return s.load(ctx)
}

// Store is the store the set keeps its rows in.
func (s *Set) Store() Store { return s.store }

// All returns the projections of the set.
func (s *Set) All() []Projection {
	return []Projection{s.Accounts, s.Devices, s.Pending, s.Challenges, s.SignOuts, s.Sessions, s.History}
}

// Position is the lowest position of the set's projections: every one has applied the log up
// to it.
func (s *Set) Position() eventstore.Position {
	all := s.All()
	low := all[0].Position()
	for _, p := range all[1:] {
		low = min(low, p.Position())
	}
	return low
}

// WaitFor blocks until every projection of the set has reached pos, or ctx is done.
func (s *Set) WaitFor(ctx context.Context, pos eventstore.Position) error {
	pos = max(pos, eventstore.Position(s.floor.Load()))
	for _, p := range s.All() {
		if err := p.WaitFor(ctx, pos); err != nil {
			return err
		}
	}
	return nil
}

// Skipped is the number of events a read model of the set skipped since it was opened.
func (s *Set) Skipped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

// Apply folds ev into every projection of the set, in one transaction.
func (s *Set) Apply(ev eventstore.RecordedEvent) error {
	return s.ApplyBatch(context.Background(), []eventstore.RecordedEvent{ev})
}

// ApplyBatch folds events, in log order, into every projection of the set, in one
// transaction with their checkpoints. Events at or below a projection's checkpoint are
// skipped. An event a projection cannot decode or apply is recorded as failed: the batch
// fails with a *PoisonError (and commits nothing) until the event has been tried MaxAttempts
// times; then that projection skips it, with an ERROR log, and the batch goes on.
func (s *Set) ApplyBatch(ctx context.Context, events []eventstore.RecordedEvent) error {
	s.apply.Lock()
	defer s.apply.Unlock()
	return s.applyTo(ctx, s.store, s.Pending.state, undecoded(events), true)
}

// decodedEvent is an event of the log with its domain value, decoded once for every read
// model; done is false until it has been decoded.
type decodedEvent struct {
	ev   eventstore.RecordedEvent
	e    domain.Event
	err  error
	done bool
}

func undecoded(events []eventstore.RecordedEvent) []decodedEvent {
	out := make([]decodedEvent, len(events))
	for i, ev := range events {
		out[i].ev = ev
	}
	return out
}

// decodeEvent is domain.Decode; tests count its calls.
var decodeEvent = domain.Decode

// decode decodes the event, the first time only: every read model of a batch is handed the
// same value.
func (d *decodedEvent) decode() {
	if d.done {
		return
	}
	d.done = true
	if d.e, d.err = decodeEvent(d.ev.Type, d.ev.SchemaVersion, d.ev.Data); d.err != nil {
		d.err = &applyError{d.err}
	}
}

// handled returns the event types some projection of the set folds.
func (s *Set) handled() map[string]bool {
	handled := map[string]bool{}
	for _, p := range s.All() {
		for t := range p.base().handles {
			handled[t] = true
		}
	}
	return handled
}

// decodeHandled decodes the events of a type in handled.
func decodeHandled(events []eventstore.RecordedEvent, handled map[string]bool) []decodedEvent {
	out := undecoded(events)
	for i := range out {
		if handled[out[i].ev.Type] {
			out[i].decode()
		}
	}
	return out
}

// applyOne folds one event into one projection of its own.
func applyOne(p Projection, ev eventstore.RecordedEvent) error {
	s := &Set{store: p.base().store, log: slog.New(slog.DiscardHandler), now: time.Now}
	pend := newPendingState()
	if pp, ok := p.(*Pending); ok {
		pend = pp.state
	}
	ch, _ := p.(*Challenges)
	return s.applyModels(context.Background(), s.store, pend, []Projection{p}, ch, undecoded([]eventstore.RecordedEvent{ev}), true)
}

// PoisonError is an event a projection failed to decode or apply, tried Attempts times.
type PoisonError struct {
	Failed FailedEvent
	Err    error
}

func (e *PoisonError) Error() string {
	return fmt.Sprintf("projection %s: event %d (%s v%d), attempt %d of %d: %v", e.Failed.Projection, e.Failed.Position, e.Failed.Type, e.Failed.SchemaVersion, e.Failed.Attempts, MaxAttempts, e.Err)
}

func (e *PoisonError) Unwrap() error { return e.Err }

func (s *Set) applyTo(ctx context.Context, target Store, pend *pendingState, events []decodedEvent, live bool) error {
	return s.applyModels(ctx, target, pend, s.All(), s.Challenges, events, live)
}

func (s *Set) applyModels(ctx context.Context, target Store, pend *pendingState, models []Projection, ch *Challenges, events []decodedEvent, live bool) error {
	if len(events) == 0 {
		return nil
	}
	tx, err := target.Begin(ctx)
	if err != nil {
		return fmt.Errorf("read models: begin: %w", err)
	}
	defer tx.Rollback()
	var retain time.Duration
	if ch != nil {
		retain = ch.retention()
	}
	b := newBatch(ctx, tx, pend, retain)
	saved, err := tx.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("read models: checkpoints: %w", err)
	}
	cps := make([]eventstore.Position, len(models))
	for i, m := range models {
		cps[i] = saved[m.Name()]
	}
	start := slices.Clone(cps)
	var skipped []FailedEvent
	for k := range events {
		d := &events[k]
		ev := d.ev
		for i, m := range models {
			c := m.base()
			if ev.Position <= cps[i] {
				continue
			}
			if c.handles[ev.Type] {
				d.decode()
				err := d.err
				if err == nil {
					err = c.fold(b, ev, d.e)
				}
				var ae *applyError
				if errors.As(err, &ae) {
					f, skip, ferr := s.failed(ctx, tx, c.name, ev, ae)
					if ferr != nil {
						return ferr
					}
					if !skip {
						tx.Rollback()
						if err := recordFailure(ctx, target, f); err != nil {
							return err
						}
						return &PoisonError{Failed: f, Err: ae.err}
					}
					skipped = append(skipped, f)
				} else if err != nil {
					return fmt.Errorf("read model %s: event %d: %w", c.name, ev.Position, err)
				}
			}
			cps[i] = ev.Position
		}
	}
	moved := make(map[string]eventstore.Position, len(models))
	for i, m := range models {
		if cps[i] != start[i] {
			moved[m.Name()] = cps[i]
		}
	}
	if len(moved) > 0 {
		if err := tx.SetCheckpoints(ctx, moved); err != nil {
			return fmt.Errorf("read models: save checkpoints: %w", err)
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("read models: write rows: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("read models: commit: %w", err)
	}
	for _, f := range skipped {
		s.log.Error("read model skipped an event it cannot apply", "projection", f.Projection, "position", uint64(f.Position), "type", f.Type, "schema_version", f.SchemaVersion, "attempts", f.Attempts, "err", f.Error)
	}
	s.mu.Lock()
	s.skipped += len(skipped)
	s.mu.Unlock()
	pend.commit(b)
	if !live {
		return nil
	}
	for i, m := range models {
		if p, ok := m.(*Pending); ok && start[i] != p.Position() {
			// another node moved the shared tables: the memory follows the table
			if err := p.restore(); err != nil {
				return err
			}
		}
		m.base().moveTo(cps[i])
	}
	return nil
}

// failed counts an attempt at a poison event; skip is true once it has had MaxAttempts.
func (s *Set) failed(ctx context.Context, tx Tx, name string, ev eventstore.RecordedEvent, err error) (FailedEvent, bool, error) {
	prev, _, ferr := tx.Failure(ctx, name, ev.Position)
	if ferr != nil {
		return FailedEvent{}, false, fmt.Errorf("read models: failed events: %w", ferr)
	}
	f := FailedEvent{Projection: name, Position: ev.Position, Type: ev.Type, SchemaVersion: ev.SchemaVersion,
		Error: err.Error(), Attempts: prev.Attempts + 1, At: s.now().UTC()}
	f.Skipped = f.Attempts >= MaxAttempts
	if f.Skipped {
		if err := tx.PutFailure(ctx, f); err != nil {
			return f, false, fmt.Errorf("read models: failed events: %w", err)
		}
	}
	return f, f.Skipped, nil
}

func recordFailure(ctx context.Context, target Store, f FailedEvent) error {
	tx, err := target.Begin(ctx)
	if err != nil {
		return fmt.Errorf("read models: record a failed event: %w", err)
	}
	defer tx.Rollback()
	if err := tx.PutFailure(ctx, f); err != nil {
		return fmt.Errorf("read models: record a failed event: %w", err)
	}
	return tx.Commit()
}

// LogReader reads the global log; every eventstore.Store is one.
type LogReader interface {
	ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error)
}

// RebuildStats reports a rebuild or a catch-up. The row counts (Accounts to SignOuts) are
// filled by Rebuild only.
type RebuildStats struct {
	Events     int                 // events read from the log
	Position   eventstore.Position // position reached
	Accounts   int
	Devices    int
	Pending    int // open challenges
	Challenges int
	SignOuts   int // sessions signed out that have not expired yet
	Took       time.Duration
}

// PageSize is the number of events read at once by CatchUp and Rebuild, and applied in one
// transaction by CatchUp.
const PageSize = 5000

// RebuildGroup is the number of events Rebuild applies in one transaction: nobody reads the
// fresh tables until they replace the live ones, so a larger transaction costs only the
// memory of its events and rows, and writes a row changed several times in it once.
const RebuildGroup = 25_000

// CatchUp folds the log from the set's Position to its end, a page per transaction. Events a
// projection has already applied are skipped. A poison event is retried after a short pause
// until it is skipped (see ApplyBatch).
func (s *Set) CatchUp(ctx context.Context, log LogReader) (RebuildStats, error) {
	start := time.Now()
	st := RebuildStats{Position: s.Position()}
	err := s.fold(ctx, log, &st, PageSize, func(page []decodedEvent) error {
		s.apply.Lock()
		defer s.apply.Unlock()
		return s.applyTo(ctx, s.store, s.Pending.state, page, true)
	})
	if err != nil {
		return st, err
	}
	// No counts of the tables here (unlike Rebuild): counting a million rows would hold a
	// starting node back for seconds, for a figure the start-up log does not need.
	st.Took = time.Since(start)
	return st, nil
}

// OpeningReader is a LogReader whose ReadAll is a plain read of the stored events followed by
// their opening (the personal store, which opens sealed personal fields with their owner's
// key). CatchUp and Rebuild read its pages with ReadAllUnopened on one goroutine and open them
// with OpenAll on several, beside the decoding.
type OpeningReader interface {
	LogReader
	ReadAllUnopened(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error)
	// OpenAll opens events read with ReadAllUnopened, in place.
	OpenAll(ctx context.Context, evs []eventstore.RecordedEvent) error
}

// foldPage is a page of the log on its way through fold: read, then opened and decoded by a
// worker, which closes done.
type foldPage struct {
	raw    []eventstore.RecordedEvent
	events []decodedEvent
	err    error
	done   chan struct{}
}

// fold reads the log after st.Position, a page at a time, and hands it to apply in groups of
// at least group events (the last may be smaller), in log order, retrying a group that holds a
// poison event. One goroutine reads the pages; workers, one per processor, open them (over an
// OpeningReader) and decode the events some read model handles, while apply folds the earlier
// ones. About a group and three pages per worker wait ahead of the group being applied, at most.
func (s *Set) fold(ctx context.Context, log LogReader, st *RebuildStats, group int, apply func([]decodedEvent) error) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	handled := s.handled()
	read := log.ReadAll
	var open func(context.Context, []eventstore.RecordedEvent) error
	if o, ok := log.(OpeningReader); ok {
		read, open = o.ReadAllUnopened, o.OpenAll
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	jobs := make(chan *foldPage, workers)
	ordered := make(chan *foldPage, (group+PageSize-1)/PageSize+workers) // in log order
	go func() {
		defer close(ordered)
		defer close(jobs)
		after := st.Position
		for {
			raw, err := read(rctx, after, PageSize)
			p := &foldPage{raw: raw, err: err, done: make(chan struct{})}
			if err != nil {
				close(p.done)
			} else {
				select {
				case jobs <- p:
				case <-rctx.Done():
					return
				}
			}
			select {
			case ordered <- p:
			case <-rctx.Done():
				return
			}
			if err != nil || len(raw) < PageSize {
				return
			}
			after = raw[len(raw)-1].Position
		}
	}()
	for range workers {
		go func() {
			for p := range jobs {
				if open != nil {
					p.err = open(rctx, p.raw)
				}
				if p.err == nil {
					p.events = decodeHandled(p.raw, handled)
				}
				p.raw = nil
				close(p.done)
			}
		}()
	}
	applyGroup := func(events []decodedEvent) error {
		for attempt := 1; ; attempt++ {
			err := apply(events)
			var pe *PoisonError
			if err == nil {
				break
			}
			if !errors.As(err, &pe) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
			}
		}
		st.Events += len(events)
		if len(events) > 0 {
			st.Position = events[len(events)-1].ev.Position
		}
		return nil
	}
	var pending []decodedEvent
	for p := range ordered {
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if p.err != nil {
			return fmt.Errorf("read models: read the log after %d: %w", st.Position, p.err)
		}
		pending = append(pending, p.events...)
		if len(pending) >= group {
			if err := applyGroup(pending); err != nil {
				return err
			}
			pending = nil
		}
	}
	if err := ctx.Err(); err != nil {
		return err // the reader stopped early: what was read is not the whole log
	}
	if len(pending) > 0 {
		return applyGroup(pending)
	}
	return nil
}

func (s *Set) count(st *RebuildStats, store Store) {
	n := func(table string) int { c, _ := store.Count(context.Background(), table); return c }
	st.Accounts, st.Devices, st.Challenges, st.SignOuts = n("accounts"), n("devices"), n("challenges"), n("signouts")
	st.Pending = n("pending")
}

// Rebuild folds the log from position zero into fresh tables, then replaces the live ones
// with them (Promote): a reader meanwhile sees the old read models. If a server moved the
// live ones past the rebuild meanwhile, the rebuild folds the rest of the log and promotes
// again.
func (s *Set) Rebuild(ctx context.Context, log LogReader) (RebuildStats, error) {
	start := time.Now()
	fresh, err := s.store.Fresh(ctx)
	if err != nil {
		return RebuildStats{}, fmt.Errorf("read models: fresh tables: %w", err)
	}
	// Over a store that reads its committed rows apart (the SQL tables), a group is written
	// and committed by another goroutine while the next one is folded (pipeStore).
	var target Store = fresh
	var pipe *pipeStore
	if rows, ok := fresh.(CommittedRows); ok {
		if pipe, err = newPipe(ctx, rows); err != nil {
			fresh.Discard(context.WithoutCancel(ctx))
			return RebuildStats{}, fmt.Errorf("read models: fresh tables: %w", err)
		}
		target = pipe
	}
	pend := newPendingState()
	st := RebuildStats{}
	// fail stops the writer, if any, before it drops the fresh tables the writer writes to.
	fail := func(err error) (RebuildStats, error) {
		if pipe != nil {
			pipe.close()
		}
		fresh.Discard(context.WithoutCancel(ctx))
		return st, err
	}
	apply := func(page []decodedEvent) error {
		return s.applyModels(ctx, target, pend, s.All(), s.Challenges, page, false)
	}
	for {
		err := s.fold(ctx, log, &st, RebuildGroup, apply)
		if err == nil && pipe != nil {
			err = pipe.wait() // every group committed before the tables are promoted
		}
		if err != nil {
			return fail(err)
		}
		err = fresh.Promote(ctx)
		if errors.Is(err, ErrBehind) {
			continue
		}
		if err != nil {
			return fail(fmt.Errorf("read models: replace the tables: %w", err))
		}
		break
	}
	if pipe != nil {
		pipe.close() // nothing is in flight: wait returned before the promotion
	}
	if err := s.load(ctx); err != nil {
		return st, err
	}
	s.count(&st, s.store)
	st.Took = time.Since(start)
	return st, nil
}

// LoadCheckpoint returns the position of the projection named name, or of the whole set
// (SetConsumer): a router resumes where the committed read models are. It makes Set a
// bridge.Checkpoints.
func (s *Set) LoadCheckpoint(_ context.Context, name string) (eventstore.Position, error) {
	if name == SetConsumer {
		return s.Position(), nil
	}
	p, err := s.byName(name)
	if err != nil {
		return 0, err
	}
	return p.Position(), nil
}

// SaveCheckpoint does nothing: the checkpoint is written with the rows. It knows the same
// names as LoadCheckpoint.
func (s *Set) SaveCheckpoint(_ context.Context, name string, _ eventstore.Position) error {
	if name == SetConsumer {
		return nil
	}
	_, err := s.byName(name)
	return err
}

var _ bridge.Checkpoints = (*Set)(nil)

func (s *Set) byName(name string) (Projection, error) {
	for _, p := range s.All() {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("projections: %w: no projection named %q", ErrNotFound, name)
}

// SetConsumer is the consumer name under which NewRouter feeds the whole set.
const SetConsumer = "projections"

// LiveBatch is the most events NewRouter's handler applies in one transaction: those the
// log has delivered while the previous transaction ran (bridge.Config.Batch).
const LiveBatch = 256

// LiveLinger is how long the live fold waits after a new event for others to join it
// (bridge.Config.Linger): the moment after a commit goes to the push hub, which runs on the
// same processors, and a busy log folds more events per transaction. The read models lag the
// log by that much more.
const LiveLinger = 2 * time.Millisecond

// NewRouter returns a watermill Router that feeds every projection of s from store through a
// bridge.Subscriber, with the Recoverer and Retry middleware. One handler applies each message
// to the whole set, in one transaction: one event, or up to LiveBatch that the log had ready
// (each projection skips what it has already applied, so the set resumes from its lowest
// position). The caller runs it (Run) and closes it (Close).
func NewRouter(s *Set, store eventstore.Store, logger watermill.LoggerAdapter) (*message.Router, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, logger)
	if err != nil {
		return nil, fmt.Errorf("projections router: %w", err)
	}
	r.AddMiddleware(
		middleware.Retry{MaxRetries: MaxAttempts, InitialInterval: 10 * time.Millisecond, Logger: logger}.Middleware,
		middleware.Recoverer,
	)
	sub := bridge.NewSubscriber(store, s, bridge.Config{Logger: logger, Batch: LiveBatch, Linger: LiveLinger})
	r.AddConsumerHandler(SetConsumer, SetConsumer, sub, func(msg *message.Message) error {
		events, err := bridge.Events(msg)
		if err != nil {
			return err
		}
		return s.ApplyBatch(msg.Context(), events)
	})
	return r, nil
}
