// Package sqlite is the embedded event store: one SQLite file (modernc.org/sqlite, pure Go) in
// WAL mode with synchronous=FULL, written by a single goroutine that commits concurrent appends
// together so that they share one fsync, and read on connections of its own.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assent-dev/assent/eventstore"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

var _ eventstore.Store = (*Store)(nil)

// Errors about the file itself.
var (
	// ErrNotAssentStore is returned when the file is not an Assent event store.
	ErrNotAssentStore = errors.New("sqlite: the file is not an Assent event store")
	// ErrNewerSchema is returned when the file was written by a newer version of Assent.
	ErrNewerSchema = errors.New("sqlite: the file was written by a newer version of Assent")
	// ErrOldSchema is returned when a file of an older schema is opened read-only.
	ErrOldSchema = errors.New("sqlite: the file was written by an older version of Assent")
	// ErrInUse is returned when another Store, in this process or another, has the file open
	// for writing. A store has one writer: its in-memory state (the version checks' stream
	// heads, the index tail, the live subscriptions' ring) holds only what its own writer
	// wrote, so a second writer would break version checks and hide events from readers.
	ErrInUse = errors.New("sqlite: the store is open for writing by another process (stop it first, or open the store read-only)")
)

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// MaxBatchEvents caps the events committed in one transaction. Default 4096.
	MaxBatchEvents int
	// ReadConns is the number of connections used for reads. Default 4.
	ReadConns int
	// ReadOnly opens an existing file for reading only: Append and checkpoint writes fail.
	ReadOnly bool
	// Now gives the time recorded with each event. Default time.Now.
	Now func() time.Time
	// IndexBatch is the number of unindexed events at which the writer moves their stream
	// entries into stream_index, right after its next commit (index.go). Default 8192.
	IndexBatch int
	// IndexDelay is the longest an event's stream entry waits in memory before it is moved,
	// with or without appends to carry it. Default one second.
	IndexDelay time.Duration
	// OnCommit, if set, is called by the writer after every commit (observe.go).
	OnCommit func(CommitStats)
}

