package main

import (
	"runtime/debug"
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
	if cur := debug.SetGCPercent(123); cur != defaultGCPercent {
		t.Fatalf("without GOGC, the target is %d, want %d", cur, defaultGCPercent)
	}
}
