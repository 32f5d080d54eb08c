package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// TestBackupUnderAppendsHoldsEveryAcknowledgedEvent: a backup taken while appenders run, of a
// store whose writer is open, holds every event acknowledged before it began, and opens as a
// store whose stream reads find them.
func TestBackupUnderAppendsHoldsEveryAcknowledgedEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()

	var (
		mu    sync.Mutex
		acked = map[string]uint64{} // stream -> last acknowledged version
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				stream := fmt.Sprintf("w%d-%d", w, i%20)
				res, err := s.Append(ctx, stream, eventstore.Any(), storetest.Event("test.a", i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[stream] = res.Version
				mu.Unlock()
			}
		})
	}
	for s.Head() < 300 {
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		runtime.Gosched()
	}
	mu.Lock()
	before := make(map[string]uint64, len(acked))
	for k, v := range acked {
		before[k] = v
	}
	headBefore := s.Head()
	mu.Unlock()
	dst := filepath.Join(t.TempDir(), "events.db")
	head, err := sqlite.Backup(ctx, s.Path(), dst)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if head < headBefore {
		t.Fatalf("the copy's head %d is before the head %d when the backup began", head, headBefore)
	}

	cp, err := sqlite.Open(ctx, dst, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open the copy: %v", err)
	}
	defer cp.Close()
	for stream, v := range before {
		evs, err := cp.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
		if err != nil {
			t.Fatalf("read %s in the copy: %v", stream, err)
		}
		if len(evs) == 0 || evs[len(evs)-1].Version < v {
			t.Errorf("stream %s: the copy has %d events, want version %d acknowledged before the backup", stream, len(evs), v)
		}
	}
	all, err := cp.ReadAll(ctx, eventstore.Start, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || all[len(all)-1].Position != head {
		t.Fatalf("the copy reads %d events, not up to its head %d", len(all), head)
	}
	if _, err := sqlite.Backup(ctx, s.Path(), dst); err == nil {
		t.Fatal("a backup over an existing file succeeded")
	}
}

// BenchmarkBackup copies a store of 100,000 events with Backup while it is open for writing,
// and reports the events copied per second.
func BenchmarkBackup(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 100_000
	fill(b, s, n)
	dir := b.TempDir()
	b.ResetTimer()
	for i := range b.N {
		if _, err := sqlite.Backup(context.Background(), s.Path(), filepath.Join(dir, fmt.Sprintf("copy-%d.db", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
