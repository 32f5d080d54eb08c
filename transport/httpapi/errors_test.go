package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
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
