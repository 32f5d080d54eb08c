package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// passwordCollector reads the password-check queue at each scrape.
type passwordCollector struct {
	read func() (running, capacity, waiting int, busy uint64)
}

var (
	pwRunning  = desc("password_checks_running", "Password checks (argon2id) running now.")
	pwCapacity = desc("password_checks_capacity", "Password checks that may run at once.")
	pwWaiting  = desc("password_checks_waiting", "Password checks waiting for their turn.")
	pwBusy     = desc("password_checks_busy_total", "Password checks refused because the queue stayed full (503 busy).")
)

func (c *passwordCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pwRunning
	ch <- pwCapacity
	ch <- pwWaiting
	ch <- pwBusy
}

func (c *passwordCollector) Collect(ch chan<- prometheus.Metric) {
	running, capacity, waiting, busy := c.read()
	ch <- prometheus.MustNewConstMetric(pwRunning, prometheus.GaugeValue, float64(running))
	ch <- prometheus.MustNewConstMetric(pwCapacity, prometheus.GaugeValue, float64(capacity))
	ch <- prometheus.MustNewConstMetric(pwWaiting, prometheus.GaugeValue, float64(waiting))
	ch <- prometheus.MustNewConstMetric(pwBusy, prometheus.CounterValue, float64(busy))
}

// storeCollector reads the embedded store's counters at each scrape.
type storeCollector struct {
	read func() (commits, appends, events uint64)
}

var (
	stCommits = desc("store_commits_total", "Embedded store: commits of the writer since the store opened.")
	stAppends = desc("store_appends_total", "Embedded store: appends committed since the store opened.")
	stEvents  = desc("store_events_total", "Embedded store: events written since the store opened.")
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stCommits
	ch <- stAppends
	ch <- stEvents
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	commits, appends, events := c.read()
	ch <- prometheus.MustNewConstMetric(stCommits, prometheus.CounterValue, float64(commits))
	ch <- prometheus.MustNewConstMetric(stAppends, prometheus.CounterValue, float64(appends))
	ch <- prometheus.MustNewConstMetric(stEvents, prometheus.CounterValue, float64(events))
}

// lagCollector reads the log's head and each read model's position at each scrape.
type lagCollector struct {
	head        func(ctx context.Context) (uint64, error)
	projections func() map[string]uint64
}

var (
	lgHead     = desc("log_head_position", "Position of the last event of the log.")
	lgPosition = desc("projection_position", "Position of the last event a read model applied.", "projection")
	lgLag      = desc("projection_lag_events", "Events of the log a read model has not applied yet (head minus its position; positions of EventStoreDB are byte offsets).", "projection")
)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lgHead
	ch <- lgPosition
	ch <- lgLag
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	var positions map[string]uint64
	if c.projections != nil {
		positions = c.projections() // before the head, so that the lag is never negative
	}
	head, ok := uint64(0), false
	if c.head != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		h, err := c.head(ctx)
		cancel()
		if err == nil {
			head, ok = h, true
			ch <- prometheus.MustNewConstMetric(lgHead, prometheus.GaugeValue, float64(h))
		}
	}
	for name, pos := range positions {
		ch <- prometheus.MustNewConstMetric(lgPosition, prometheus.GaugeValue, float64(pos), name)
		if ok {
			lag := 0.0
			if head > pos {
				lag = float64(head - pos)
			}
			ch <- prometheus.MustNewConstMetric(lgLag, prometheus.GaugeValue, lag, name)
		}
	}
}
