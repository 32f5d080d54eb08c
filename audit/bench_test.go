package audit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/eventstore"
)

// BenchmarkTimeline10k reads the timeline of an account whose history holds 10,000 events
// (3,332 approved challenges, each three events in two streams), with a summary per event.
func BenchmarkTimeline10k(b *testing.B) {
	h := newHistory(b, 3332)
	r := audit.NewReader(h.store, h.db)
	ctx := context.Background()
	tl, err := r.Timeline(ctx, h.account)
	if err != nil || len(tl) < 10_000 {
		b.Fatalf("%d events, %v", len(tl), err)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := r.Timeline(ctx, h.account); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/timeline")
	b.ReportMetric(float64(len(tl)), "events")
}

// BenchmarkVerify verifies a log of 200,000 events in 1,000 streams, 1% of them signed
// approvals, with two checkpoints, and reports events verified per second.
func BenchmarkVerify(b *testing.B) {
	const total = 200_000
	h := newHistory(b, 1000) // 3,005 events with 1,000 signed approvals
	ctx := context.Background()
	h.checkpoint(b)
	for n := 0; n < total-3_005; n += 100 {
		evs := make([]eventstore.EventData, 100)
		for j := range evs {
			evs[j] = eventstore.EventData{Type: "bench.filled", SchemaVersion: 1,
				Data: fmt.Appendf(nil, `{"n":%d,"account_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`, n+j)}
		}
		if _, err := h.store.Append(ctx, fmt.Sprintf("fill-%d", (n/100)%1000), eventstore.Any(), evs...); err != nil {
			b.Fatal(err)
		}
	}
	h.checkpoint(b)
	b.ResetTimer()
	start := time.Now()
	var events int
	for range b.N {
		rep, err := audit.Verify(ctx, h.store, audit.VerifyOptions{})
		if err != nil || !rep.OK {
			b.Fatalf("%v %+v", err, rep)
		}
		events += rep.Events
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
}
