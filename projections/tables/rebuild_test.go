package tables_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/projections/tables"
)

// TestRebuildInGroupsEqualsTheFoldEventByEvent rebuilds the read models on SQLite from a log
// of several pages (a rebuild reads pages and applies them in groups of RebuildGroup events,
// in one transaction each, rows written in key order), and checks that every table holds, row
// for row, what folding the same log one event at a time holds.
func TestRebuildInGroupsEqualsTheFoldEventByEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	total := 2*projections.PageSize + 123 // the log may end a few events further, at a step's end

	oneByOne, err := projections.OpenSet(ctx, openSQLite(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	oneByOne.Challenges.RetainFor(time.Hour)
	log := newSyntheticLog(total)
	var events sliceLog // the same events again, for the rebuild (IDs are random)
	for after := eventstore.Start; ; {
		page, err := log.ReadAll(ctx, after, projections.PageSize)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page {
			if err := oneByOne.Apply(ev); err != nil {
				t.Fatal(err)
			}
		}
		events = append(events, page...)
		if len(page) < projections.PageSize {
			break
		}
		after = page[len(page)-1].Position
	}

	store := openSQLite(t)
	var rebuilt *projections.Set
	rebuilt, err = projections.OpenSet(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt.Challenges.RetainFor(time.Hour)
	st, err := rebuilt.Rebuild(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(events); st.Events != n || rebuilt.Position() != eventstore.Position(n) || n <= 2*projections.PageSize {
		t.Fatalf("rebuilt %d events to position %d, want %d (more than two pages)", st.Events, rebuilt.Position(), n)
	}
	sameRows(t, oneByOne.Store(), store, "folded one by one")
	if n := len(rows(t, store, "challenges")); n == 0 {
		t.Fatal("the log made no challenge rows: the test compares nothing")
	}
}

// rows returns every row of table, key and value, in key order.
func rows(t *testing.T, s projections.Store, table string) [][2][]byte {
	t.Helper()
	var out [][2][]byte
	if err := s.Scan(context.Background(), table, func(k, v []byte) error {
		out = append(out, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameRows fails the test unless every table of rebuilt holds, row for row, what want holds
// (folded as how says).
func sameRows(t *testing.T, want, rebuilt projections.Store, how string) {
	t.Helper()
	for _, table := range projections.Tables {
		w, got := rows(t, want, table), rows(t, rebuilt, table)
		if len(w) != len(got) {
			t.Fatalf("%s: %d rows rebuilt, %d %s", table, len(got), len(w), how)
		}
		for i := range w {
			if !bytes.Equal(w[i][0], got[i][0]) || !bytes.Equal(w[i][1], got[i][1]) {
				t.Fatalf("%s: row %d rebuilt %x = %s, %s %x = %s", table, i, got[i][0], got[i][1], how, w[i][0], w[i][1])
			}
		}
	}
}

// sliceLog is a log held in memory, its positions 1, 2, 3...
type sliceLog []eventstore.RecordedEvent

func (l sliceLog) ReadAll(_ context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	rest := l[min(int(after), len(l)):]
	return rest[:min(limit, len(rest))], nil
}

// TestRebuildOverSeveralGroupsEqualsTheFoldPageByPage rebuilds the read models on SQLite from a
// log of several groups (RebuildGroup events each), so that each group is folded while the one
// before it is still being written (the rebuild's pipeline), with challenges kept one minute so
// that the sweeps delete rows the group in flight wrote; every table must hold, row for row,
// what folding the same log a page at a time into a store in memory holds.
func TestRebuildOverSeveralGroupsEqualsTheFoldPageByPage(t *testing.T) {
	t.Parallel()
	testRebuildOverSeveralGroups(t, openSQLite(t))
}

// TestPostgresRebuildOverSeveralGroupsEqualsTheFoldPageByPage is the same on PostgreSQL
// (ASSENT_TEST_POSTGRES_URL), whose fresh tables read their committed rows on the pool.
func TestPostgresRebuildOverSeveralGroupsEqualsTheFoldPageByPage(t *testing.T) {
	t.Parallel()
	testRebuildOverSeveralGroups(t, openPostgres(t))
}

func testRebuildOverSeveralGroups(t *testing.T, store *tables.Store) {
	ctx := context.Background()
	log := newSyntheticLog(3*projections.RebuildGroup + 777)
	var events sliceLog
	for after := eventstore.Start; ; {
		page, err := log.ReadAll(ctx, after, projections.PageSize)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, page...)
		if len(page) < projections.PageSize {
			break
		}
		after = page[len(page)-1].Position
	}

	paged, err := projections.OpenSet(ctx, projections.NewMemoryStore(), nil)
	if err != nil {
		t.Fatal(err)
	}
	paged.Challenges.RetainFor(time.Minute)
	if _, err := paged.CatchUp(ctx, events); err != nil {
		t.Fatal(err)
	}

	rebuilt, err := projections.OpenSet(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt.Challenges.RetainFor(time.Minute)
	st, err := rebuilt.Rebuild(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(events); st.Events != n || rebuilt.Position() != eventstore.Position(n) || n <= 3*projections.RebuildGroup {
		t.Fatalf("rebuilt %d events to position %d, want %d (more than three groups)", st.Events, rebuilt.Position(), n)
	}
	sameRows(t, paged.Store(), store, "folded page by page")
	// The sweeps deleted most challenges: a minute's worth of sign-ins is left.
	if n, all := len(rows(t, store, "challenges")), len(events)/6; n == 0 || n > all/4 {
		t.Fatalf("%d challenge rows left of about %d sign-ins: the sweeps did not run as this test needs", n, all)
	}
}
