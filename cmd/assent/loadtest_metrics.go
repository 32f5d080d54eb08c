package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// histogram is a cumulative Prometheus histogram read from the server's /metrics.
type histogram struct {
	bounds []float64 // upper bounds, ascending, +Inf last
	counts []uint64  // cumulative
}

// readHistograms reads the named histograms of the server's --metrics-listen.
func readHistograms(ctx context.Context, metricsURL string, names ...string) (map[string]histogram, error) {
	text, err := getText(ctx, metricsURL+"/metrics")
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("loadtest: the server's metrics: %w", err)
	}
	out := map[string]histogram{}
	for _, name := range names {
		fam := fams[name]
		if fam == nil || len(fam.GetMetric()) == 0 || fam.GetMetric()[0].GetHistogram() == nil {
			continue
		}
		var h histogram
		for _, b := range fam.GetMetric()[0].GetHistogram().GetBucket() {
			h.bounds = append(h.bounds, b.GetUpperBound())
			h.counts = append(h.counts, b.GetCumulativeCount())
		}
		h.bounds = append(h.bounds, math.Inf(1))
		h.counts = append(h.counts, fam.GetMetric()[0].GetHistogram().GetSampleCount())
		out[name] = h
	}
	return out, nil
}

// since returns what h counted after before was read.
func (h histogram) since(before histogram) histogram {
	d := histogram{bounds: h.bounds, counts: slices.Clone(h.counts)}
	if len(before.counts) == len(h.counts) {
		for i := range d.counts {
			d.counts[i] -= before.counts[i]
		}
	}
	return d
}

// describe gives the count and the buckets' upper bounds at the median and the 99th
// percentile: a histogram says only "at most".
func (h histogram) describe() string {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return "none"
	}
	n := h.counts[len(h.counts)-1]
	q := func(p float64) string {
		want := uint64(math.Ceil(p * float64(n)))
		for i, c := range h.counts {
			if c >= want {
				if math.IsInf(h.bounds[i], 1) {
					return fmt.Sprintf("> %.2f ms", h.bounds[i-1]*1000)
				}
				return fmt.Sprintf("≤ %.2f ms", h.bounds[i]*1000)
			}
		}
		return "?"
	}
	return fmt.Sprintf("n=%d p50 %s, p99 %s", n, q(0.5), q(0.99))
}
