package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// openBench opens a store on a database of its own with a pool of conns connections.
func openBench(b *testing.B, conns int32) *postgres.Store {
	b.Helper()
	s, err := postgres.Open(context.Background(), pgtest.Database(b), postgres.Options{MaxConns: conns})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkAppend measures durable appends of one event each, each to its appender's own
// stream, from 1, 16 and 64 goroutines over a pool of 16 connections: the same shapes as the
// embedded store's BenchmarkAppend.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			storetest.AppendConcurrently(b, openBench(b, 16), appenders)
		})
	}
}

// BenchmarkReadAll reads a log of 100,000 events in pages of 1,000, b.N times, and reports the
// events read per second.
func BenchmarkReadAll(b *testing.B) {
	const total = 100_000
	s := openBench(b, 4)
	ctx := context.Background()
	for i := 0; i < total; i += 100 {
		evs := make([]eventstore.EventData, 0, 100)
		for j := i; j < min(total, i+100); j++ {
			ev := storetest.Event("bench.filled", j)
			ev.Data = fmt.Appendf(nil, `{"n":%d,"account_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`, j)
			evs = append(evs, ev)
		}
		if _, err := s.Append(ctx, fmt.Sprintf("fill-%d", i%50), eventstore.Any(), evs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	read := 0
	for range b.N {
		after := eventstore.Start
		for {
			evs, err := s.ReadAll(ctx, after, 1000)
			if err != nil {
				b.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			read += len(evs)
			after = evs[len(evs)-1].Position
		}
	}
	b.ReportMetric(float64(read)/time.Since(start).Seconds(), "events/s")
}
