// Package postgres is the event store on PostgreSQL, for several nodes that share one log. It
// keeps events in one table whose positions readers see without gaps: each append stamps its
// events with its transaction ID, and readers take only what transactions older than every
// transaction still running have written (docs/postgres.md).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assent-dev/assent/eventstore"
)

// The capabilities this backend offers beside eventstore.Store.
var (
	_ eventstore.Store           = (*Store)(nil)
	_ eventstore.SparsePositions = (*Store)(nil)
	_ eventstore.ChainReader     = (*Store)(nil)
	_ eventstore.HeadReader      = (*Store)(nil)
	_ eventstore.Checkpoints     = (*Store)(nil)
)

// Errors of the PostgreSQL backend. Check them with errors.Is.
var (
	// ErrNewerSchema is returned by Open for a database whose tables a newer build made.
	ErrNewerSchema = errors.New("postgres: the database holds a newer event store schema")
)

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// PollInterval bounds how long a caught-up subscription waits without a notification
	// before it reads again; 0 means one second.
	PollInterval time.Duration
	// MaxConns caps the connections of the store's pool; 0 means pgxpool's default.
	MaxConns int32
	// Now is the clock that stamps RecordedAt; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is the event store on PostgreSQL. Several processes may open the same database.
type Store struct {
	pool *pgxpool.Pool
	opts Options

	closed atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup

	mu   sync.Mutex
	wake chan struct{} // closed and replaced when new events may be visible

	announced chan struct{} // appends waiting for a notification; see notify

	beforeCommit func() // tests hold transactions open here
}

// Open connects to the database that url names (postgres://user:password@host:port/db), and
// creates the event store's tables there if they are missing. The URL's password never
// appears in an error.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	opts.setDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres open: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres open: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, opts: opts, stop: make(chan struct{}), wake: make(chan struct{}), announced: make(chan struct{}, 1)}
	s.wg.Add(2)
	go s.listen(cfg.ConnConfig.Copy())
	go s.notify()
	return s, nil
}

// Head returns the position of the last event readers can see.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	var head int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events WHERE position < `+horizon).Scan(&head)
	if err != nil {
		return 0, fmt.Errorf("postgres head: %w", err)
	}
	return eventstore.Position(head), nil
}

// SparsePositions implements eventstore.SparsePositions: a position is its transaction's ID,
// shifted, so positions grow by about 2^20 from one append to the next.
func (s *Store) SparsePositions() bool { return true }

// wakeChan returns the channel that is closed when new events may be visible.
func (s *Store) wakeChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// wakeAll tells every waiting subscription to read again.
func (s *Store) wakeAll() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

// Close ends the listener and closes the pool, once the appends in flight are done.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	s.wg.Wait()
	s.pool.Close()
	s.wakeAll()
	return nil
}
