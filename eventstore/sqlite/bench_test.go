package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// BenchmarkAppend measures durable appends of one event each from 1, 16 and 64 goroutines.
// events/s counts acknowledged (fsynced) events; events/commit shows the group commit at work.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			s := openTemp(b)
			defer s.Close()
			before := s.Stats()
			storetest.AppendConcurrently(b, s, appenders)
			after := s.Stats()
			b.ReportMetric(float64(after.Events-before.Events)/float64(max(1, after.Commits-before.Commits)), "events/commit")
		})
	}
}

// fill appends n events of a realistic size in batches of 100.
func fill(b *testing.B, s eventstore.Store, n int) {
	b.Helper()
	ctx := context.Background()
	for i := 0; i < n; i += 100 {
		evs := make([]eventstore.EventData, 0, 100)
		for j := i; j < min(n, i+100); j++ {
			ev := storetest.Event("bench.filled", j)
			ev.Data = fmt.Appendf(nil, `{"n":%d,"account_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`, j)
			evs = append(evs, ev)
		}
		if _, err := s.Append(ctx, fmt.Sprintf("fill-%d", i%50), eventstore.Any(), evs...); err != nil {
			b.Fatal(err)
		}
	}
}

type benchPayload struct {
	N         int    `json:"n"`
	AccountID string `json:"account_id"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// readAll reads the whole log in pages of 1,000 and hands every page to use.
func readAll(s eventstore.Store, use func([]eventstore.RecordedEvent)) (int, error) {
	ctx := context.Background()
	read := 0
	after := eventstore.Start
	for {
		evs, err := s.ReadAll(ctx, after, 1000)
		if err != nil {
			return read, err
		}
		if len(evs) == 0 {
			return read, nil
		}
		use(evs)
		read += len(evs)
		after = evs[len(evs)-1].Position
	}
}

func decodeData(b *testing.B, evs []eventstore.RecordedEvent) {
	for i := range evs {
		var p benchPayload
		if err := json.Unmarshal(evs[i].Data, &p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadAll reads the whole log in pages of 1,000, every event decoded from its row
// into the record the store returns (ID, stream, version, position, type, schema, metadata,
// time, data).
func BenchmarkReadAll(b *testing.B) {
	benchReadAll(b, func([]eventstore.RecordedEvent) {})
}

// BenchmarkReadAllWithJSON is BenchmarkReadAll that also decodes every event's data with
// encoding/json into a struct, as a projection does.
func BenchmarkReadAllWithJSON(b *testing.B) {
	benchReadAll(b, func(evs []eventstore.RecordedEvent) { decodeData(b, evs) })
}

// benchReadAll reads a log of 100,000 events b.N times, handing every page to use, and reports
// the events read per second.
func benchReadAll(b *testing.B, use func([]eventstore.RecordedEvent)) {
	const total = 100_000
	s := openTemp(b)
	defer s.Close()
	fill(b, s, total)
	b.ResetTimer()
	start := time.Now()
	read := 0
	for range b.N {
		n, err := readAll(s, use)
		if err != nil {
			b.Fatal(err)
		}
		read += n
	}
	b.ReportMetric(float64(read)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkReadAllWithJSONPipelined reads as a projection rebuild does: one goroutine reads
// pages of 1,000 while another decodes every event's data, so reading and decoding overlap on
// the machine's two cores.
func BenchmarkReadAllWithJSONPipelined(b *testing.B) {
	const total = 100_000
	s := openTemp(b)
	defer s.Close()
	fill(b, s, total)
	b.ResetTimer()
	start := time.Now()
	read := 0
	for range b.N {
		pages := make(chan []eventstore.RecordedEvent, 4)
		go func() {
			defer close(pages)
			if _, err := readAll(s, func(evs []eventstore.RecordedEvent) { pages <- evs }); err != nil {
				b.Error(err)
			}
		}()
		for evs := range pages {
			decodeData(b, evs)
			read += len(evs)
		}
	}
	b.ReportMetric(float64(read)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkJSONOnly decodes the benchmark's payload with encoding/json alone: the bound that
// decoding every event's data puts on a reader, whatever the store.
func BenchmarkJSONOnly(b *testing.B) {
	data := []byte(`{"n":12345,"account_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`)
	start := time.Now()
	for range b.N {
		var p benchPayload
		if err := json.Unmarshal(data, &p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkSubscriptionCatchUp subscribes from the start of a log of 100,000 events and
// receives until caught up.
func BenchmarkSubscriptionCatchUp(b *testing.B) {
	const total = 100_000
	s := openTemp(b)
	defer s.Close()
	fill(b, s, total)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	read := 0
	for range b.N {
		sub, err := s.Subscribe(ctx, eventstore.FromStart())
		if err != nil {
			b.Fatal(err)
		}
		for {
			msg, err := sub.Recv()
			if err != nil {
				b.Fatal(err)
			}
			if msg.CaughtUp {
				break
			}
			read++
		}
		sub.Close()
	}
	b.ReportMetric(float64(read)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkOpenLargeStore opens, read-write, the store file named by ASSENT_BENCH_STORE (a
// large one: assent generate makes it) and closes it again: the open-time checks of a large
// log. It is skipped without the variable. The file is opened as a server opens it, so use a
// copy of a store that matters.
func BenchmarkOpenLargeStore(b *testing.B) {
	path := os.Getenv("ASSENT_BENCH_STORE")
	if path == "" {
		b.Skip("ASSENT_BENCH_STORE names no store file")
	}
	ctx := context.Background()
	for b.Loop() {
		s, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
