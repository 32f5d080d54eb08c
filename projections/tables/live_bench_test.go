package tables_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/projections/tables"
)

// BenchmarkLiveFold measures the read models' live fold of ASSENT_BENCH_EVENTS events (default
// 20,000) of the synthetic log, on a node's SQLite tables and on PostgreSQL (with
// ASSENT_TEST_POSTGRES_URL), and reports events/s and the process's CPU per event:
//
//   - apply-N: Set.ApplyBatch with N events per call, N=1 being what the router did for every
//     event before it delivered batches;
//   - router: the events appended to a SQLite event log by 8 writers at once (each append as
//     durable as the server's), folded meanwhile by NewRouter as a server does, in batches of
//     what the log has ready. Its CPU includes the appends.
//
// Run it once:
//
//	go test -run '^$' -bench BenchmarkLiveFold -benchtime 1x ./projections/tables/
func BenchmarkLiveFold(b *testing.B) {
	total := 20_000
	if v, err := strconv.Atoi(os.Getenv("ASSENT_BENCH_EVENTS")); err == nil && v > 0 {
		total = v
	}
	stores := map[string]func(b *testing.B) projections.Store{
		"sqlite": func(b *testing.B) projections.Store {
			db, err := localdb.Open(context.Background(), b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			s, err := tables.OpenSQLite(context.Background(), db)
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	if os.Getenv("ASSENT_TEST_POSTGRES_URL") != "" {
		stores["postgres"] = func(b *testing.B) projections.Store {
			s, err := tables.OpenPostgres(context.Background(), pgtest.Database(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}
	}
	for _, name := range []string{"sqlite", "postgres"} {
		open, ok := stores[name]
		if !ok {
			continue
		}
		for _, n := range []int{1, 4, 16, 256} {
			b.Run(name+"/apply-"+strconv.Itoa(n), func(b *testing.B) {
				for range b.N {
					liveFoldApply(b, open(b), total, n)
				}
			})
		}
		b.Run(name+"/router", func(b *testing.B) {
			for range b.N {
				liveFoldRouter(b, open(b), total)
			}
		})
	}
}

func newLiveSet(b *testing.B, store projections.Store) *projections.Set {
	set, err := projections.OpenSet(context.Background(), store, nil)
	if err != nil {
		b.Fatal(err)
	}
	set.Challenges.RetainFor(24 * time.Hour)
	return set
}

func reportFold(b *testing.B, events int, took, cpu time.Duration) {
	b.ReportMetric(float64(events)/took.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(events), "cpu-µs/event")
	b.Logf("%d events in %s (%s of CPU): %.0f events/s, %.1f µs of CPU per event", events, took.Round(time.Millisecond),
		cpu.Round(time.Millisecond), float64(events)/took.Seconds(), float64(cpu.Microseconds())/float64(events))
}

func liveFoldApply(b *testing.B, store projections.Store, total, n int) {
	ctx := context.Background()
	b.StopTimer()
	set := newLiveSet(b, store)
	events, err := newSyntheticLog(total).ReadAll(ctx, eventstore.Start, total)
	if err != nil {
		b.Fatal(err)
	}
	cpu0, t0 := cpuTime(), time.Now()
	b.StartTimer()
	for i := 0; i < len(events); i += n {
		if err := set.ApplyBatch(ctx, events[i:min(i+n, len(events))]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportFold(b, len(events), time.Since(t0), cpuTime()-cpu0)
}

func liveFoldRouter(b *testing.B, store projections.Store, total int) {
	ctx := context.Background()
	b.StopTimer()
	set := newLiveSet(b, store)
	log, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	events, err := newSyntheticLog(total).ReadAll(ctx, eventstore.Start, total)
	if err != nil {
		b.Fatal(err)
	}
	r, err := projections.NewRouter(set, log, nil)
	if err != nil {
		b.Fatal(err)
	}
	go r.Run(ctx)
	defer r.Close()
	<-r.Running()
	todo := make(chan eventstore.RecordedEvent)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var last eventstore.Position
	cpu0, t0 := cpuTime(), time.Now()
	b.StartTimer()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range todo {
				res, err := log.Append(ctx, ev.Stream, eventstore.Any(), eventstore.EventData{Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data})
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				last = max(last, res.Position)
				mu.Unlock()
			}
		}()
	}
	for _, ev := range events {
		todo <- ev
	}
	close(todo)
	wg.Wait()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := set.WaitFor(wctx, last); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportFold(b, len(events), time.Since(t0), cpuTime()-cpu0)
}
