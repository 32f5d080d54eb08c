package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/assent-dev/assent/eventstore"
)

var _ eventstore.HealthChecker = (*Store)(nil)

// storageError is an error of the file or the disk under it, not of the request: it matches
// eventstore.ErrUnavailable and says what is wrong in words.
type storageError struct {
	cause string
	err   error
}

func (e *storageError) Error() string   { return e.cause + " (" + e.err.Error() + ")" }
func (e *storageError) Unwrap() []error { return []error{eventstore.ErrUnavailable, e.err} }

// storageCause names, in words, the storage fault behind a SQLite error, or returns "" for an
// error that is not one.
func storageCause(err error) string {
	var se *sqlitedriver.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return "the disk that holds the event store is full: writes fail until space is freed"
	case sqlite3.SQLITE_IOERR:
		return "the disk returned an I/O error while reading or writing the event store"
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return "the event store file reads as damaged, which follows an I/O error or a change made outside Assent: run `assent audit verify` and check the disk"
	case sqlite3.SQLITE_READONLY:
		return "the event store file or its directory has become read-only"
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		return "the event store file cannot be opened (deleted, moved, or its permissions changed)"
	}
	return ""
}

// classify wraps a storage fault so that it matches eventstore.ErrUnavailable; other errors
// are returned as they are.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var already *storageError
	if errors.As(err, &already) {
		return err
	}
	if cause := storageCause(err); cause != "" {
		return &storageError{cause: cause, err: err}
	}
	return err
}

// readFaultMemory is how long Health reports a read that failed for a storage fault: a damaged
// page stays damaged, but only a read of it tells, so a recent failure is what there is to go by.
const readFaultMemory = time.Minute

// readFault is a storage fault met by a read, and when.
type readFault struct {
	err *storageError
	at  time.Time
}

// noteRead classifies a read's error and remembers a storage fault for Health.
func (s *Store) noteRead(err error) error {
	err = classify(err)
	var se *storageError
	if errors.As(err, &se) {
		s.readFault.Store(&readFault{err: se, at: time.Now()})
	}
	return err
}

// noteWrite records the outcome of a write transaction: a storage fault is kept for Health
// until a later write succeeds. The writer and the writes of subject keys (keys.go).
func (s *Store) noteWrite(err error) {
	var se *storageError
	if errors.As(err, &se) {
		s.fault.Store(se)
	} else if err == nil {
		s.fault.Store(nil)
	}
}

// Health implements eventstore.HealthChecker. After a write failed for a storage fault, it
// writes one row (store_state.write_probe) through the writer, so that a node out of a load
// balancer's rotation, which gets no appends, still finds out when space is back; a read that
// failed for a storage fault in the last minute is reported as it is; otherwise it reads the
// log's first event. The error says what is wrong in words.
func (s *Store) Health(ctx context.Context) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if f := s.readFault.Load(); f != nil && time.Since(f.at) < readFaultMemory {
		return f.err
	}
	if !s.opts.ReadOnly && s.fault.Load() != nil {
		req := &writeReq{ctx: ctx, probe: true}
		if err := s.submit(ctx, req); err != nil {
			return err
		}
		return req.err
	}
	if _, err := s.ReadAll(ctx, eventstore.Start, 1); err != nil {
		var se *storageError
		if errors.As(err, &se) {
			return se
		}
		return err
	}
	return nil
}

// probeSQL is the write of a health probe.
const probeSQL = `INSERT INTO store_state (name, value) VALUES ('write_probe', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`

func (b *batchTx) probe() error {
	if _, err := b.tx.ExecContext(b.ctx, probeSQL, b.now); err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	return nil
}
