package postgres_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// A subscriber on another node sees every event exactly once, in strictly growing positions,
// while 16 writers append through 4 connections, one append in five held open before its commit
// for up to 40 ms, and a transaction outside the store takes a transaction ID, holds it 300 ms
// and rolls back (which sends no notification). Transactions that began earlier commit later:
// a reader of "everything after the last position" that did not wait for the horizon would
// skip them.
func TestSubscriberSeesEveryEventOnceUnderHeldTransactions(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	writer, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { writer.Close() })
	var held atomic.Int64
	postgres.SetBeforeCommit(writer, func() {
		if rand.IntN(5) == 0 {
			held.Add(1)
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
		}
	})
	reader := open(t, url)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sub, err := reader.Subscribe(ctx, eventstore.FromStart())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const writers, appends = 16, 40
	total := writers * appends
	got := make(chan eventstore.RecordedEvent, total)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := sub.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			if m.Event != nil {
				got <- *m.Event
			}
		}
	}()

	// A transaction outside the store that holds the horizon back, then rolls back.
	outsider := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			outsider <- err
			return
		}
		defer conn.Close(context.Background())
		tx, err := conn.Begin(ctx)
		if err != nil {
			outsider <- err
			return
		}
		if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
			outsider <- err
			return
		}
		time.Sleep(300 * time.Millisecond)
		outsider <- tx.Rollback(ctx)
	}()

	want := map[uuid.UUID]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appends {
				ev := storetest.Event("test.appended", w*1000+i)
				stream := "gap-" + uuid.NewString()[:8]
				if _, err := writer.Append(ctx, stream, eventstore.NoStream(), ev); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				want[ev.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := <-outsider; err != nil {
		t.Fatalf("outside transaction: %v", err)
	}

	seen := map[uuid.UUID]bool{}
	var last eventstore.Position
	for len(seen) < total {
		select {
		case ev := <-got:
			if ev.Position <= last {
				t.Fatalf("position %d after %d: out of order", ev.Position, last)
			}
			last = ev.Position
			if seen[ev.ID] {
				t.Fatalf("event %s delivered twice", ev.ID)
			}
			if !want[ev.ID] {
				t.Fatalf("event %s was never appended", ev.ID)
			}
			seen[ev.ID] = true
		case err := <-recvErr:
			t.Fatalf("recv: %v", err)
		case <-ctx.Done():
			t.Fatalf("the subscriber saw %d of %d events", len(seen), total)
		}
	}
	// Nothing more comes: each event was delivered once.
	select {
	case ev := <-got:
		t.Fatalf("an extra delivery: %s at %d", ev.ID, ev.Position)
	case <-time.After(200 * time.Millisecond):
	}
	if held.Load() == 0 {
		t.Fatal("no append was held open: the test did not exercise late commits")
	}
	t.Logf("%d events seen once each; %d appends held open before commit", total, held.Load())
}
