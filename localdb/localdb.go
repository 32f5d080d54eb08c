// Package localdb opens a node's own SQLite database: what the node derives from the log and
// can always derive again (read models and their checkpoints, the audit index, aggregate
// snapshots, failed events). It lives beside the event store in the data directory, as
// readmodels.db, and is never part of a backup: the log is the only source of truth.
//
// Its durability is the log's opposite on purpose. Writes use synchronous=NORMAL in WAL mode:
// a power loss may lose the last transactions, but never tears one, and every consumer writes
// its checkpoint in the same transaction as its rows, so after a crash it resumes from an
// older checkpoint and applies the same events again. It never needs an fsync of its own.
package localdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the driver, registered as "sqlite"
)

// FileName is the database's name in the data directory.
const FileName = "readmodels.db"

// DB is a node's local database. Its Writer runs one transaction at a time (SQLite has one
// writer); Reader is a pool for queries, which WAL lets run beside a write.
type DB struct {
	Path   string
	Writer *sql.DB
	Reader *sql.DB
}

// Open opens (creating it, mode 0600) the database in dir.
func Open(ctx context.Context, dir string) (*DB, error) {
	return OpenFile(ctx, filepath.Join(dir, FileName))
}

// OpenFile opens (creating it, mode 0600) the database at path.
func OpenFile(ctx context.Context, path string) (*DB, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		f.Close()
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("local database %s: %w", path, err)
	}
	w, err := open(path, 1)
	if err != nil {
		return nil, err
	}
	r, err := open(path, 4)
	if err != nil {
		w.Close()
		return nil, err
	}
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("local database %s: %w", path, err)
	}
	return &DB{Path: path, Writer: w, Reader: r}, nil
}

func open(path string, conns int) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("local database %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	return errors.Join(db.Writer.Close(), db.Reader.Close())
}
