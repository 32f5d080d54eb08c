package checkpointer_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// benchStreams is the number of streams of BenchmarkCheckpoint's log: 1,000,000, or
// ASSENT_BENCH_STREAMS.
func benchStreams(b *testing.B) int {
	if v := os.Getenv("ASSENT_BENCH_STREAMS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10_000 {
			b.Fatalf("ASSENT_BENCH_STREAMS must be a number of at least 10000 but it's '%s'", v)
		}
		return n
	}
	return 1_000_000
}

func benchEvent(n int) eventstore.EventData {
	return eventstore.EventData{Type: "bench.filled", SchemaVersion: 1,
		Data: fmt.Appendf(nil, `{"n":%d,"account_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","ip":"203.0.113.7"}`, n)}
}

// cpuTime is the processor time the process has used (user and system): on a shared machine,
// a figure less moved by other work than the time on the clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkCheckpoint builds a log of one event in each of 1,000,000 streams, signs the first
// checkpoint over it (reported once, as first-s), then, for N changed streams, times a
// checkpoint after one event appended to each of N streams spread over the log. MiB-held is
// the heap held after its checkpoints (heap in use after a collection, less the same before
// the checkpointer was made: the store's cache of recent events counts too); cpu-ms is the
// processor time the process used during the checkpoint.
func BenchmarkCheckpoint(b *testing.B) {
	streams := benchStreams(b)
	ctx := context.Background()
	dir := b.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 1000
	for i := 0; i < streams; i += batch {
		parts := make([]eventstore.StreamAppend, 0, batch)
		for j := i; j < min(i+batch, streams); j++ {
			parts = append(parts, eventstore.StreamAppend{Stream: fmt.Sprintf("bench-%07d", j), Expected: eventstore.NoStream(), Events: []eventstore.EventData{benchEvent(j)}})
		}
		if _, err := s.AppendMulti(ctx, parts...); err != nil {
			b.Fatal(err)
		}
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	before := heapInUse()
	cp := benchCheckpointer(b, s, key, dir)
	start := time.Now()
	if got, err := cp.Checkpoint(ctx); err != nil || got == nil {
		b.Fatalf("first checkpoint: %v %v", got, err)
	}
	first := time.Since(start)
	b.Logf("%d streams; first checkpoint (the whole log folded) %.1f s", streams, first.Seconds())
	next := 0
	for _, changed := range []int{10, 100, 1000, 10_000} {
		b.Run(fmt.Sprintf("changed=%d", changed), func(b *testing.B) {
			var spent, cpu time.Duration
			for range b.N {
				for k := 0; k < changed; k += batch {
					parts := make([]eventstore.StreamAppend, 0, batch)
					for j := k; j < min(k+batch, changed); j++ {
						next = (next + 7919) % streams // a prime stride: streams spread over the log
						parts = append(parts, eventstore.StreamAppend{Stream: fmt.Sprintf("bench-%07d", next), Expected: eventstore.Any(), Events: []eventstore.EventData{benchEvent(next)}})
					}
					if _, err := s.AppendMulti(ctx, parts...); err != nil {
						b.Fatal(err)
					}
				}
				start, cpu0 := time.Now(), cpuTime()
				if got, err := cp.Checkpoint(ctx); err != nil || got == nil {
					b.Fatalf("checkpoint: %v %v", got, err)
				}
				spent += time.Since(start)
				cpu += cpuTime() - cpu0
			}
			b.ReportMetric(float64(spent.Microseconds())/1000/float64(b.N), "ms/checkpoint")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/checkpoint")
			b.ReportMetric(first.Seconds(), "first-s")
			b.ReportMetric(float64(int64(heapInUse())-int64(before))/(1<<20), "MiB-held")
			b.ReportMetric(0, "ns/op")
		})
	}
	runtime.KeepAlive(cp)
}
