// Package tables keeps the read models of package projections in SQL tables: in the node's
// local SQLite database (localdb) for the embedded and EventStoreDB backends, and in
// PostgreSQL for the PostgreSQL backend, where the nodes share them.
package tables

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/projections"
)

// Store is a projections.Store over SQL tables named with a prefix (rm_, or rm_next_ for the
// fresh tables of a rebuild).
type Store struct {
	w, r    *sql.DB // writer and reader pools (the same pool on PostgreSQL)
	d       dialect
	schema  string // "" or "name." (PostgreSQL)
	prefix  string
	live    *Store // set on a fresh store
	closeFn func() error
	// prepared are the write transactions' statements, prepared once on the writer pool when
	// the live store opens (prepare): a transaction takes them with Tx.StmtContext, which
	// reuses a statement on a connection where it is prepared. Read-only after open; nil on a
	// fresh store, whose transactions prepare their own.
	prepared map[string]*sql.Stmt

	// committed are a fresh store's reads of committed rows (GetCommitted) by table, prepared
	// on the reader pool when first used and closed by Promote and Discard.
	committedMu sync.Mutex
	committed   map[string]*sql.Stmt
}

var (
	_ projections.Store         = (*Store)(nil)
	_ projections.FreshStore    = (*Store)(nil)
	_ projections.CommittedRows = (*Store)(nil)
	_ projections.RowsWriter    = (*storeTx)(nil)
)

// dialect is what differs between SQLite and PostgreSQL.
type dialect struct {
	name    string
	blob    string
	bigint  string
	rowid   string // table option
	lock    string // statement that serializes writers, run first in every write transaction
	numbers bool   // placeholders $1, $2 instead of ?
}

var (
	sqliteDialect   = dialect{name: "sqlite", blob: "BLOB", bigint: "INTEGER", rowid: " WITHOUT ROWID"}
	postgresDialect = dialect{name: "postgres", blob: "BYTEA", bigint: "BIGINT",
		// one writer at a time over every node's transactions; the number is the read models'
		lock: "SELECT pg_advisory_xact_lock(7236001)", numbers: true}
)

func (s *Store) t(name string) string { return s.schema + s.prefix + name }

