// Package httpapi is Assent's HTTP interface on echo: it binds and validates requests, calls
// the application, and maps results and errors to responses. It holds no business rules.
package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// ReadinessCheck reports whether one part of the server is ready to serve; a nil error means
// ready. It must return quickly.
type ReadinessCheck func(ctx context.Context) error

// Health serves /healthz (the process is alive) and /readyz (every readiness check passes).
type Health struct {
	Checks map[string]ReadinessCheck
	// Notes replace the "ok" of a check that passed with what they say, when they say
	// something: a problem that leaves the node ready.
	Notes map[string]func(context.Context) string
}

// Register adds the health routes to e.
func (h Health) Register(e *echo.Echo) {
	e.GET("/healthz", h.live)
	e.GET("/readyz", h.ready)
}

type healthResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (h Health) live(c echo.Context) error {
	return c.JSON(http.StatusOK, healthResponse{Status: "ok"})
}

func (h Health) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	res := healthResponse{Status: "ready", Checks: map[string]string{}}
	code := http.StatusOK
	for name, check := range h.Checks {
		if err := check(ctx); err != nil {
			res.Checks[name] = err.Error()
			res.Status = "not ready"
			code = http.StatusServiceUnavailable
			continue
		}
		res.Checks[name] = "ok"
		if note := h.Notes[name]; note != nil {
			if msg := note(ctx); msg != "" {
				res.Checks[name] = msg
			}
		}
	}
	return c.JSON(code, res)
}
