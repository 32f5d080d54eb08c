package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/assent-dev/assent/eventstore"
)

// Backup writes a consistent copy of the store in the file at src to the new file dst and
// returns the head of the copy. It reads on a read-only connection of its own and never takes
// the writer lock, so a server that has the store open keeps appending while it runs: the copy
// is the log as one read transaction sees it (SQLite's VACUUM INTO), and holds every event
// committed before the backup began. dst must not exist; it is fsynced before Backup returns.
func Backup(ctx context.Context, src, dst string) (eventstore.Position, error) {
	if _, err := os.Stat(dst); err == nil {
		return 0, fmt.Errorf("sqlite backup: '%s' already exists", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("sqlite backup: %w", err)
	}
	// A read-only connection (mode=ro), without query_only, which SQLite applies to the
	// target of VACUUM INTO too.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Set("mode", "ro")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: src}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return 0, fmt.Errorf("sqlite backup %s: %w", src, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := checkSchema(ctx, db); err != nil {
		return 0, fmt.Errorf("sqlite backup %s: %w", src, err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		os.Remove(dst)
		return 0, fmt.Errorf("sqlite backup %s: %w", src, err)
	}
	if err := syncFile(dst); err != nil {
		return 0, fmt.Errorf("sqlite backup: %w", err)
	}
	cp, err := openDB(dst, true)
	if err != nil {
		return 0, err
	}
	defer cp.Close()
	var head sql.NullInt64
	if err := cp.QueryRowContext(ctx, `SELECT max(position) FROM events`).Scan(&head); err != nil {
		return 0, fmt.Errorf("sqlite backup: read the copy's head: %w", err)
	}
	return eventstore.Position(head.Int64), nil
}

// syncFile fsyncs the file at path and the directory that holds it.
func syncFile(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
