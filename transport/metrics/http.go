package metrics

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// unmatched is the route label of requests that matched no route, so that scanners cannot
// grow the label set.
const unmatched = "unmatched"

// Middleware counts every request by route pattern (never the raw path), method and status,
// observes its duration, and writes one access-log line per request to log: method, route,
// path (never the query, which may carry a token), status, duration, bytes, client address
// and request ID. A 5xx is logged at ERROR with the same fields, and the error when the handler
// returned one to echo; a 429 counts as a rate-limit refusal. Register it with echo's Use, so that the route is known when it reads it.
func (m *Metrics) Middleware(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // answer now, so that the status below is the one sent
			}
			took := time.Since(start)
			req, res := c.Request(), c.Response()
			route := c.Path()
			if route == "" || res.Status == http.StatusNotFound && route == "/*" {
				route = unmatched
			}
			status := res.Status
			m.httpRequests.WithLabelValues(route, req.Method, strconv.Itoa(status)).Inc()
			m.httpDuration.WithLabelValues(route, req.Method).Observe(took.Seconds())
			if status == http.StatusTooManyRequests {
				m.rateLimited.WithLabelValues(route).Inc()
			}
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("method", req.Method),
				slog.String("route", route),
				slog.String("path", req.URL.Path),
				slog.Int("status", status),
				slog.Duration("took", took),
				slog.Int64("bytes", res.Size),
				slog.String("client", clientAddr(c)),
				slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			}
			if err != nil && status >= 500 {
				attrs = append(attrs, slog.String("err", err.Error()))
			}
			log.LogAttrs(req.Context(), level, "request", attrs...)
			return nil
		}
	}
}

// clientAddr is the address the server trusts as the client's: echo's RealIP when the server
// was told which proxies to trust (an IPExtractor), else the peer's address, never a header a
// client can set.
func clientAddr(c echo.Context) string {
	if c.Echo().IPExtractor != nil {
		return c.RealIP()
	}
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}
