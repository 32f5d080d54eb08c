package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/assent-dev/assent/admins"
	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/schemas"
	"github.com/assent-dev/assent/transport/apierror"
	"github.com/assent-dev/assent/transport/push"
	"github.com/assent-dev/assent/websession"
)

// Config wires the API to the application.
type Config struct {
	App      *app.Service
	Hub      *push.Hub
	Sessions *websession.Sessions
	Limits   RateLimits
	Log      *slog.Logger
	// Now is the clock of rate limits and sessions. Default time.Now.
	Now func() time.Time
	// PublicURL is the base of links the server hands out (enrollment links), e.g.
	// "https://auth.example.com". Default: the request's own scheme and host.
	PublicURL string
	// Audit serves the auditor's routes (see audit.go); nil leaves them out.
	Audit *Audit
	// Admins are the help desk's credentials for the routes under /v1/admin (see helpdesk.go);
	// nil leaves those routes out.
	Admins *admins.Admins
	// TrustedProxies are the networks of the reverse proxies whose X-Forwarded-For, X-Real-IP
	// and X-Forwarded-Proto are believed (see proxy.go). Empty: the client is the TCP peer.
	TrustedProxies []*net.IPNet
}

// Server is the HTTP API under /v1, on echo, described by the OpenAPI document that huma
// builds from the same code that registers the routes, so the two cannot drift.
type Server struct {
	cfg    Config
	echo   *echo.Echo
	api    huma.API
	limits struct {
		signInIP, signInAccount, codesIP, codesAccount, enrollIP, answerIP, answerDevice *limiter
	}
	// known remembers, per account and address, the last time a password check from that
	// address passed (see limitPassword).
	known *lru.Cache[string, time.Time]
}

// Bounds of the memory of addresses that signed in: how many (account, address) pairs, and
// for how long after their last successful password check.
const (
	knownSources   = 100_000
	knownSourceTTL = 30 * 24 * time.Hour
)

func init() {
	huma.NewError = newProblem
	apierror.Add(app.ErrInvalidCredentials, 401, "wrong_credentials", "The email address or the password is wrong.")
	apierror.Add(app.ErrInvalidPassword, 422, "invalid_password", "The password must have 8 to 1024 characters.")
	apierror.Add(app.ErrInvalidAnswer, 422, "invalid_answer", "The answer must be approve, deny or fraud.")
	apierror.Add(app.ErrContention, 503, "contention", "Too many changes at once to this account. Try again.")
	apierror.Add(app.ErrBusy, 503, "busy", "The server is checking too many passwords at once. Try again in a moment.")
	apierror.AddUnavailable(schemas.ErrNotAllowed, 503, "schema_not_allowed", "The deployment is being upgraded and cannot record this yet. Try again once every server is upgraded.", 30*time.Second)
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
	s.known, _ = lru.New[string, time.Time](knownSources) // only a size below 1 fails
	s.limits.signInIP = newLimiter(cfg.Limits.SignInPerIP)
	s.limits.signInAccount = newLimiter(cfg.Limits.SignInPerAccount)
	s.limits.codesIP = newLimiter(cfg.Limits.CodesPerIP)
	s.limits.codesAccount = newLimiter(cfg.Limits.CodesPerAccount)
	s.limits.enrollIP = newLimiter(cfg.Limits.EnrollmentPerIP)
	s.limits.answerIP = newLimiter(cfg.Limits.DeviceAnswerPerIP)
	s.limits.answerDevice = newLimiter(cfg.Limits.DeviceAnswerPerDevice)

	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	e.Use(middleware.RequestID())
	e.Use(middleware.BodyLimit("64K"))
	e.Use(s.securityHeaders)
	e.HTTPErrorHandler = s.echoErrors

	hc := huma.DefaultConfig("Assent", "1.0.0")
	hc.Info.Description = "Event-sourced two-factor authentication with real-time push. Every refusal is an " +
		"application/problem+json document with a stable `code` and a human `message`."
	hc.OpenAPIPath = "/v1/openapi"
	hc.DocsPath = ""    // no documentation page that loads scripts from a CDN
	hc.SchemasPath = "" // schemas are inline in the document
	hc.CreateHooks = nil
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"session": {Type: "apiKey", In: "cookie", Name: websession.SessionCookie,
			Description: "The session cookie; state-changing requests also send the header X-CSRF-Token."},
	}
	s.api = humaecho.New(e, hc)
	s.api.UseMiddleware(func(ctx huma.Context, next func(huma.Context)) {
		// Every event a request appends carries its request ID as correlation ID.
		hc := huma.WithValue(ctx, humaCtxKey{}, ctx)
		rid := humaecho.Unwrap(ctx).Response().Header().Get(echo.HeaderXRequestID)
		next(huma.WithContext(hc, app.WithCorrelationID(hc.Context(), rid)))
	})
	s.api.UseMiddleware(s.checkHandshake)
	s.registerAccounts()
	s.registerLogins()
	s.registerSecurity()
	s.registerSelfService()
	s.registerHistory()
	s.registerDevices()
	s.registerAudit()
	s.registerHelpDesk()
	s.registerErasure()
	s.documentAnswers()
	return s
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

