package tables_test

import (
	"context"
	"testing"

	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/projections/storetest"
	"github.com/assent-dev/assent/projections/tables"
)

func openSQLite(t *testing.T) *tables.Store {
	t.Helper()
	db, err := localdb.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := tables.OpenSQLite(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openPostgres returns a store in a database of its own; it skips the test without
// ASSENT_TEST_POSTGRES_URL.
func openPostgres(t *testing.T) *tables.Store {
	t.Helper()
	s, err := tables.OpenPostgres(context.Background(), pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) projections.Store { return openSQLite(t) })
}

func TestPostgresContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) projections.Store { return openPostgres(t) })
}
