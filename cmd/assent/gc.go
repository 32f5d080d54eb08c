package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The garbage collector's target, which the server adapts to its live memory when the GOGC
// environment variable is not set.
//
// Why: every password check is argon2id, which allocates 19 MiB (OWASP's minimum memory) and
// drops it at once. With Go's default of 100%, a server whose live heap is small (a few
// hundred sockets) reaches its goal every few sign-ins, and the collector marks a good part of
// the time. So a small live heap gets up to maxGCPercent of headroom. But a fixed 400% over
// the live memory of many device sockets is gigabytes of resident memory for nothing: the
// headroom the sign-ins need does not grow with the sockets. So the target is the percentage
// that gives gcHeadroom over what the last collection found live, between minGCPercent and
// maxGCPercent, set again after each collection. docs/performance.md has the figures.
const (
	minGCPercent     = 100
	maxGCPercent     = 400
	gcHeadroom       = 64 << 20
	defaultGCPercent = maxGCPercent // the target before the first collection
)

// gcPercentFor is the target for live bytes (heap, stacks and globals) found by a collection.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return maxGCPercent
	}
	return int(min(max(gcHeadroom*100/live, minGCPercent), maxGCPercent))
}

// tuneGC sets the collector's target to defaultGCPercent and adapts it after each collection,
// unless GOGC is set (getenv reads the environment). It returns the first target it set, or 0
// when it left Go's.
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return 0
	}
	debug.SetGCPercent(defaultGCPercent)
	gcTunerOnce.Do(func() { armGCTuner(defaultGCPercent) })
	return defaultGCPercent
}

var gcTunerOnce sync.Once

// gcSentinel is unreachable from the moment it is made: its finalizer runs after the next
// collection, adapts the target and makes the next sentinel. It holds a pointer so that it is
// not a tiny allocation, whose finalizer might never run.
type gcSentinel struct{ last *int }

func armGCTuner(last int) {
	s := &gcSentinel{last: &last}
	runtime.SetFinalizer(s, func(s *gcSentinel) {
		p := gcPercentFor(liveAfterGC())
		if d := p - *s.last; d > 10 || d < -10 { // setting it is not free: only a real change
			debug.SetGCPercent(p)
			*s.last = p
		}
		armGCTuner(*s.last)
	})
}

// liveAfterGC is what the last collection found live: the heap's objects, the goroutines'
// stacks and the globals, which Go's target is a percentage of.
func liveAfterGC() uint64 {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	metrics.Read(samples)
	var total uint64
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			total += s.Value.Uint64()
		}
	}
	return total
}

// spareProcessor gives the scheduler one processor more than the machine's cores when
// passwords are checked inline, unless GOMAXPROCS is set (getenv reads the environment), and
// returns the password checks to allow at once: the cores. Inline password checks (argon2id)
// each hold a processor for tens of milliseconds, and Go preempts a running goroutine only
// every 10 ms; with as many checks as processors, a challenge's push would wait behind them.
// With a processor to spare, the network and the pushes always have one, and the kernel shares
// the cores between the threads. Checked in the worker process, a password holds no processor
// of the server, and a processor more than the cores would only have the kernel share a core
// between two of the server's threads: the goroutine a commit wakes first (the push hub's) would
// wait for the kernel's turn instead of running next. It returns 0, changing nothing, when
// GOMAXPROCS is set.
func spareProcessor(getenv func(string) string, inline bool) int {
	if getenv("GOMAXPROCS") != "" {
		return 0
	}
	spareOnce.Do(func() {
		spareCores = runtime.GOMAXPROCS(0)
		if inline {
			runtime.GOMAXPROCS(spareCores + 1)
		}
	})
	return spareCores
}

var (
	spareOnce  sync.Once
	spareCores int
)
