// Package metrics is the server's Prometheus metrics (on a registry of its own, served by
// Handler) and the HTTP middleware that counts every request by route and writes the access
// log. The packages it observes know nothing of Prometheus: they expose counts and hooks, and
// the command wires them here. docs/operations.md lists every metric.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/assent-dev/assent/domain"
)

const namespace = "assent"

// Sources are the counts the metrics read at each scrape. Each is optional.
type Sources struct {
	// DeviceSockets is the number of device sockets connected to this node.
	DeviceSockets func() int
	// LoginWaiters is the number of login pages awaiting an outcome on this node.
	LoginWaiters func() int
	// SecurityWatchers is the number of security pages watching their account live.
	SecurityWatchers func() int
	// PasswordChecks is the password-check (argon2id) queue: running, capacity, waiting, and
	// the checks refused as busy since start.
	PasswordChecks func() (running, capacity, waiting int, busy uint64)
	// StoreTotals are the store's counters since it opened: commits, appends, events.
	StoreTotals func() (commits, appends, events uint64)
	// Head is the position of the last event of the log.
	Head func(ctx context.Context) (uint64, error)
	// Projections returns each read model's position in the log, by name.
	Projections func() map[string]uint64
}

// Metrics holds the server's collectors. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	rateLimited  *prometheus.CounterVec

	pushSent     prometheus.Counter
	pushDelivery prometheus.Histogram

	commitSeconds   prometheus.Histogram
	syncSeconds     prometheus.Histogram
	eventsPerCommit prometheus.Histogram

	logEvents *prometheus.CounterVec
	lockouts  *prometheus.CounterVec

	mu     sync.Mutex
	issued map[uuid.UUID]time.Time // challenges pushed, for the delivery latency
	swept  time.Time
}

// New returns the metrics on a registry of their own, with the Go runtime's and the process's
// collectors. Observe adds the gauges that read the server's parts.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), issued: map[uuid.UUID]time.Time{}}
	f := factory{m.reg}
	m.httpRequests = f.counterVec("http_requests_total", "HTTP requests answered, by route pattern, method and status.", "route", "method", "status")
	m.httpDuration = f.histogramVec("http_request_duration_seconds", "Time to answer an HTTP request, by route pattern and method (streams: their whole life).",
		prometheus.ExponentialBuckets(0.0005, 2, 16), "route", "method")
	m.rateLimited = f.counterVec("rate_limit_refusals_total", "Requests refused by a rate limit (429), by route pattern.", "route")
	m.pushSent = f.counter("push_sent_total", "Challenges handed to a device socket on this node (one per socket).")
	m.pushDelivery = f.histogram("push_delivery_seconds", "From a challenge's issue to its device's acknowledgement arriving on this node.",
		prometheus.ExponentialBuckets(0.00025, 2, 16))
	m.commitSeconds = f.histogram("store_commit_seconds", "Embedded store: one commit of the writer, begin to durable.", prometheus.ExponentialBuckets(0.0001, 2, 16))
	m.syncSeconds = f.histogram("store_fsync_seconds", "Embedded store: the COMMIT statement alone, the WAL write and its fsync.", prometheus.ExponentialBuckets(0.00005, 2, 16))
	m.eventsPerCommit = f.histogram("store_events_per_commit", "Embedded store: events written by one commit (group commit).", prometheus.ExponentialBuckets(1, 2, 13))
	m.logEvents = f.counterVec("log_events_total", "Events of the log seen by this node since it started, by type.", "type")
	m.lockouts = f.counterVec("lockouts_total", "Lockouts seen in the log since this node started, by kind (signin_locked, mfa_locked, push_muted).", "kind")

	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe registers the gauges and counters that read src at each scrape. Call it once.
func (m *Metrics) Observe(src Sources) {
	gauge := func(name, help string, fn func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, fn))
	}
	if src.DeviceSockets != nil {
		gauge("device_sockets", "Device sockets connected to this node.", func() float64 { return float64(src.DeviceSockets()) })
	}
	if src.LoginWaiters != nil {
		gauge("login_waiters", "Login pages awaiting a challenge's outcome on this node (long-poll, events, socket).", func() float64 { return float64(src.LoginWaiters()) })
	}
	if src.SecurityWatchers != nil {
		gauge("security_watchers", "Security pages watching their account live on this node.", func() float64 { return float64(src.SecurityWatchers()) })
	}
	if src.PasswordChecks != nil {
		m.reg.MustRegister(&passwordCollector{src.PasswordChecks})
	}
	if src.StoreTotals != nil {
		m.reg.MustRegister(&storeCollector{src.StoreTotals})
	}
	if src.Head != nil || src.Projections != nil {
		m.reg.MustRegister(&lagCollector{head: src.Head, projections: src.Projections})
	}
}

// Handler serves the registry in Prometheus's exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Commit records one commit of the embedded store's writer.
func (m *Metrics) Commit(events int, took, sync time.Duration) {
	m.commitSeconds.Observe(took.Seconds())
	m.syncSeconds.Observe(sync.Seconds())
	m.eventsPerCommit.Observe(float64(events))
}

// pushMemory is how long a pushed challenge is remembered for its delivery latency; a device
// that acknowledges later is not observed.
const pushMemory = 10 * time.Minute

// PushSent records a challenge handed to a device socket; issuedAt is when it was issued.
func (m *Metrics) PushSent(challenge uuid.UUID, issuedAt time.Time) {
	m.pushSent.Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.issued[challenge] = issuedAt
	if now := time.Now(); now.Sub(m.swept) > time.Minute {
		for id, at := range m.issued {
			if now.Sub(at) > pushMemory {
				delete(m.issued, id)
			}
		}
		m.swept = now
	}
}

// PushDelivered records a device's acknowledgement of a challenge pushed by this node.
func (m *Metrics) PushDelivered(challenge uuid.UUID) {
	m.mu.Lock()
	at, ok := m.issued[challenge]
	m.mu.Unlock()
	if ok {
		m.pushDelivery.Observe(time.Since(at).Seconds())
	}
}

// lockoutKinds maps the event types that lock something to the kind the metric names.
var lockoutKinds = map[string]string{
	domain.SignInLocked{}.EventType(): "signin_locked",
	domain.MFALocked{}.EventType():    "mfa_locked",
	domain.PushMuted{}.EventType():    "push_muted",
}

// LogEvent records one event of the log by its type.
func (m *Metrics) LogEvent(eventType string) {
	m.logEvents.WithLabelValues(eventType).Inc()
	if kind, ok := lockoutKinds[eventType]; ok {
		m.lockouts.WithLabelValues(kind).Inc()
	}
}

type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
