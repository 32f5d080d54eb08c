package tables

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/projections"
)

// livePrefix and freshPrefix name the live tables and those a rebuild fills.
const (
	livePrefix  = "rm_"
	freshPrefix = "rm_next_"
)

// writerCacheKiB is the page cache of the local database's writer connection.
const writerCacheKiB = 32 << 10

// fillCheckpointPages is how many pages the write-ahead log of the local database may grow to
// before the writer copies it into the database, while a rebuild fills fresh tables (SQLite's
// default, restored after, is 1,000). A rebuild's transactions change thousands of pages, many
// of them again in the next transaction: copying after every one copies those pages each time.
const (
	fillCheckpointPages    = 32_768
	defaultCheckpointPages = 1000
)

// OpenSQLite returns the read models kept in a node's local database, creating their tables.
// The database stays open when the store is closed.
func OpenSQLite(ctx context.Context, db *localdb.DB) (*Store, error) {
	s := &Store{w: db.Writer, r: db.Reader, d: sqliteDialect, prefix: livePrefix}
	// The writer's one connection keeps more of the tables' pages in memory than SQLite's
	// default 2 MiB: a batch touches rows all over them.
	if _, err := db.Writer.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB)); err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	if err := s.create(ctx, s.w, true); err != nil {
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenPostgres connects to PostgreSQL and returns the read models kept there, shared by every
// node of the database, creating their tables.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	db.SetMaxOpenConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("read models: connect to PostgreSQL: %w", err)
	}
	s := &Store{w: db, r: db, d: postgresDialect, prefix: livePrefix, closeFn: db.Close}
	// Two nodes starting at once may both create the tables: under the writers' lock, in one
	// transaction, the second finds them made.
	txi, err := s.Begin(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	tx := txi.(*storeTx).tx
	defer tx.Rollback()
	if err := s.create(ctx, tx, true); err != nil {
		db.Close()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		db.Close()
		return nil, fmt.Errorf("read models: create tables: %w", err)
	}
	if err := s.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// allTables are every table a store has.
func allTables() []string {
	return append(append([]string{}, projections.Tables...), "checkpoints", "failed")
}

// Fresh drops what an earlier rebuild left and returns a store over new, empty tables (with
// their until indexes, which the sweeps use, but no lookup index until Promote: loading is
// faster without).
func (s *Store) Fresh(ctx context.Context) (projections.FreshStore, error) {
	if s.live != nil {
		return nil, errors.New("read models: a fresh store cannot have a fresh store")
	}
	f := &Store{w: s.w, r: s.r, d: s.d, schema: s.schema, prefix: freshPrefix, live: s}
	if err := f.Discard(ctx); err != nil {
		return nil, err
	}
	if err := f.create(ctx, f.w, false); err != nil {
		return nil, err
	}
	if err := f.checkpointEvery(ctx, fillCheckpointPages); err != nil {
		return nil, err
	}
	return f, nil
}

// checkpointEvery sets the writer's automatic checkpoint of the write-ahead log (SQLite).
func (s *Store) checkpointEvery(ctx context.Context, pages int) error {
	if s.d.name != sqliteDialect.name {
		return nil
	}
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", pages)); err != nil {
		return fmt.Errorf("read models: %w", err)
	}
	return nil
}

// Discard drops the fresh tables.
func (s *Store) Discard(ctx context.Context) error {
	if s.live == nil {
		return errors.New("read models: only a fresh store can be discarded")
	}
	s.closeCommitted()
	for _, t := range allTables() {
		if _, err := s.w.ExecContext(ctx, "DROP TABLE IF EXISTS "+s.t(t)); err != nil {
			return fmt.Errorf("read models: drop %s: %w", s.t(t), err)
		}
	}
	return s.checkpointEvery(ctx, defaultCheckpointPages)
}

// Promote replaces the live tables with the fresh ones in one transaction; see
// projections.FreshStore.
func (s *Store) Promote(ctx context.Context) error {
	if s.live == nil {
		return errors.New("read models: only a fresh store can be promoted")
	}
	s.closeCommitted()
	live := s.live
	txi, err := live.Begin(ctx) // the writers' lock: no live batch commits meanwhile
	if err != nil {
		return err
	}
	tx := txi.(*storeTx).tx
	defer tx.Rollback()
	old, err := checkpoints(ctx, tx, live.t("checkpoints"))
	if err != nil {
		return err
	}
	next, err := checkpoints(ctx, tx, s.t("checkpoints"))
	if err != nil {
		return err
	}
	for name, pos := range old {
		if pos > next[name] {
			return projections.ErrBehind
		}
	}
	for _, t := range allTables() {
		stmts := []string{
			"DROP TABLE IF EXISTS " + live.t(t),
			fmt.Sprintf("ALTER TABLE %s RENAME TO %s", s.t(t), live.prefix+t),
		}
		if s.d.numbers { // PostgreSQL names the primary key's index after the table
			stmts = append(stmts, fmt.Sprintf("ALTER INDEX %s%s_pkey RENAME TO %s_pkey", s.schema, s.prefix+t, live.prefix+t))
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("read models: replace %s: %w", live.t(t), err)
			}
		}
	}
	// The fresh tables' until indexes keep their names through the renames: they go, and
	// the live ones are made, so that the next Fresh can make its own again.
	var idx []string
	for _, t := range projections.Tables {
		idx = append(idx, "DROP INDEX IF EXISTS "+s.t(t)+"_until")
	}
	for _, q := range append(append(idx, live.untilIndexes()...), live.ixIndexes()...) {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("read models: index: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("read models: replace the tables: %w", err)
	}
	return s.checkpointEvery(ctx, defaultCheckpointPages)
}
