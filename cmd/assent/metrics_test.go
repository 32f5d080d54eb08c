package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
)

// scrape reads /metrics over HTTP and returns its families by name.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels include want (a counter's
// or gauge's value, a histogram's count), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsMoveWithRealTraffic: after real sign-ups, sign-ins, a push answered "this wasn't
// me", a rate-limited burst and a request to nowhere, the separate /metrics listener shows
// each of them, labelled by route pattern and never by raw path; the main listener does not
// serve /metrics; every request has its access-log line, with its request ID and without its
// query string.
func TestMetricsMoveWithRealTraffic(t *testing.T) {
	t.Parallel()
	n, logs, _ := startLoggedNode(t, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
	maddr := n.srv.metrics.addr()
	if maddr == "" {
		t.Fatal("no metrics listener")
	}
	ctx := ctxT(t)
	before := scrape(t, maddr)
	if v, _ := value(before, "assent_store_appends_total", nil); v != 0 {
		t.Fatalf("appends before any traffic: %v", v)
	}

	b := n.account(t, "grace@example.com")
	p := newPhone(t, "phone")
	link(t, n, b, p)
	p.connect(t, n)
	browser, si := signIn(t, n, "grace@example.com")
	r := recv(t, p.requests, "challenge")
	if err := p.sock.Answer(ctx, r, domain.AnswerFraud, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := browser.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken); st.Status != "fraud_reported" {
		t.Fatalf("after fraud: %+v", st)
	}
	// Wrong passwords past the limit: refused with 429.
	limited := false
	for range 15 {
		resp, err := http.Post(n.url+"/v1/sessions", "application/json", strings.NewReader(`{"email":"grace@example.com","password":"wrong password"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		limited = limited || resp.StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("no sign-in was rate-limited")
	}
	for _, path := range []string{"/metrics", "/nowhere/" + strings.Repeat("x", 10), "/enroll?token=secret-token-value"} {
		resp, err := http.Get(n.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if path == "/metrics" && resp.StatusCode != http.StatusNotFound {
			t.Errorf("the API's listener serves /metrics: %d", resp.StatusCode)
		}
	}

	var after map[string]*dto.MetricFamily
	deadline := time.Now().Add(20 * time.Second)
	for {
		after = scrape(t, maddr)
		d, _ := value(after, "assent_push_delivery_seconds", nil)
		l, _ := value(after, "assent_lockouts_total", map[string]string{"kind": "push_muted"})
		if d >= 1 && l >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	atLeast := func(name string, labels map[string]string, min float64) {
		t.Helper()
		v, ok := value(after, name, labels)
		if !ok || v < min {
			t.Errorf("%s%v = %v (present %v), want at least %v", name, labels, v, ok, min)
		}
	}
	atLeast("assent_http_requests_total", map[string]string{"route": "/v1/accounts", "method": "POST", "status": "201"}, 1)
	atLeast("assent_http_requests_total", map[string]string{"route": "/v1/logins/:id", "method": "GET", "status": "200"}, 1)
	atLeast("assent_http_requests_total", map[string]string{"route": "unmatched", "status": "404"}, 1)
	atLeast("assent_http_request_duration_seconds", map[string]string{"route": "/v1/sessions", "method": "POST"}, 15)
	atLeast("assent_rate_limit_refusals_total", map[string]string{"route": "/v1/sessions"}, 1)
	atLeast("assent_device_sockets", nil, 1)
	atLeast("assent_push_sent_total", nil, 1)
	atLeast("assent_push_delivery_seconds", nil, 1)
	atLeast("assent_lockouts_total", map[string]string{"kind": "push_muted"}, 1)
	atLeast("assent_log_events_total", map[string]string{"type": "challenge.issued"}, 1)
	atLeast("assent_store_appends_total", nil, 5)
	atLeast("assent_store_events_total", nil, 5)
	atLeast("assent_store_commit_seconds", nil, 1)
	atLeast("assent_store_fsync_seconds", nil, 1)
	atLeast("assent_store_events_per_commit", nil, 1)
	atLeast("assent_password_checks_capacity", nil, 1)
	atLeast("assent_log_head_position", nil, 5)
	atLeast("go_goroutines", nil, 1)
	for _, proj := range []string{"accounts", "devices", "pending", "challenges", "signouts"} {
		if _, ok := value(after, "assent_projection_lag_events", map[string]string{"projection": proj}); !ok {
			t.Errorf("no read-model lag for %s", proj)
		}
	}
	if v, ok := value(after, "assent_login_waiters", nil); !ok || v != 0 {
		t.Errorf("login waiters after every page got its answer: %v %v", v, ok)
	}
	uuidish := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-`)
	for _, m := range after["assent_http_requests_total"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "route" && (uuidish.MatchString(l.GetValue()) || strings.Contains(l.GetValue(), "nowhere")) {
				t.Errorf("a route label holds a raw path: %q", l.GetValue())
			}
		}
	}

	// The access log: a line per request, with its route, status and request ID, and no
	// query string anywhere.
	var lines int
	for _, r := range logs.records() {
		if r.Msg != "request" {
			continue
		}
		lines++
		if r.Attrs["request_id"] == "" || r.Attrs["route"] == "" || r.Attrs["status"] == "" {
			t.Errorf("access-log line without request ID, route or status: %v", r.Attrs)
		}
		if strings.Contains(fmt.Sprint(r.Attrs), "secret-token-value") {
			t.Errorf("the access log holds a query string: %v", r.Attrs)
		}
		if r.Level != slog.LevelInfo {
			t.Errorf("access-log line at %s: %v", r.Level, r.Attrs)
		}
	}
	var requests float64
	for _, m := range after["assent_http_requests_total"].GetMetric() {
		requests += m.Counter.GetValue()
	}
	if requests < 20 || float64(lines) != requests {
		t.Errorf("%d access-log lines for %v requests counted", lines, requests)
	}
}
