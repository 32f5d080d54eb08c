package tables

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/assent-dev/assent/localdb"
)

// TestFreshTablesSweepByIndexAndPromoteLeavesOneSetOfIndexes checks the rebuild's tables on
// SQLite: a sweep of fresh tables finds its rows by the until index (not by a walk of the
// whole table, whose cost grows with every row a rebuild adds), and after each of two
// rebuilds the live tables have their two indexes under the live names, and nothing else.
func TestFreshTablesSweepByIndexAndPromoteLeavesOneSetOfIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := localdb.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	live, err := OpenSQLite(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	want := indexNames(t, db)
	for round := range 2 {
		f, err := live.Fresh(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fresh := f.(*Store)
		var plan strings.Builder
		rows, err := db.Writer.QueryContext(ctx, "EXPLAIN QUERY PLAN DELETE FROM "+fresh.t("challenges")+" WHERE until IS NOT NULL AND until < 5")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(detail + "; ")
		}
		rows.Close()
		if !strings.Contains(plan.String(), "rm_next_challenges_until") {
			t.Fatalf("round %d: a sweep of the fresh tables does not use the until index: %s", round, plan.String())
		}
		if err := fresh.Promote(ctx); err != nil {
			t.Fatal(err)
		}
		if got := indexNames(t, db); !slices.Equal(got, want) {
			t.Fatalf("round %d: indexes after Promote\n%v\nwant\n%v", round, got, want)
		}
	}
}

// indexNames are the names of the indexes made by statements (not the primary keys').
func indexNames(t *testing.T, db *localdb.DB) []string {
	t.Helper()
	rows, err := db.Reader.Query("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		t.Fatal("no index at all")
	}
	return out
}
