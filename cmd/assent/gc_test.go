package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

// TestTuneGC is not parallel: it reads the collector's target, which is global, and parallel
// tests wait until the sequential ones are done.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(123)
	defer debug.SetGCPercent(prev)
	if got := tuneGC(func(k string) string { return map[string]string{"GOGC": "50"}[k] }); got != 0 {
		t.Fatalf("with GOGC set, tuneGC set %d", got)
	}
	if cur := debug.SetGCPercent(123); cur != 123 {
		t.Fatalf("with GOGC set, the target moved to %d", cur)
	}
	if got := tuneGC(func(string) string { return "" }); got != defaultGCPercent {
		t.Fatalf("without GOGC, tuneGC set %d, want %d", got, defaultGCPercent)
	}
	if cur := debug.SetGCPercent(defaultGCPercent); cur != defaultGCPercent {
		t.Fatalf("without GOGC, the target is %d, want %d", cur, defaultGCPercent)
	}

	// After a collection the target follows the live memory: a live heap of 1 GiB (as 10,000
	// sockets held before) gets Go's 100%, not 400%.
	ballast := make([]byte, 1<<30)
	runtime.GC()
	runtime.GC() // the tuner runs as a finalizer after the first
	for range 100 {
		if gcPercent() == minGCPercent {
			break
		}
		runtime.GC()
	}
	if cur := gcPercent(); cur != minGCPercent {
		t.Fatalf("with 1 GiB live, the target is %d, want %d", cur, minGCPercent)
	}
	runtime.KeepAlive(ballast)
}

// gcPercent reads the collector's target without changing it.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	for live, want := range map[uint64]int{0: 400, 16 << 20: 400, 20 << 20: 320, 32 << 20: 200, 43 << 20: 148, 64 << 20: 100, 128 << 20: 100, 1 << 30: 100} {
		if got := gcPercentFor(live); got != want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", live>>20, got, want)
		}
	}
}
