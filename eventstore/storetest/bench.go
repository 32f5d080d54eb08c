package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

// AppendConcurrently makes b.N durable appends of one event each, from appenders goroutines
// that each append to a stream of their own, and reports them as events/s: the shape every
// backend's BenchmarkAppend measures.
func AppendConcurrently(b *testing.B, s eventstore.Store, appenders int) {
	ctx := context.Background()
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("bench-%d", w)
			for next.Add(1) <= int64(b.N) {
				if _, err := s.Append(ctx, stream, eventstore.Any(), Event("bench.appended", w)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
