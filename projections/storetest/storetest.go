// Package storetest is the contract every projections.Store passes: one suite, run against
// each implementation.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/projections"
)

// Run runs the contract against the stores open returns: each call a new, empty store.
func Run(t *testing.T, open func(t *testing.T) projections.Store) {
	t.Run("RowsAndTransactions", func(t *testing.T) { testRows(t, open(t)) })
	t.Run("CheckpointsAndFailures", func(t *testing.T) { testCheckpoints(t, open(t)) })
	t.Run("FreshAndPromote", func(t *testing.T) { testFresh(t, open(t)) })
	t.Run("History", func(t *testing.T) { testHistory(t, open(t)) })
}

func begin(t *testing.T, s projections.Store) projections.Tx {
	t.Helper()
	tx, err := s.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	return tx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testRows(t *testing.T, s projections.Store) {
	ctx := context.Background()
	tx := begin(t, s)
	must(t, tx.Put(ctx, "accounts", []byte{2}, "b@example.com", 0, []byte("two")))
	must(t, tx.Put(ctx, "accounts", []byte{1}, "a@example.com", 0, []byte("one")))
	must(t, tx.Put(ctx, "accounts", []byte{3}, "", 0, []byte("three")))
	if v, err := tx.Get(ctx, "accounts", []byte{2}); err != nil || string(v) != "two" {
		t.Fatalf("a transaction reads its own write: %q, %v", v, err)
	}
	if _, err := s.Get(ctx, "accounts", []byte{2}); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("a row not committed is read outside its transaction: %v", err)
	}
	must(t, tx.Commit())

	if v, err := s.Get(ctx, "accounts", []byte{1}); err != nil || string(v) != "one" {
		t.Fatalf("Get after commit: %q, %v", v, err)
	}
	if v, err := s.Lookup(ctx, "accounts", "b@example.com"); err != nil || string(v) != "two" {
		t.Fatalf("Lookup by ix: %q, %v", v, err)
	}
	if _, err := s.Lookup(ctx, "accounts", "nobody@example.com"); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("Lookup of an unknown ix: %v, want ErrNotFound", err)
	}
	if _, err := s.Lookup(ctx, "accounts", ""); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("Lookup of an empty ix: %v, want ErrNotFound", err)
	}
	var keys [][]byte
	must(t, s.Scan(ctx, "accounts", func(k, _ []byte) error { keys = append(keys, k); return nil }))
	if len(keys) != 3 || keys[0][0] != 1 || keys[1][0] != 2 || keys[2][0] != 3 {
		t.Fatalf("Scan keys %v, want 1, 2, 3 in order", keys)
	}
	if n, err := s.Count(ctx, "accounts"); err != nil || n != 3 {
		t.Fatalf("Count %d, %v; want 3", n, err)
	}
	if n, _ := s.Count(ctx, "devices"); n != 0 {
		t.Fatalf("another table holds %d rows", n)
	}

	// Replace, delete, roll back.
	tx = begin(t, s)
	must(t, tx.Put(ctx, "accounts", []byte{1}, "c@example.com", 0, []byte("ONE")))
	must(t, tx.Delete(ctx, "accounts", []byte{2}))
	must(t, tx.Rollback())
	if v, _ := s.Get(ctx, "accounts", []byte{1}); string(v) != "one" {
		t.Fatalf("a rolled back write is seen: %q", v)
	}
	tx = begin(t, s)
	must(t, tx.Put(ctx, "accounts", []byte{1}, "c@example.com", 0, []byte("ONE")))
	must(t, tx.Delete(ctx, "accounts", []byte{2}))
	must(t, tx.Commit())
	if v, _ := s.Lookup(ctx, "accounts", "c@example.com"); string(v) != "ONE" {
		t.Fatalf("a replaced row is not found by its new ix: %q", v)
	}
	if _, err := s.Lookup(ctx, "accounts", "a@example.com"); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("a replaced row is still found by its old ix: %v", err)
	}
	if _, err := s.Get(ctx, "accounts", []byte{2}); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("a deleted row is read: %v", err)
	}

	// Sweep deletes rows whose until is before the bound, never rows without one.
	tx = begin(t, s)
	must(t, tx.Put(ctx, "signouts", []byte{1}, "", 100, []byte("old")))
	must(t, tx.Put(ctx, "signouts", []byte{2}, "", 200, []byte("edge")))
	must(t, tx.Put(ctx, "signouts", []byte{3}, "", 0, []byte("forever")))
	must(t, tx.Sweep(ctx, "signouts", 200))
	must(t, tx.Commit())
	var left []string
	must(t, s.Scan(ctx, "signouts", func(_, v []byte) error { left = append(left, string(v)); return nil }))
	if len(left) != 2 || left[0] != "edge" || left[1] != "forever" {
		t.Fatalf("after a sweep before 200: %v, want edge and forever", left)
	}
	tx = begin(t, s)
	must(t, tx.Clear(ctx, "signouts"))
	must(t, tx.Commit())
	if n, _ := s.Count(ctx, "signouts"); n != 0 {
		t.Fatalf("Clear left %d rows", n)
	}
	testPutRows(t, s)
	if _, err := s.Get(ctx, "no_such_table", []byte{1}); err == nil || errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("a read of an unknown table: %v, want an error other than ErrNotFound", err)
	}
}

