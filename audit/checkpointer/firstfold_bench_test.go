package checkpointer_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/audit/checkpointer"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/projections/tables"
)

// firstEvents is a log that ends after its first n events.
type firstEvents struct {
	*sqlite.Store
	n eventstore.Position
}

func (l firstEvents) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	if after >= l.n {
		return nil, nil
	}
	return l.Store.ReadAll(ctx, after, min(limit, int(l.n-after)))
}

func (l firstEvents) ReadAllChained(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.ChainedEvent, error) {
	if after >= l.n {
		return nil, nil
	}
	return l.Store.ReadAllChained(ctx, after, min(limit, int(l.n-after)))
}

// discardAppends takes the checkpoint the benchmark signs and keeps it nowhere.
type discardAppends struct{}

func (discardAppends) Append(context.Context, string, eventstore.ExpectedVersion, ...eventstore.EventData) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{}, nil
}

// BenchmarkFirstFoldLargeStore measures the checkpointer's first checkpoint on a store it has
// never folded: the fold of the log's first ASSENT_BENCH_EVENTS events (default 1,000,000)
// into new tables, the root of their heads, and the checkpoint signed over them (encoded as
// the event it appends; the store it would go to discards it). The store is ASSENT_BENCH_STORE
// (an events.db, opened read-only; `assent generate` makes one); without it the benchmark
// skips. It reports events/s, events per CPU second, the heap's peak while the checkpoint is
// made (sampled every 5 ms, less the heap before), the process's peak resident memory
// (VmHWM, reset before the checkpoint where the kernel allows it) and the size of the
// checkpoint's event. Run it once:
//
//	ASSENT_BENCH_STORE=big/events.db go test -run '^$' -bench FirstFoldLargeStore -benchtime 1x ./audit/checkpointer/
func BenchmarkFirstFoldLargeStore(b *testing.B) {
	path := os.Getenv("ASSENT_BENCH_STORE")
	if path == "" {
		b.Skip("ASSENT_BENCH_STORE is not set")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("ASSENT_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	for range b.N {
		db, err := localdb.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tables.OpenSQLite(ctx, db); err != nil { // the writer's page cache, as a node sets it
			b.Fatal(err)
		}
		cp := checkpointer.New(checkpointer.Config{Log: firstEvents{s, eventstore.Position(n)}, Appender: discardAppends{}, Key: key, DB: db})
		heap0 := heapInUse()
		resetPeakRSS()
		stop, peak := samplePeakHeap()
		start, cpu0 := time.Now(), cpuTime()
		got, err := cp.Checkpoint(ctx)
		if err != nil || got == nil {
			b.Fatalf("first checkpoint: %v %v", got, err)
		}
		took, cpu := time.Since(start), cpuTime()-cpu0
		stop()
		ev, err := got.Event()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(*peak-min(*peak, heap0))/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-rss-MiB")
		b.ReportMetric(float64(len(ev.Data)), "event-bytes")
		b.ReportMetric(took.Seconds(), "s")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		b.ReportMetric(float64(cp.EventsRead())/took.Seconds(), "events/s")
		b.ReportMetric(float64(cp.EventsRead())/cpu.Seconds(), "events/cpu-s")
		b.Logf("%d events, %d streams in %s (%s of CPU); %d heads listed, an event of %d bytes", cp.EventsRead(), got.Streams, took.Round(time.Millisecond), cpu.Round(time.Millisecond), len(got.Changed), len(ev.Data))
		db.Close()
	}
}

// samplePeakHeap samples the heap in use every 5 ms until stop is called; *peak is the
// highest sample.
func samplePeakHeap() (stop func(), peak *uint64) {
	peak = new(uint64)
	done, finished := make(chan struct{}), make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > *peak {
				*peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }, peak
}

// resetPeakRSS resets the process's peak resident memory (VmHWM), where Linux allows it.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the process's peak resident memory (VmHWM), in bytes; 0 where unknown.
func peakRSS() uint64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