// q rewrites ? placeholders for the dialect.
func (s *Store) q(query string) string {
	if !s.d.numbers {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Store) known(table string) error {
	for _, t := range projections.Tables {
		if t == table {
			return nil
		}
	}
	return fmt.Errorf("read models: no table named %q", table)
}

// create makes the tables with their until indexes (the sweeps need them while a rebuild
// fills the tables), and their ix indexes if lookups is true.
func (s *Store) create(ctx context.Context, db execer, lookups bool) error {
	var stmts []string
	for _, t := range projections.Tables {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (k %s PRIMARY KEY, ix TEXT, until %s, v %s NOT NULL)%s",
			s.t(t), s.d.blob, s.d.bigint, s.d.blob, s.d.rowid))
	}
	stmts = append(stmts,
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (name TEXT PRIMARY KEY, position %s NOT NULL)", s.t("checkpoints"), s.d.bigint),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (projection TEXT NOT NULL, position %s NOT NULL, type TEXT NOT NULL,
			schema_version INTEGER NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL, skipped INTEGER NOT NULL,
			at %s NOT NULL, PRIMARY KEY (projection, position))`, s.t("failed"), s.d.bigint, s.d.bigint))
	stmts = append(stmts, s.untilIndexes()...)
	if lookups {
		stmts = append(stmts, s.ixIndexes()...)
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("read models: create tables: %w", err)
		}
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// untilIndexes are the indexes the sweeps use, made with the tables. They are named after
// the tables' prefix: Promote drops a fresh table's and makes the live one's.
func (s *Store) untilIndexes() []string {
	var out []string
	for _, t := range projections.Tables {
		out = append(out, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_until ON %s (until) WHERE until IS NOT NULL", s.prefix+t, s.t(t)))
	}
	return out
}

// ixIndexes are the lookup indexes of the live tables, made after a rebuild has filled them:
// one sorted build instead of a row at a time.
func (s *Store) ixIndexes() []string {
	var out []string
	for _, t := range projections.Tables {
		out = append(out, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_ix ON %s (ix) WHERE ix IS NOT NULL", s.prefix+t, s.t(t)))
	}
	return out
}

// Close closes the pools the store opened (OpenPostgres); a store over a localdb.DB leaves it
// open.
func (s *Store) Close() error {
	s.closePrepared()
	if s.closeFn == nil {
		return nil
	}
	return s.closeFn()
}

func nullable[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
}

func (s *Store) Get(ctx context.Context, table string, key []byte) ([]byte, error) {
	if err := s.known(table); err != nil {
		return nil, err
	}
	return getRow(ctx, s.r, s.q("SELECT v FROM "+s.t(table)+" WHERE k = ?"), key)
}

// GetCommitted returns the committed value and until of a row, or projections.ErrNotFound,
// read on the reader pool: a rebuild reads the fresh tables so while its writer commits.
func (s *Store) GetCommitted(ctx context.Context, table string, key []byte) ([]byte, int64, error) {
	if err := s.known(table); err != nil {
		return nil, 0, err
	}
	s.committedMu.Lock()
	st, ok := s.committed[table]
	if !ok {
		var err error
		if st, err = s.r.PrepareContext(ctx, s.q("SELECT v, until FROM "+s.t(table)+" WHERE k = ?")); err != nil {
			s.committedMu.Unlock()
			return nil, 0, fmt.Errorf("read models: %w", err)
		}
		if s.committed == nil {
			s.committed = map[string]*sql.Stmt{}
		}
		s.committed[table] = st
	}
	s.committedMu.Unlock()
	var v []byte
	var until sql.NullInt64
	err := st.QueryRowContext(ctx, key).Scan(&v, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, projections.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read models: %w", err)
	}
	return v, until.Int64, nil
}

// closeCommitted closes the statements of GetCommitted.
func (s *Store) closeCommitted() {
	s.committedMu.Lock()
	defer s.committedMu.Unlock()
	for _, st := range s.committed {
		st.Close()
	}
	s.committed = nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getRow(ctx context.Context, db queryer, query string, args ...any) ([]byte, error) {
	var v []byte
	err := db.QueryRowContext(ctx, query, args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, projections.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	return v, nil
}

func (s *Store) Lookup(ctx context.Context, table, ix string) ([]byte, error) {
	if err := s.known(table); err != nil {
		return nil, err
	}
	if ix == "" {
		return nil, projections.ErrNotFound
	}
	return getRow(ctx, s.r, s.q("SELECT v FROM "+s.t(table)+" WHERE ix = ? LIMIT 1"), ix)
}

func (s *Store) Scan(ctx context.Context, table string, fn func(key, val []byte) error) error {
	if err := s.known(table); err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT k, v FROM "+s.t(table)+" ORDER BY k")
	if err != nil {
		return fmt.Errorf("read models: scan %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return fmt.Errorf("read models: scan %s: %w", table, err)
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *Store) Count(ctx context.Context, table string) (int, error) {
	if err := s.known(table); err != nil {
		return 0, err
	}
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM "+s.t(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("read models: count %s: %w", table, err)
	}
	return n, nil
}

func (s *Store) Checkpoints(ctx context.Context) (map[string]eventstore.Position, error) {
	return checkpoints(ctx, s.r, s.t("checkpoints"))
}

func checkpoints(ctx context.Context, db interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, table string) (map[string]eventstore.Position, error) {
	rows, err := db.QueryContext(ctx, "SELECT name, position FROM "+table)
	if err != nil {
		return nil, fmt.Errorf("read models: checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[string]eventstore.Position{}
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			return nil, fmt.Errorf("read models: checkpoints: %w", err)
		}
		out[name] = eventstore.Position(pos)
	}
	return out, rows.Err()
}

const failedColumns = "projection, position, type, schema_version, error, attempts, skipped, at"

func scanFailure(sc interface{ Scan(...any) error }) (projections.FailedEvent, error) {
	var f projections.FailedEvent
	var pos, at int64
	var skipped int
	if err := sc.Scan(&f.Projection, &pos, &f.Type, &f.SchemaVersion, &f.Error, &f.Attempts, &skipped, &at); err != nil {
		return f, err
	}
	f.Position, f.Skipped, f.At = eventstore.Position(pos), skipped != 0, time.Unix(0, at).UTC()
	return f, nil
}

func (s *Store) Failures(ctx context.Context) ([]projections.FailedEvent, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+failedColumns+" FROM "+s.t("failed")+" ORDER BY projection, position")
	if err != nil {
		return nil, fmt.Errorf("read models: failed events: %w", err)
	}
	defer rows.Close()
	var out []projections.FailedEvent
	for rows.Next() {
		f, err := scanFailure(rows)
		if err != nil {
			return nil, fmt.Errorf("read models: failed events: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Begin starts a write transaction; on PostgreSQL it first takes the read models' lock, so
// that the nodes sharing the tables write one at a time.
func (s *Store) Begin(ctx context.Context) (projections.Tx, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("read models: begin: %w", err)
	}
	if s.d.lock != "" {
		if _, err := tx.ExecContext(ctx, s.d.lock); err != nil {
			tx.Rollback()
			return nil, fmt.Errorf("read models: lock: %w", err)
		}
	}
	return &storeTx{s: s, tx: tx, stmts: map[string]*sql.Stmt{}}, nil
}

type storeTx struct {
	s     *Store
	tx    *sql.Tx
	stmts map[string]*sql.Stmt // prepared in this transaction, closed with it
}

// stmt returns query for the transaction: a statement the store prepared at open, or one
// prepared in the transaction.
func (t *storeTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if ps, ok := t.s.prepared[query]; ok {
		st = t.tx.StmtContext(ctx, ps)
	} else {
		var err error
		if st, err = t.tx.PrepareContext(ctx, t.s.q(query)); err != nil {
			return nil, err
		}
	}
	t.stmts[query] = st
	return st, nil
}

func (t *storeTx) exec(ctx context.Context, query string, args ...any) error {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return fmt.Errorf("read models: %w", err)
	}
	if _, err := st.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("read models: %w", err)
	}
	return nil
}

// The statements of a write transaction, by table.
func (s *Store) getQuery(table string) string { return "SELECT v FROM " + s.t(table) + " WHERE k = ?" }

func (s *Store) putQuery(table string) string {
	return "INSERT INTO " + s.t(table) + " (k, ix, until, v) VALUES (?, ?, ?, ?) " +
		"ON CONFLICT (k) DO UPDATE SET ix = excluded.ix, until = excluded.until, v = excluded.v"
}

func (s *Store) deleteQuery(table string) string { return "DELETE FROM " + s.t(table) + " WHERE k = ?" }

func (s *Store) sweepQuery(table string) string {
	return "DELETE FROM " + s.t(table) + " WHERE until IS NOT NULL AND until < ?"
}

func (s *Store) checkpointsQuery() string { return "SELECT name, position FROM " + s.t("checkpoints") }

func (s *Store) setCheckpointQuery() string {
	return "INSERT INTO " + s.t("checkpoints") + " (name, position) VALUES (?, ?) " +
		"ON CONFLICT (name) DO UPDATE SET position = excluded.position"
}

// setCheckpointsQuery writes n checkpoints in one statement.
func (s *Store) setCheckpointsQuery(n int) string {
	return "INSERT INTO " + s.t("checkpoints") + " (name, position) VALUES (?, ?)" + strings.Repeat(", (?, ?)", n-1) +
		" ON CONFLICT (name) DO UPDATE SET position = excluded.position"
}

// checkpointsAtOnce is the most checkpoints SetCheckpoints writes in one statement, as many
// as there are read-model tables: more are written in several.
var checkpointsAtOnce = len(projections.Tables)

func (s *Store) failureQuery() string {
	return "SELECT " + failedColumns + " FROM " + s.t("failed") + " WHERE projection = ? AND position = ?"
}

func (s *Store) putFailureQuery() string {
	return "INSERT INTO " + s.t("failed") + " (" + failedColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) " +
		"ON CONFLICT (projection, position) DO UPDATE SET type = excluded.type, schema_version = excluded.schema_version, " +
		"error = excluded.error, attempts = excluded.attempts, skipped = excluded.skipped, at = excluded.at"
}

// prepare prepares the statements of the live fold's transactions on the writer pool. It runs
// at open, when no transaction holds the writer's connection.
func (s *Store) prepare(ctx context.Context) error {
	queries := []string{s.checkpointsQuery(), s.setCheckpointQuery(), s.failureQuery(), s.putFailureQuery()}
	for n := 1; n <= checkpointsAtOnce; n++ {
		queries = append(queries, s.setCheckpointsQuery(n))
	}
	for _, t := range projections.Tables {
		queries = append(queries, s.getQuery(t), s.putQuery(t), s.deleteQuery(t), s.sweepQuery(t))
	}
	s.prepared = make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		st, err := s.w.PrepareContext(ctx, s.q(q))
		if err != nil {
			s.closePrepared()
			return fmt.Errorf("read models: prepare: %w", err)
		}
		s.prepared[q] = st
	}
	return nil
}

func (s *Store) closePrepared() {
	for _, st := range s.prepared {
		st.Close()
	}
	s.prepared = nil
}

func (t *storeTx) Get(ctx context.Context, table string, key []byte) ([]byte, error) {
	if err := t.s.known(table); err != nil {
		return nil, err
	}
	st, err := t.stmt(ctx, t.s.getQuery(table))
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	return getRow(ctx, stmtRow{st}, "", key)
}

type stmtRow struct{ st *sql.Stmt }

func (r stmtRow) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return r.st.QueryRowContext(ctx, args...)
}

func (t *storeTx) Put(ctx context.Context, table string, key []byte, ix string, until int64, val []byte) error {
	if err := t.s.known(table); err != nil {
		return err
	}
	return t.exec(ctx, t.s.putQuery(table), key, nullable(ix), nullable(until), val)
}

// putRowsAtOnce is the most rows PutRows writes in one statement.
const putRowsAtOnce = 64

func (s *Store) putRowsQuery(table string, n int) string {
	return "INSERT INTO " + s.t(table) + " (k, ix, until, v) VALUES (?, ?, ?, ?)" + strings.Repeat(", (?, ?, ?, ?)", n-1) +
		" ON CONFLICT (k) DO UPDATE SET ix = excluded.ix, until = excluded.until, v = excluded.v"
}

// PutRows writes the rows in statements of up to putRowsAtOnce rows; see projections.RowsWriter.
func (t *storeTx) PutRows(ctx context.Context, table string, rows []projections.Row) error {
	if err := t.s.known(table); err != nil {
		return err
	}
	args := make([]any, 0, 4*min(len(rows), putRowsAtOnce))
	for len(rows) > 0 {
		n := min(len(rows), putRowsAtOnce)
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r.Key, nullable(r.Ix), nullable(r.Until), r.Val)
		}
		if err := t.exec(ctx, t.s.putRowsQuery(table, n), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func (t *storeTx) Delete(ctx context.Context, table string, key []byte) error {
	if err := t.s.known(table); err != nil {
		return err
	}
	return t.exec(ctx, t.s.deleteQuery(table), key)
}

func (t *storeTx) Sweep(ctx context.Context, table string, before int64) error {
	if err := t.s.known(table); err != nil {
		return err
	}
	return t.exec(ctx, t.s.sweepQuery(table), before)
}

func (t *storeTx) Clear(ctx context.Context, table string) error {
	if err := t.s.known(table); err != nil {
		return err
	}
	return t.exec(ctx, "DELETE FROM "+t.s.t(table))
}

// Checkpoints reads every checkpoint in one query: on PostgreSQL another node may have moved
// them since this one last wrote.
func (t *storeTx) Checkpoints(ctx context.Context) (map[string]eventstore.Position, error) {
	st, err := t.stmt(ctx, t.s.checkpointsQuery())
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	return checkpoints(ctx, stmtRows{st}, "")
}

type stmtRows struct{ st *sql.Stmt }

func (r stmtRows) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return r.st.QueryContext(ctx, args...)
}

func (t *storeTx) SetCheckpoint(ctx context.Context, name string, pos eventstore.Position) error {
	return t.exec(ctx, t.s.setCheckpointQuery(), name, int64(pos))
}

// SetCheckpoints writes the checkpoints in as few statements as it can.
func (t *storeTx) SetCheckpoints(ctx context.Context, cps map[string]eventstore.Position) error {
	names := slices.Sorted(maps.Keys(cps))
	for len(names) > 0 {
		n := min(len(names), checkpointsAtOnce)
		args := make([]any, 0, 2*n)
		for _, name := range names[:n] {
			args = append(args, name, int64(cps[name]))
		}
		if err := t.exec(ctx, t.s.setCheckpointsQuery(n), args...); err != nil {
			return err
		}
		names = names[n:]
	}
	return nil
}

func (t *storeTx) Failure(ctx context.Context, name string, pos eventstore.Position) (projections.FailedEvent, bool, error) {
	st, err := t.stmt(ctx, t.s.failureQuery())
	if err != nil {
		return projections.FailedEvent{}, false, fmt.Errorf("read models: %w", err)
	}
	f, err := scanFailure(st.QueryRowContext(ctx, name, int64(pos)))
	if errors.Is(err, sql.ErrNoRows) {
		return projections.FailedEvent{}, false, nil
	}
	if err != nil {
		return f, false, fmt.Errorf("read models: failed event: %w", err)
	}
	return f, true, nil
}

func (t *storeTx) PutFailure(ctx context.Context, f projections.FailedEvent) error {
	skipped := 0
	if f.Skipped {
		skipped = 1
	}
	return t.exec(ctx, t.s.putFailureQuery(), f.Projection, int64(f.Position), f.Type, f.SchemaVersion, f.Error, f.Attempts, skipped, f.At.UnixNano())
}

func (t *storeTx) Commit() error   { return t.tx.Commit() }
func (t *storeTx) Rollback() error { return t.tx.Rollback() }
