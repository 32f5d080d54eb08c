package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// readStmts caches the prepared statements of the read connections: a read then costs no
// parsing or planning, only the query's own work.
type readStmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (r *readStmts) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.m[query]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if r.m == nil {
		r.m = make(map[string]*sql.Stmt)
	}
	r.m[query] = st
	return st, nil
}

func (r *readStmts) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.m {
		st.Close()
	}
	r.m = nil
}

// query runs a read through its cached prepared statement.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.reads.get(ctx, s.rdb, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is query for a single row.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.reads.get(ctx, s.rdb, query)
	if err != nil {
		return s.rdb.QueryRowContext(ctx, query, args...) // reports the same error on Scan
	}
	return st.QueryRowContext(ctx, args...)
}
