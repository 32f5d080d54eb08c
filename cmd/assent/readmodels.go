package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/projections/tables"
)

// readyLag is how far behind the log the read models may be while the node says it is ready.
const readyLag = 1000

// openReadModels opens the read models where the backend keeps them: in PostgreSQL tables
// shared by the nodes for the PostgreSQL backend, in the node's local database (readmodels.db
// in the data directory, db) otherwise. close releases what it opened (not db, which the
// caller closes).
func openReadModels(ctx context.Context, cfg config.Config, db *localdb.DB, log *slog.Logger) (_ *projections.Set, closeFn func() error, err error) {
	var store *tables.Store
	if cfg.Postgres != "" {
		if store, err = tables.OpenPostgres(ctx, cfg.Postgres); err != nil {
			return nil, nil, err
		}
		closeFn = store.Close
	} else {
		if store, err = tables.OpenSQLite(ctx, db); err != nil {
			return nil, nil, err
		}
		closeFn = func() error { return nil } // db is the caller's
	}
	set, err := projections.OpenSet(ctx, store, log.With("component", "projections"))
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return set, closeFn, nil
}

// headOf returns a function that reads the position of the log's head.
func headOf(store eventstore.Store) func(context.Context) (eventstore.Position, error) {
	switch s := personal.Unwrap(store).(type) {
	case *sqlite.Store:
		return func(context.Context) (eventstore.Position, error) { return s.Head(), nil }
	case eventstore.HeadReader:
		return s.Head
	}
	return func(ctx context.Context) (eventstore.Position, error) {
		return eventstore.Start, errors.New("the store cannot tell its head")
	}
}

// lagOf returns a function that counts the events of the log after pos, up to limit. On the
// embedded store positions are dense, so the head tells it at once; on PostgreSQL (a position
// is a transaction ID) and EventStoreDB (an offset in its log) it counts the events themselves.
func lagOf(store eventstore.Store) func(ctx context.Context, pos eventstore.Position, limit int) (int, error) {
	if s, ok := personal.Unwrap(store).(*sqlite.Store); ok {
		return func(_ context.Context, pos eventstore.Position, limit int) (int, error) {
			if h := s.Head(); h > pos {
				return int(min(uint64(h-pos), uint64(limit))), nil
			}
			return 0, nil
		}
	}
	return func(ctx context.Context, pos eventstore.Position, limit int) (int, error) {
		page, err := store.ReadAll(ctx, pos, limit)
		return len(page), err
	}
}

// lagText says how far behind the log a read model is, given a count capped at limit.
func lagText(n, limit int) string {
	if n >= limit {
		return fmt.Sprintf("at least %d", n)
	}
	return fmt.Sprint(n)
}

// readModels runs the read models of a node: it catches them up from their checkpoints in
// pages, then hands them to their router, which follows the log live. The node listens
// meanwhile; Ready says how far behind they are.
type readModels struct {
	set    *projections.Set
	router *message.Router
	lag    func(ctx context.Context, pos eventstore.Position, limit int) (int, error)
	log    *slog.Logger
	close  func() error

	caughtUp atomic.Bool
	// caughtUpEvents is the number of events the start-up catch-up applied.
	caughtUpEvents atomic.Int64
	stopped        atomic.Bool // the router ended
	// routerRan is set before the router runs: a router never run must not be closed, as
	// watermill's Close would wait its whole timeout for handlers that never started.
	routerRan atomic.Bool
	failed    atomic.Value
	cancel    context.CancelFunc
	done      chan struct{}
	once      sync.Once
}

func newReadModels(set *projections.Set, closeFn func() error, store eventstore.Store, log *slog.Logger) (*readModels, error) {
	router, err := projections.NewRouter(set, store, watermill.NewSlogLogger(log.With("component", "router")))
	if err != nil {
		return nil, err
	}
	return &readModels{set: set, router: router, lag: lagOf(store), log: log, close: closeFn, done: make(chan struct{})}, nil
}

// run catches up and then runs the router, until ctx ends or Stop.
func (r *readModels) run(ctx context.Context, store eventstore.Store) {
	ctx, r.cancel = context.WithCancel(ctx)
	go func() {
		defer close(r.done)
		if err := r.resetIfAhead(ctx, store); err != nil {
			if ctx.Err() == nil {
				r.failed.Store(err.Error())
				r.log.Error("read models: reset", "err", err)
			}
			r.stopped.Store(true)
			return
		}
		st, err := r.set.CatchUp(ctx, store)
		if err != nil {
			if ctx.Err() == nil {
				r.failed.Store(err.Error())
				r.log.Error("read models: catch up", "err", err)
			}
			r.stopped.Store(true)
			return
		}
		r.caughtUpEvents.Store(int64(st.Events))
		r.caughtUp.Store(true)
		r.log.Info("read models caught up", "events", st.Events, "position", uint64(st.Position), "took", st.Took.String())
		r.routerRan.Store(true)
		if err := r.router.Run(ctx); err != nil {
			r.log.Error("read model router stopped", "err", err)
		}
		r.stopped.Store(true)
	}()
}

// resetIfAhead empties the read models when they are ahead of the log's head: they were
// folded from events this log does not hold (a backup restored into a data directory that
// kept its readmodels.db, or a log that lost its tail), so they start again from zero.
func (r *readModels) resetIfAhead(ctx context.Context, store eventstore.Store) error {
	head, err := headOf(store)(ctx)
	if err != nil {
		return err
	}
	cps, err := r.set.Store().Checkpoints(ctx)
	if err != nil {
		return err
	}
	var pos eventstore.Position
	for _, p := range cps {
		pos = max(pos, p)
	}
	if pos > head {
		r.log.Warn("read models are ahead of the log (a restored backup, or a log that lost its tail): folding them again from position zero",
			"read_models_at", uint64(pos), "log_head", uint64(head))
		return r.set.Reset(ctx)
	}
	return nil
}

// Ready is the /readyz check of the read models.
func (r *readModels) Ready(ctx context.Context) error {
	if msg, ok := r.failed.Load().(string); ok {
		return fmt.Errorf("the read models stopped: %s", msg)
	}
	if r.stopped.Load() {
		return errors.New("the read model router has stopped")
	}
	n, err := r.lag(ctx, r.set.Position(), readyLag+1)
	if err != nil {
		return fmt.Errorf("the read models cannot read the log: %w", err)
	}
	if !r.caughtUp.Load() {
		return fmt.Errorf("catching up with the log: behind it by %s events", lagText(n, readyLag+1))
	}
	if n > readyLag {
		return fmt.Errorf("behind the log by %s events", lagText(n, readyLag+1))
	}
	return nil
}

// Note says, when the node is ready, whether a read model skipped an event.
func (r *readModels) Note(context.Context) string {
	if n := r.set.Skipped(); n > 0 {
		return fmt.Sprintf("ok; %d events skipped by a read model since the start: see 'assent projections status'", n)
	}
	return ""
}

// Stop ends the catch-up or the router, then closes the read models' store.
func (r *readModels) Stop() error {
	var err error
	r.once.Do(func() {
		if r.cancel != nil {
			r.cancel()
			<-r.done
		}
		var cerr error
		if r.routerRan.Load() {
			cerr = r.router.Close()
		}
		err = errors.Join(cerr, r.close())
	})
	return err
}
