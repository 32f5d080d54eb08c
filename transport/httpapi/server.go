package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/transport/apierror"
	"github.com/assent-dev/assent/transport/push"
)

// Config wires the API to the application.
type Config struct {
	App      *app.Service
	Hub      *push.Hub
	Sessions *Sessions
	Limits   RateLimits
	Log      *slog.Logger
	// Now is the clock of rate limits and sessions. Default time.Now.
	Now func() time.Time
	// PublicURL is the base of links the server hands out (enrollment links), e.g.
	// "https://auth.example.com". Default: the request's own scheme and host.
	PublicURL string
	// Audit serves the auditor's routes (see audit.go); nil leaves them out.
	Audit *Audit
}

// Server is the HTTP API under /v1, on echo, described by the OpenAPI document that huma
// builds from the same code that registers the routes, so the two cannot drift.
type Server struct {
	cfg    Config
	echo   *echo.Echo
	api    huma.API
	limits struct {
		signInIP, signInAccount, codesIP, codesAccount, enrollIP, answerIP *limiter
	}
}

func init() {
	huma.NewError = newProblem
	apierror.Add(app.ErrInvalidCredentials, 401, "wrong_credentials", "The email address or the password is wrong.")
	apierror.Add(app.ErrInvalidPassword, 422, "invalid_password", "The password must have 8 to 1024 characters.")
	apierror.Add(app.ErrInvalidAnswer, 422, "invalid_answer", "The answer must be approve, deny or fraud.")
	apierror.Add(app.ErrContention, 503, "contention", "Too many changes at once to this account. Try again.")
	apierror.Add(app.ErrBusy, 503, "busy", "The server is checking too many passwords at once. Try again in a moment.")
	apierror.AddUnavailable(eventstore.ErrUnavailable, 503, "storage_unavailable", "The server cannot write its data right now. Try again in a little while.", 30*time.Second)
}

// New builds the API on e.
func New(e *echo.Echo, cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, echo: e}
	s.limits.signInIP = newLimiter(cfg.Limits.SignInPerIP)
	s.limits.signInAccount = newLimiter(cfg.Limits.SignInPerAccount)
	s.limits.codesIP = newLimiter(cfg.Limits.CodesPerIP)
	s.limits.codesAccount = newLimiter(cfg.Limits.CodesPerAccount)
	s.limits.enrollIP = newLimiter(cfg.Limits.EnrollmentPerIP)
	s.limits.answerIP = newLimiter(cfg.Limits.DeviceAnswerPerIP)

	e.Use(middleware.RequestID())
	e.Use(middleware.BodyLimit("64K"))
	e.Use(securityHeaders)
	e.HTTPErrorHandler = s.echoErrors

	hc := huma.DefaultConfig("Assent", "1.0.0")
	hc.Info.Description = "Event-sourced two-factor authentication with real-time push. Every refusal is an " +
		"application/problem+json document with a stable `code` and a human `message`."
	hc.OpenAPIPath = "/v1/openapi"
	hc.DocsPath = ""    // no documentation page that loads scripts from a CDN
	hc.SchemasPath = "" // schemas are inline in the document
	hc.CreateHooks = nil
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"session": {Type: "apiKey", In: "cookie", Name: SessionCookie,
			Description: "The session cookie; state-changing requests also send the header X-CSRF-Token."},
	}
	s.api = humaecho.New(e, hc)
	s.api.UseMiddleware(func(ctx huma.Context, next func(huma.Context)) {
		// Every event a request appends carries its request ID as correlation ID.
		hc := huma.WithValue(ctx, humaCtxKey{}, ctx)
		rid := humaecho.Unwrap(ctx).Response().Header().Get(echo.HeaderXRequestID)
		next(huma.WithContext(hc, app.WithCorrelationID(hc.Context(), rid)))
	})
	s.registerAccounts()
	s.registerLogins()
	s.registerSecurity()
	s.registerDevices()
	s.registerAudit()
	s.documentContention()
	return s
}

// documentContention adds to every operation the 503 that a command gets when its account
// changes too fast to decide (app.ErrContention) or when too many password checks wait for
// their turn (app.ErrBusy), or when the event store cannot be written (storage_unavailable),
// described like the operation's 500.
func (s *Server) documentContention() {
	for _, item := range s.api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil || op.Responses["500"] == nil || op.Responses["503"] != nil {
				continue
			}
			r := *op.Responses["500"]
			r.Description = "Service Unavailable: too many changes at once, too many password checks at once, or the server cannot write its data (codes contention, busy, storage_unavailable with Retry-After); try again."
			op.Responses["503"] = &r
		}
	}
}

// echoErrors answers in the problem format for what echo refuses before huma sees it:
// unknown routes, wrong methods, bodies too large.
func (s *Server) echoErrors(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	msg := "Something went wrong on our side. Please try again."
	if he, ok := err.(*echo.HTTPError); ok {
		status = he.Code
		switch status {
		case http.StatusNotFound:
			msg = "There is nothing at this address."
		case http.StatusMethodNotAllowed:
			msg = "This address does not take that method."
		case http.StatusRequestEntityTooLarge:
			msg = "The request body is too large."
		default:
			msg = http.StatusText(status)
		}
	} else {
		s.cfg.Log.Error("request failed", "err", err)
	}
	writeProblem(c.Response(), apierror.New(status, apierror.CodeForStatus(status), msg))
}

func writeProblem(w http.ResponseWriter, p *apierror.Problem) {
	for k, vs := range p.GetHeaders() {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// fail maps an error of the application to its refusal.
func (s *Server) fail(err error) error { return apierror.From(s.cfg.Log, err) }

type ctxKey int

const sessionKey ctxKey = 1

// session returns the session that requireSession put in ctx.
func session(ctx context.Context) Session {
	sess, _ := ctx.Value(sessionKey).(Session)
	return sess
}

// requireSession admits requests with a valid session cookie, and, for state-changing
// methods, the session's CSRF token in X-CSRF-Token.
func (s *Server) requireSession(ctx huma.Context, next func(huma.Context)) {
	c, err := huma.ReadCookie(ctx, SessionCookie)
	if err != nil {
		s.writeHuma(ctx, apierror.Unauthenticated)
		return
	}
	sess, ok := s.cfg.Sessions.Check(c.Value, s.cfg.Now())
	if !ok {
		s.writeHuma(ctx, apierror.Unauthenticated)
		return
	}
	switch ctx.Method() {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !s.cfg.Sessions.CheckCSRF(sess, ctx.Header("X-CSRF-Token")) {
			s.writeHuma(ctx, apierror.CSRFFailed)
			return
		}
	}
	next(huma.WithValue(ctx, sessionKey, sess))
}

func (s *Server) writeHuma(ctx huma.Context, p *apierror.Problem) {
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(p.Status)
	_ = json.NewEncoder(ctx.BodyWriter()).Encode(p)
}

// clientIP is the peer's address. Assent trusts no forwarding header: put it behind a proxy
// that connects from a known address and rate-limit there too.
func clientIP(ctx huma.Context) string {
	host, _, err := net.SplitHostPort(ctx.RemoteAddr())
	if err != nil {
		return ctx.RemoteAddr()
	}
	return host
}

// limit takes a token from l for key, or returns the refusal with its Retry-After.
func (s *Server) limit(l *limiter, key string) error {
	if ok, wait := l.allow(key, s.cfg.Now()); !ok {
		return apierror.RetryAfter(apierror.RateLimited, wait)
	}
	return nil
}

func isTLS(ctx huma.Context) bool { return ctx.TLS() != nil }

var sessionSecurity = []map[string][]string{{"session": {}}}
