package projections

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// gatedStore is a fresh MemoryStore whose transactions begin only when the test lets them:
// the pipeline's writer waits there, so a transaction handed off stays in flight while the
// next one reads.
type gatedStore struct {
	*MemoryStore
	gate chan struct{}
}

func (g *gatedStore) Begin(ctx context.Context) (Tx, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.MemoryStore.Begin(ctx)
}

// TestPipelineReadsWhatCommittedTransactionsWouldHold runs random transactions (puts with and
// without until, deletes, sweeps, clears) through a pipeStore and, one by one, straight into a
// MemoryStore. Each transaction's reads happen while the one before it is still in flight (its
// writer held back), and must equal the reads of the MemoryStore, where every transaction
// before has committed; so must every row at the end.
func TestPipelineReadsWhatCommittedTransactionsWouldHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ref := NewMemoryStore()
	under := &gatedStore{MemoryStore: NewMemoryStore(), gate: make(chan struct{})}
	p, err := newPipe(ctx, under)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	tables := []string{"challenges", "signouts"}
	key := func() []byte { return []byte(fmt.Sprintf("k%02d", rng.IntN(40))) }
	reads, overlayHits := 0, 0
	for n := range 300 {
		rtx, err := ref.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ptx, err := p.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for range 1 + rng.IntN(30) {
			table := tables[rng.IntN(len(tables))]
			k := key()
			switch r := rng.IntN(100); {
			case r < 45:
				want, werr := rtx.Get(ctx, table, k)
				got, gerr := ptx.Get(ctx, table, k)
				if !errors.Is(gerr, werr) && (gerr != nil || werr != nil) || string(got) != string(want) {
					t.Fatalf("tx %d: get %s %s = %q, %v; committed one by one: %q, %v", n, table, k, got, gerr, want, werr)
				}
				reads++
				if p.inFlight() > 0 {
					overlayHits++
				}
			case r < 80:
				until := int64(0)
				if rng.IntN(3) > 0 {
					until = int64(1 + rng.IntN(100))
				}
				v := []byte(fmt.Sprintf("v%d-%d", n, rng.IntN(1000)))
				must(t, rtx.Put(ctx, table, k, "", until, v))
				must(t, ptx.Put(ctx, table, k, "", until, v))
			case r < 92:
				must(t, rtx.Delete(ctx, table, k))
				must(t, ptx.Delete(ctx, table, k))
			case r < 99:
				before := int64(rng.IntN(100))
				must(t, rtx.Sweep(ctx, table, before))
				must(t, ptx.Sweep(ctx, table, before))
			default:
				must(t, rtx.Clear(ctx, table))
				must(t, ptx.Clear(ctx, table))
			}
		}
		must(t, rtx.Commit())
		if n > 0 {
			under.gate <- struct{}{} // the writer may commit the transaction before this one
		}
		must(t, ptx.Commit())
	}
	under.gate <- struct{}{}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if overlayHits < 1000 {
		t.Fatalf("only %d of %d reads ran with a transaction in flight", overlayHits, reads)
	}
	for _, table := range tables {
		var want, got []string
		must(t, ref.Scan(ctx, table, func(k, v []byte) error { want = append(want, string(k)+"="+string(v)); return nil }))
		must(t, under.Scan(ctx, table, func(k, v []byte) error { got = append(got, string(k)+"="+string(v)); return nil }))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s after the pipeline:\n%v\ncommitted one by one:\n%v", table, got, want)
		}
		if len(want) == 0 {
			t.Fatalf("%s: no row left to compare", table)
		}
	}
}

// TestPipelineFailsLaterCommitsAfterAWriteFails checks that an error of the writer is not
// lost: the next Commit, Begin and wait return it.
func TestPipelineFailsLaterCommitsAfterAWriteFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, err := newPipe(ctx, NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := p.Begin(ctx)
	// a table the store does not have fails at the writer (the transaction checks names too)
	tx.(*pipeTx).l.ops = append(tx.(*pipeTx).l.ops, pipeOp{kind: opPut, table: "nosuch", key: []byte("k"), val: []byte("v")})
	must(t, tx.Commit())
	if err := p.wait(); err == nil {
		t.Fatal("wait after a failed write returned no error")
	}
	if _, err := p.Begin(ctx); err == nil {
		t.Fatal("Begin after a failed write returned no error")
	}
	if err := p.close(); err == nil {
		t.Fatal("close after a failed write returned no error")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
