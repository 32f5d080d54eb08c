// Package duoapi serves Duo's Auth API v2 under /auth/v2, so that applications built on Duo's
// clients ask Assent for a second factor: it checks Duo's request signatures, binds the
// parameters, calls the application services and answers in Duo's JSON envelope.
package duoapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
)

// Config wires the Auth API. Zero fields take their defaults.
type Config struct {
	App Users
	// Hub tells the outcomes of challenges, which auth and auth_status await.
	Hub Outcomes
	// Now is the clock that request dates are checked against. Default time.Now.
	Now func() time.Time
	// MaxSkew is how far a request's date may be from Now, either way. Default 5 minutes.
	MaxSkew time.Duration
	// PublicURL is the base of the links the API hands out and its host one a client behind a
	// proxy may have signed instead of the Host it reached. Default: each request's origin.
	PublicURL string
	// StatusHold is how long auth_status holds a pending transaction. Default DefaultStatusHold.
	StatusHold time.Duration
	Log        *slog.Logger
}

// DefaultMaxSkew is the default window of request dates.
const DefaultMaxSkew = 5 * time.Minute

// Server serves the Auth API.
type Server struct {
	cfg        Config
	logo       []byte
	publicHost string
	draining   chan struct{} // closed by Drain
	drainOnce  sync.Once
}

// Drain ends the requests the API holds (auth awaiting a device, auth_status long polls) at
// once, so that a graceful shutdown does not wait for them: auth_status answers "waiting"
// (the application polls again, another node answers), a synchronous auth answers 50301. Give
// it to http.Server.RegisterOnShutdown.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// hold returns ctx ended also by Drain.
func (s *Server) hold(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.draining:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Register adds the Auth API's routes to e: every path under /auth answers in Duo's envelope,
// an unknown one included.
func Register(e *echo.Echo, cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.StatusHold == 0 {
		cfg.StatusHold = DefaultStatusHold
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, logo: drawLogo(), draining: make(chan struct{})}
	if u, err := url.Parse(cfg.PublicURL); err == nil {
		s.publicHost = u.Host
	}
	s.registerAuth(e)
	s.registerLegacy(e)
	e.Any("/auth/v2/ping", s.method(s.ping, http.MethodGet, http.MethodPost))
	e.Any("/auth/v2/check", s.method(s.signed(s.check), http.MethodGet, http.MethodPost))
	e.Any("/auth/v2/logo", s.method(s.signed(s.serveLogo), http.MethodGet))
	e.Any("/auth/*", func(c echo.Context) error { return fail(c, codeNotFound, "Resource not found", "") })
	e.Any("/auth", func(c echo.Context) error { return fail(c, codeNotFound, "Resource not found", "") })
	return s
}

// Duo's error codes: the HTTP status times 100 plus a number.
const (
	codeMissingParams    = 40001
	codeInvalidParams    = 40002
	codeUnauthorized     = 40101
	codeForbidden        = 40301
	codeNotFound         = 40401
	codeMethodNotAllowed = 40501
	codeInternal         = 50001
	codeUnavailable      = 50301
)

// answerWithin moves the connection's write deadline to a little after now before an answer is
// written: a synchronous auth and a held auth_status wait up to the challenge's two minutes,
// longer than the server's write timeout, which counts from the request's arrival.
func answerWithin(c echo.Context) {
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(30 * time.Second))
}

// ok answers {"stat":"OK","response":response}.
func ok(c echo.Context, response any) error {
	answerWithin(c)
	return c.JSON(http.StatusOK, map[string]any{"stat": "OK", "response": response})
}

// failure is Duo's refusal envelope.
type failure struct {
	Stat          string `json:"stat"`
	Code          int    `json:"code"`
	Message       string `json:"message"`
	MessageDetail string `json:"message_detail,omitempty"`
}

// fail answers Duo's refusal with code, whose HTTP status is code/100.
func fail(c echo.Context, code int, message, detail string) error {
	answerWithin(c)
	return c.JSON(code/100, failure{Stat: "FAIL", Code: code, Message: message, MessageDetail: detail})
}

// method refuses, in Duo's envelope, a method the route does not take.
func (s *Server) method(h echo.HandlerFunc, methods ...string) echo.HandlerFunc {
	return func(c echo.Context) error {
		for _, m := range methods {
			if c.Request().Method == m {
				return h(c)
			}
		}
		return fail(c, codeMethodNotAllowed, "Method not allowed", c.Request().Method)
	}
}

// request is a signed request as a handler sees it: its integration and its parameters.
type request struct {
	integration app.Integration
	params      url.Values
}

