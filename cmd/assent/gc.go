package main

import "runtime/debug"

// defaultGCPercent is the garbage collector's target that the server sets when the GOGC
// environment variable is not set: a collection starts when the heap has grown by 400% of what
// the last one left live, instead of Go's 100%.
//
// Why: every password check is argon2id, which allocates 19 MiB (OWASP's minimum memory) and
// drops it at once. With Go's default, the heap of a server holding a thousand sockets reaches
// its goal every few sign-ins, so the collector is marking a good part of the time, beside the
// device sockets and login streams whose latency matters. Measured with BenchmarkPushLatency
// (1,000 sockets, 1,000 sign-ins a run): at 400% the push's p99 fell from 1.6–4.0 ms (6 runs)
// to 1.1–1.8 ms (8 runs); the answer's p99 moved within its noise (3.0–6.4 ms either way). The
// cost is memory: the heap may grow to five times what is live before a collection.
// GOMEMLIMIT bounds it, and GOGC set in the environment wins.
const defaultGCPercent = 400

// tuneGC sets the collector's target to defaultGCPercent unless GOGC is set (getenv reads the
// environment). It returns the target it set, or 0 when it left Go's.
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return 0
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}
