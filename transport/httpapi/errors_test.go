package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/schemas"
	"github.com/assent-dev/assent/transport/apierror"
)

func TestEchoRefusalsAreProblems(t *testing.T) {
	t.Parallel()
	e := echo.New()
	s := &Server{cfg: Config{}, echo: e}
	e.HTTPErrorHandler = s.echoErrors
	e.GET("/v1/thing", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/v1/nothing", 404, "not_found"},
		{http.MethodPost, "/v1/thing", 405, "method_not_allowed"},
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		var p struct {
			Status  int    `json:"status"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Code != c.code || p.Message == "" {
			t.Errorf("%s %s: %d %s %s", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
	}
}

// TestApplicationErrorsAreRefusals checks how the application's own errors are told to clients:
// wrapped as the use cases wrap them, each gets its status and stable code, never a 500.
func TestApplicationErrorsAreRefusals(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{Log: slog.New(slog.DiscardHandler)}}
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{app.ErrInvalidCredentials, 401, "wrong_credentials"},
		{app.ErrInvalidPassword, 422, "invalid_password"},
		{app.ErrInvalidAnswer, 422, "invalid_answer"},
		{app.ErrContention, 503, "contention"},
		{app.ErrBusy, 503, "busy"},
		{schemas.ErrNotAllowed, 503, "schema_not_allowed"},
	} {
		var p *apierror.Problem
		if err := s.fail(fmt.Errorf("sign in: %w", c.err)); !errors.As(err, &p) || p.Status != c.status || p.Code != c.code || p.Message == "" {
			t.Errorf("%v: told as %+v, want %d %s", c.err, p, c.status, c.code)
		}
	}
}