func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		if s.secure(c.Request()) {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// fail maps an error of the application to its refusal. A refusal while a lock holds says when
// the lock ends in Retry-After, as every 429 does.
func (s *Server) fail(err error) error {
	refusal := apierror.From(s.cfg.Log, err)
	var p *apierror.Problem
	if le, ok := domain.AsLocked(err); ok && errors.As(refusal, &p) {
		return apierror.RetryAfter(p, le.RetryAfter(s.cfg.Now()))
	}
	return refusal
}

// limitPassword takes a token for a password check from the sign-in limits, per client IP and
// per account: sign-in, linking from the phone and its authorization share them, so that no
// route checks passwords outside the per-account limit. An address from which a password check
// of the account passed before (passwordPassed) has a bucket of its own for the account: many
// addresses guessing at it drain the bucket of strangers, not the owner's.
func (s *Server) limitPassword(ip, email string) error {
	if err := s.limit(s.limits.signInIP, "signin:"+ip); err != nil {
		return err
	}
	key := accountKey(email)
	if at, ok := s.known.Get(key + " " + ip); ok && s.cfg.Now().Sub(at) < knownSourceTTL {
		key += " " + ip
	}
	return s.limit(s.limits.signInAccount, key)
}

// passwordPassed remembers that a password check of the account of email passed from ip.
func (s *Server) passwordPassed(ip, email string) {
	s.known.Add(accountKey(email)+" "+ip, s.cfg.Now())
}

// accountKey names the account of email in the per-account limit and the known sources.
func accountKey(email string) string {
	return "signin:" + strings.ToLower(strings.TrimSpace(email))
}

type ctxKey int

const sessionKey ctxKey = 1

// session returns the session that requireSession put in ctx.
func session(ctx context.Context) websession.Session {
	sess, _ := ctx.Value(sessionKey).(websession.Session)
	return sess
}

// requireSession admits requests with a valid session cookie, and, for state-changing
// methods, the session's CSRF token in X-CSRF-Token.
func (s *Server) requireSession(ctx huma.Context, next func(huma.Context)) {
	c, err := huma.ReadCookie(ctx, websession.SessionCookie)
	if err != nil {
		s.writeHuma(ctx, apierror.Unauthenticated)
		return
	}
	sess, ok := s.cfg.Sessions.Check(c.Value, s.cfg.Now())
	if !ok {
		s.writeHuma(ctx, apierror.Unauthenticated)
		return
	}
	// The help desk may have ended the account's sessions (a disabling, a second-factor reset).
	st, err := s.cfg.App.Standing(ctx.Context(), sess.AccountID)
	if err != nil && !errors.Is(err, domain.ErrAccountNotFound) {
		// The server's trouble (its store), not the session's: answer so, rather than sign out.
		var p *apierror.Problem
		if !errors.As(s.fail(err), &p) {
			p = apierror.New(http.StatusServiceUnavailable, "storage_unavailable", "The server cannot read its data right now. Try again in a little while.")
		}
		s.writeHuma(ctx, p)
		return
	}
	if err != nil || !st.SessionValid(sess.Issued) {
		s.writeHuma(ctx, apierror.Unauthenticated)
		return
	}
	// After the help desk's reset of the second factor, a session is for setting up a new one:
	// every other route refuses it until then.
	var refused *apierror.Problem
	if st.EnrollmentRequired && !enrollmentRoutes[ctx.Operation().OperationID] && errors.As(s.fail(app.ErrEnrollmentRequired), &refused) {
		s.writeHuma(ctx, refused)
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
	// "Last seen" of the sessions list: at most one event per session per period, on the
	// session's own stream. A failure to record it does not fail the request.
	if err := s.cfg.App.SeeSession(ctx.Context(), sess.AccountID, sess.ID, clientIP(ctx)); err != nil && s.cfg.Log != nil {
		s.cfg.Log.Warn("session last seen not recorded", "err", err)
	}
	next(huma.WithValue(ctx, sessionKey, sess))
}

func (s *Server) writeHuma(ctx huma.Context, p *apierror.Problem) {
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(p.Status)
	_ = json.NewEncoder(ctx.BodyWriter()).Encode(p)
}

// limit takes a token from l for key, or returns the refusal with its Retry-After.
func (s *Server) limit(l *limiter, key string) error {
	if ok, wait := l.allow(key, s.cfg.Now()); !ok {
		return apierror.RetryAfter(apierror.RateLimited, wait)
	}
	return nil
}

var sessionSecurity = []map[string][]string{{"session": {}}}

// enrollmentRoutes are the operations a session that must set up a new second factor (after
// the help desk's reset) may use: its own session, the help desk's notices, and the security
// page's state and its ways to link a device or add an authenticator app. Every other
// session route answers 403 enrollment_required.
var enrollmentRoutes = map[string]bool{
	"get-session": true, "sign-out": true, "mark-notices-seen": true,
	"security": true, "security-events": true, "start-enrollment": true, "add-totp-app": true, "confirm-totp-app": true,
}