const requestKey = "duoapi.request"

func req(c echo.Context) *request { r, _ := c.Get(requestKey).(*request); return r }

// signed checks a request's credentials, signature, date and integration before h: every
// refusal is Duo's 40101 (40301 for a disabled integration), with nothing changed.
func (s *Server) signed(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return fail(c, codeInvalidParams, "Invalid request parameters", "the body could not be read")
		}
		sr := signedRequest{method: r.Method, hosts: hostsOf(r.Host, s.publicHost), path: r.URL.Path}
		var params url.Values
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch {
		case ct == "application/json" && len(body) > 0:
			sr.json, sr.body = true, body
			if params, err = jsonParams(body); err != nil {
				return fail(c, codeInvalidParams, "Invalid request parameters", err.Error())
			}
			// A JSON request's query is signed as parameters as well.
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				return fail(c, codeInvalidParams, "Invalid request parameters", "the query is not valid")
			}
			if len(q) > 0 {
				return fail(c, codeInvalidParams, "Invalid request parameters", "a JSON body and a query together")
			}
		case r.Method == http.MethodGet || r.Method == http.MethodDelete:
			if params, err = url.ParseQuery(r.URL.RawQuery); err != nil {
				return fail(c, codeInvalidParams, "Invalid request parameters", "the query is not valid")
			}
		default:
			// Form bodies arrive with + for spaces while the signature uses %20: decode, then
			// canonicalize again, rather than sign the raw body.
			if params, err = url.ParseQuery(string(body)); err != nil {
				return fail(c, codeInvalidParams, "Invalid request parameters", "the form body is not valid")
			}
		}
		sr.params = params

		ikey, sig, err := credentials(r.Header.Get("Authorization"))
		if err != nil {
			return fail(c, codeUnauthorized, "Missing request credentials", "")
		}
		key, err := domain.ParseIntegrationKey(ikey)
		if err != nil {
			return fail(c, codeUnauthorized, "Invalid integration key in request credentials", "")
		}
		integ, err := s.cfg.App.Integration(r.Context(), key)
		if errors.Is(err, domain.ErrIntegrationNotFound) {
			return fail(c, codeUnauthorized, "Invalid integration key in request credentials", "")
		}
		if err != nil {
			return s.internal(c, err)
		}
		rawDate := r.Header.Get("X-Duo-Date")
		if rawDate == "" {
			rawDate = r.Header.Get("Date")
		}
		if rawDate == "" {
			return fail(c, codeUnauthorized, "Missing request date", "send the Date or X-Duo-Date header")
		}
		if err := sr.verify(integ.Secret, rawDate, sig); err != nil {
			return fail(c, codeUnauthorized, "Invalid signature in request credentials", "")
		}
		date, err := parseDate(rawDate)
		if err != nil {
			return fail(c, codeUnauthorized, "Invalid request date", "the date must be RFC 2822, e.g. 'Tue, 21 Aug 2012 17:29:18 -0000'")
		}
		if d := s.cfg.Now().Sub(date); d > s.cfg.MaxSkew || d < -s.cfg.MaxSkew {
			return fail(c, codeUnauthorized, "Request date outside the allowed window", "the client's clock must be within "+s.cfg.MaxSkew.String()+" of the server's")
		}
		if integ.Disabled {
			return fail(c, codeForbidden, "Access forbidden", "the integration is disabled")
		}
		c.Set(requestKey, &request{integration: integ, params: params})
		return h(c)
	}
}

// jsonParams reads a v5 JSON body: an object whose values are strings, as Duo's clients send.
func jsonParams(body []byte) (url.Values, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, errors.New("the JSON body must be an object")
	}
	out := url.Values{}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("every value of the JSON body must be a string: " + k)
		}
		out.Set(k, s)
	}
	return out, nil
}

// internal answers a failure of the server itself (the store, the keyring): the error is
// logged, never sent.
func (s *Server) internal(c echo.Context, err error) error {
	s.cfg.Log.Error("auth api", "path", c.Request().URL.Path, "err", err)
	return fail(c, codeInternal, "Internal server error", "")
}

func (s *Server) ping(c echo.Context) error {
	return ok(c, map[string]int64{"time": s.cfg.Now().Unix()})
}

func (s *Server) check(c echo.Context) error {
	return ok(c, map[string]int64{"time": s.cfg.Now().Unix()})
}

func (s *Server) serveLogo(c echo.Context) error {
	return c.Blob(http.StatusOK, "image/png", s.logo)
}
