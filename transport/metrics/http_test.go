package metrics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/assent-dev/assent/transport/metrics"
)

// TestMiddlewareLogsA500WithRouteAndRequestID: a handler that fails answers 500, and the
// access log has it at ERROR with the route pattern, the path without its query, and the
// request ID the client got.
func TestMiddlewareLogsA500WithRouteAndRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	m := metrics.New()
	e := echo.New()
	e.Use(m.Middleware(slog.New(slog.NewJSONHandler(&buf, nil))))
	e.Use(middleware.RequestID())
	e.GET("/v1/things/:id", func(echo.Context) error { return errors.New("disk on fire") })
	srv := httptest.NewServer(e)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/v1/things/42?token=abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	rid := resp.Header.Get(echo.HeaderXRequestID)
	if line["level"] != "ERROR" || line["route"] != "/v1/things/:id" || line["path"] != "/v1/things/42" ||
		line["status"] != float64(500) || rid == "" || line["request_id"] != rid || line["err"] != "disk on fire" {
		t.Fatalf("log line %v (request ID %q)", line, rid)
	}
	if strings.Contains(buf.String(), "abc") {
		t.Fatalf("the query string is in the log: %s", buf.String())
	}
	if got := testutil.CollectAndCount(m.Registry(), "assent_http_requests_total"); got != 1 {
		t.Fatalf("request series: %d", got)
	}
}