// testPutRows checks a store's PutRows, if its transactions have it: as many rows as several
// statements take, one of them replacing a row, read back with their ix and until.
func testPutRows(t *testing.T, s projections.Store) {
	ctx := context.Background()
	tx := begin(t, s)
	rw, ok := tx.(projections.RowsWriter)
	if !ok {
		must(t, tx.Rollback())
		return
	}
	must(t, tx.Put(ctx, "sessions", []byte{0, 5}, "old", 0, []byte("old")))
	var rows []projections.Row
	for i := range 150 {
		r := projections.Row{Key: []byte{0, byte(i)}, Val: []byte(fmt.Sprintf("row %d", i))}
		if i%3 == 0 {
			r.Ix = fmt.Sprintf("ix%d", i)
		}
		if i%2 == 0 {
			r.Until = int64(1000 + i)
		}
		rows = append(rows, r)
	}
	must(t, rw.PutRows(ctx, "sessions", rows))
	must(t, tx.Commit())
	if n, err := s.Count(ctx, "sessions"); err != nil || n != 150 {
		t.Fatalf("PutRows of 150 rows (one replacing a row): %d rows, %v", n, err)
	}
	if v, err := s.Get(ctx, "sessions", []byte{0, 149}); err != nil || string(v) != "row 149" {
		t.Fatalf("the last row of PutRows: %q, %v", v, err)
	}
	if v, err := s.Get(ctx, "sessions", []byte{0, 5}); err != nil || string(v) != "row 5" {
		t.Fatalf("a row replaced by PutRows: %q, %v", v, err)
	}
	if v, err := s.Lookup(ctx, "sessions", "ix99"); err != nil || string(v) != "row 99" {
		t.Fatalf("a row of PutRows by its ix: %q, %v", v, err)
	}
	if _, err := s.Lookup(ctx, "sessions", "old"); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("the replaced row's old ix after PutRows: %v, want ErrNotFound", err)
	}
	tx = begin(t, s)
	must(t, tx.Sweep(ctx, "sessions", 1100))
	must(t, tx.Commit())
	// even rows below 100 had an until under 1100; odd rows none
	if n, _ := s.Count(ctx, "sessions"); n != 100 {
		t.Fatalf("a sweep after PutRows left %d rows, want 100", n)
	}
	tx = begin(t, s)
	must(t, tx.Clear(ctx, "sessions"))
	must(t, tx.Commit())
}