func (o *Options) setDefaults() {
	if o.MaxBatchEvents <= 0 {
		o.MaxBatchEvents = 4096
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IndexBatch <= 0 {
		o.IndexBatch = 8192
	}
	if o.IndexDelay <= 0 {
		o.IndexDelay = time.Second
	}
}

// Stats count what the writer has done since the store was opened.
type Stats struct {
	Commits uint64 // transactions committed
	Appends uint64 // Append calls committed
	Events  uint64 // events written
	// IndexErrors counts failed attempts to move the tail into stream_index. Reads stay
	// correct (the tail stays in memory); a growing count means the file needs attention.
	IndexErrors uint64
	// Unindexed is the number of events whose stream entries are still in the tail.
	Unindexed int
	// Checkpoints counts the WAL checkpoints the writer ran; CheckpointErrors the failed ones.
	Checkpoints, CheckpointErrors uint64
	// Reindexed is the number of events reindexed when the store was opened: not 0 when the
	// stream index had lost entries (a row deleted, a second writer's events) and was rebuilt
	// from the log.
	Reindexed int
}

// Store is the SQLite event store. Open it with Open; it is safe for concurrent use.
type Store struct {
	path string
	opts Options
	rdb  *sql.DB // readers
	wdb  *sql.DB // the writer's single connection; nil when read-only
	// unlock releases the writer lock (lock_flock.go); nil when read-only.
	unlock func() error
	// tightened lists the files whose modes Open made owner-only (perm.go).
	tightened []string

	checkpoints, checkpointErrors atomic.Uint64

	writer   *writerState // owned by the writer goroutine
	reqs     chan *writeReq
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	closed   atomic.Bool

	// head is the position of the last committed event; notify is closed and replaced
	// after every commit that moved it, and urgent (the subscriptions marked
	// eventstore.SubscribeFrom.Urgent) after notify and the appenders (writer.go).
	head     atomic.Uint64
	notifyMu sync.Mutex
	notify   chan struct{}
	urgent   chan struct{}

	reads readStmts
	// tail holds the stream entries not yet in stream_index (index.go).
	tail        streamTail
	recent      recentLog // the last events committed, for live subscriptions (recent.go)
	known       knownHeads
	indexErrors atomic.Uint64
	// fault is the storage fault of the last write, until a write succeeds (health.go).
	fault atomic.Pointer[storageError]
	// readFault is the last storage fault a read met (health.go).
	readFault atomic.Pointer[readFault]

	commits, appends, events atomic.Uint64
	// reindexed is the number of events whose stream_index rows were rebuilt at open, because
	// the index disagreed with the log (reindex.go).
	reindexed int
}

// Open opens or creates the store in the file at path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts.setDefaults()
	s := &Store{
		tail:   streamTail{batch: opts.IndexBatch, delay: opts.IndexDelay},
		path:   path,
		opts:   opts,
		reqs:   make(chan *writeReq, 1024),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		notify: make(chan struct{}),
		urgent: make(chan struct{}),
	}
	var err error
	if !opts.ReadOnly {
		if err := lookFirst(ctx, path); err != nil {
			return nil, err
		}
		if s.unlock, err = lockWriter(path); err != nil {
			return nil, err
		}
		if s.tightened, err = ownerOnly(path); err != nil {
			s.unlock()
			return nil, err
		}
		s.wdb, err = openDB(path, false)
		if err != nil {
			s.unlock()
			return nil, err
		}
		s.wdb.SetMaxOpenConns(1)
		if err := migrate(ctx, s.wdb); err != nil {
			s.wdb.Close()
			s.unlock()
			return nil, err
		}
		if s.reindexed, err = checkIndex(ctx, s.wdb); err != nil {
			s.wdb.Close()
			s.unlock()
			return nil, err
		}
		if err := createSubjectKeys(ctx, s.wdb); err != nil {
			s.wdb.Close()
			s.unlock()
			return nil, err
		}
	}
	s.rdb, err = openDB(path, true)
	if err != nil {
		if s.wdb != nil {
			s.wdb.Close()
			s.unlock()
		}
		return nil, err
	}
	s.rdb.SetMaxOpenConns(opts.ReadConns)
	s.rdb.SetMaxIdleConns(opts.ReadConns)
	if opts.ReadOnly {
		if err := checkSchema(ctx, s.rdb); err != nil {
			s.rdb.Close()
			return nil, err
		}
	}
	var head sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT max(position) FROM events`).Scan(&head); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("sqlite open: read head: %w", err)
	}
	s.head.Store(uint64(head.Int64))
	if err := s.tail.load(ctx, s.rdb); err != nil {
		s.closeDBs()
		return nil, err
	}
	if opts.ReadOnly {
		close(s.done)
	} else {
		if s.writer, err = s.prepareWriter(ctx); err != nil {
			s.closeDBs()
			return nil, err
		}
		go s.writeLoop()
	}
	return s, nil
}

func openDB(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		q.Set("mode", "ro")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// Every commit is fsynced before Append returns.
		q.Add("_pragma", "synchronous(FULL)")
		// The writer checkpoints the WAL between commits, never inside one (checkpoint.go).
		q.Add("_pragma", "wal_autocheckpoint(0)")
		q.Set("_txlock", "immediate")
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	return db, nil
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	s.tail.mu.RLock()
	unindexed := s.tail.n
	s.tail.mu.RUnlock()
	return Stats{Commits: s.commits.Load(), Appends: s.appends.Load(), Events: s.events.Load(),
		IndexErrors: s.indexErrors.Load(), Unindexed: unindexed,
		Checkpoints: s.checkpoints.Load(), CheckpointErrors: s.checkpointErrors.Load(), Reindexed: s.reindexed}
}

// Head returns the position of the last committed event.
func (s *Store) Head() eventstore.Position { return eventstore.Position(s.head.Load()) }

// notifyChan is the channel a subscription waits on for the next commit.
func (s *Store) notifyChan(urgent bool) chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if urgent {
		return s.urgent
	}
	return s.notify
}

// wake wakes the subscriptions that wait on notify, or those on urgent.
func (s *Store) wake(urgent bool) {
	s.notifyMu.Lock()
	if urgent {
		close(s.urgent)
		s.urgent = make(chan struct{})
	} else {
		close(s.notify)
		s.notify = make(chan struct{})
	}
	s.notifyMu.Unlock()
}

// Close stops the writer after the appends already queued, and closes the file.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	// Wake the subscriptions so that they see the store closed.
	s.wake(false)
	s.wake(true)
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	var errs []error
	s.reads.close()
	if s.writer != nil {
		s.writer.close()
	}
	if s.wdb != nil {
		if _, err := s.wdb.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			errs = append(errs, fmt.Errorf("sqlite close: checkpoint: %w", err))
		}
		errs = append(errs, s.wdb.Close())
	}
	errs = append(errs, s.rdb.Close())
	if s.unlock != nil {
		// The lock goes last, once nothing of this store touches the file.
		errs = append(errs, s.unlock())
	}
	return errors.Join(errs...)
}