func testCheckpoints(t *testing.T, s projections.Store) {
	ctx := context.Background()
	tx := begin(t, s)
	if cps, err := tx.Checkpoints(ctx); err != nil || len(cps) != 0 {
		t.Fatalf("new checkpoints: %v, %v; want none", cps, err)
	}
	must(t, tx.SetCheckpoint(ctx, "accounts", 41))
	must(t, tx.SetCheckpoint(ctx, "accounts", 42))
	must(t, tx.SetCheckpoints(ctx, map[string]eventstore.Position{"devices": 7}))
	if cps, err := tx.Checkpoints(ctx); err != nil || len(cps) != 2 || cps["accounts"] != 42 || cps["devices"] != 7 {
		t.Fatalf("checkpoints read in their transaction: %v, %v; want accounts 42, devices 7", cps, err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := projections.FailedEvent{Projection: "devices", Position: 7, Type: "device.registered", SchemaVersion: 9, Error: "boom", Attempts: 1, At: at}
	must(t, tx.PutFailure(ctx, f))
	f.Attempts, f.Skipped = 3, true
	must(t, tx.PutFailure(ctx, f))
	must(t, tx.PutFailure(ctx, projections.FailedEvent{Projection: "accounts", Position: 9, Type: "x", Error: "e", Attempts: 1, At: at}))
	if got, ok, err := tx.Failure(ctx, "devices", 7); err != nil || !ok || got != f {
		t.Fatalf("Failure: %+v %v %v; want %+v", got, ok, err, f)
	}
	if _, ok, err := tx.Failure(ctx, "devices", 8); err != nil || ok {
		t.Fatalf("Failure of a position that did not fail: %v %v", ok, err)
	}
	must(t, tx.Commit())
	cps, err := s.Checkpoints(ctx)
	if err != nil || len(cps) != 2 || cps["accounts"] != 42 || cps["devices"] != 7 {
		t.Fatalf("Checkpoints: %v, %v", cps, err)
	}
	fs, err := s.Failures(ctx)
	if err != nil || len(fs) != 2 || fs[0].Projection != "accounts" || fs[1] != f {
		t.Fatalf("Failures: %+v, %v", fs, err)
	}
	// More at once than one statement writes, in a transaction rolled back.
	tx = begin(t, s)
	many := map[string]eventstore.Position{}
	for i := range 20 {
		many[fmt.Sprint("model-", i)] = eventstore.Position(100 + i)
	}
	must(t, tx.SetCheckpoints(ctx, many))
	if cps, err := tx.Checkpoints(ctx); err != nil || len(cps) != 22 || cps["model-0"] != 100 || cps["model-19"] != 119 || cps["accounts"] != 42 {
		t.Fatalf("checkpoints after 20 set at once: %v, %v", cps, err)
	}
	must(t, tx.SetCheckpoints(ctx, map[string]eventstore.Position{"model-3": 7, "devices": 7}))
	if cps, _ := tx.Checkpoints(ctx); cps["model-3"] != 7 || cps["model-4"] != 104 {
		t.Fatalf("checkpoints moved again: %v", cps)
	}
	must(t, tx.Rollback())
}

func testFresh(t *testing.T, s projections.Store) {
	ctx := context.Background()
	tx := begin(t, s)
	must(t, tx.Put(ctx, "devices", []byte{1}, "old", 0, []byte("old")))
	must(t, tx.SetCheckpoint(ctx, "devices", 10))
	must(t, tx.Commit())
	for round := range 2 { // a second rebuild after a first one
		fresh, err := s.Fresh(ctx)
		must(t, err)
		if n, _ := fresh.Count(ctx, "devices"); n != 0 {
			t.Fatalf("round %d: fresh tables hold %d rows", round, n)
		}
		ftx := begin(t, fresh)
		must(t, ftx.Put(ctx, "devices", []byte{2}, "new", 0, []byte{byte('a' + round)}))
		must(t, ftx.Put(ctx, "challenges", []byte{4}, "", 77, []byte("swept after 77")))
		must(t, ftx.SetCheckpoint(ctx, "devices", 5))
		if rows, ok := fresh.(projections.CommittedRows); ok {
			// A rebuild's pipeline reads the committed rows with their until, beside a write.
			if _, _, err := rows.GetCommitted(ctx, "challenges", []byte{4}); !errors.Is(err, projections.ErrNotFound) {
				t.Fatalf("round %d: GetCommitted of a row not committed yet: %v, want ErrNotFound", round, err)
			}
		}
		must(t, ftx.Commit())
		if rows, ok := fresh.(projections.CommittedRows); ok {
			if v, until, err := rows.GetCommitted(ctx, "challenges", []byte{4}); err != nil || string(v) != "swept after 77" || until != 77 {
				t.Fatalf("round %d: GetCommitted = %q, until %d, %v; want the row, until 77", round, v, until, err)
			}
			if v, until, err := rows.GetCommitted(ctx, "devices", []byte{2}); err != nil || !bytes.Equal(v, []byte{byte('a' + round)}) || until != 0 {
				t.Fatalf("round %d: GetCommitted of a row with no until = %q, until %d, %v", round, v, until, err)
			}
		}
		if v, err := s.Get(ctx, "devices", []byte{1}); round == 0 && (err != nil || string(v) != "old") {
			t.Fatalf("the live tables during a rebuild: %q, %v", v, err)
		}
		if err := fresh.Promote(ctx); !errors.Is(err, projections.ErrBehind) {
			t.Fatalf("round %d: Promote of tables behind the live ones: %v, want ErrBehind", round, err)
		}
		ftx = begin(t, fresh)
		must(t, ftx.SetCheckpoint(ctx, "devices", 10))
		must(t, ftx.Commit())
		must(t, fresh.Promote(ctx))
		if _, err := s.Get(ctx, "devices", []byte{1}); !errors.Is(err, projections.ErrNotFound) {
			t.Fatalf("round %d: the old rows after Promote: %v", round, err)
		}
		if v, err := s.Lookup(ctx, "devices", "new"); err != nil || !bytes.Equal(v, []byte{byte('a' + round)}) {
			t.Fatalf("round %d: the new rows after Promote: %q, %v", round, v, err)
		}
		tx := begin(t, s)
		// The live store's statements (prepared once, before the tables were replaced) read
		// and write the new tables.
		if v, err := tx.Get(ctx, "devices", []byte{2}); err != nil || !bytes.Equal(v, []byte{byte('a' + round)}) {
			t.Fatalf("round %d: a read in a transaction after Promote: %q, %v", round, v, err)
		}
		if cps, err := tx.Checkpoints(ctx); err != nil || cps["devices"] != 10 {
			t.Fatalf("round %d: the checkpoints in a transaction after Promote: %v, %v", round, cps, err)
		}
		must(t, tx.Put(ctx, "devices", []byte{3}, "", 0, []byte("after")))
		must(t, tx.Commit())
		if v, err := s.Get(ctx, "devices", []byte{3}); err != nil || string(v) != "after" {
			t.Fatalf("round %d: a write after Promote: %q, %v", round, v, err)
		}
	}
}
