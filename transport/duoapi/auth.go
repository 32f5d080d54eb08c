package duoapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push"
)

// Users is what the calls about users need of the application; *app.Service has it.
type Users interface {
	Integration(ctx context.Context, key domain.IntegrationKey) (app.Integration, error)
	IntegrationUser(ctx context.Context, key domain.IntegrationKey, id uuid.UUID) (app.IntegrationUser, error)
	EnsureIntegrationUser(ctx context.Context, key domain.IntegrationKey, username string) (app.IntegrationUser, bool, error)
	EnrollIntegrationUser(ctx context.Context, key domain.IntegrationKey, username string, validFor time.Duration) (app.IntegrationEnrollment, error)
	IntegrationEnrollmentStatus(ctx context.Context, key domain.IntegrationKey, id uuid.UUID, token string) (string, error)
	IssueIntegrationChallenge(ctx context.Context, key domain.IntegrationKey, id uuid.UUID, req app.IntegrationAuth) (app.IssuedChallenge, error)
	CheckIntegrationPasscode(ctx context.Context, key domain.IntegrationKey, id uuid.UUID, req app.IntegrationAuth) (uuid.UUID, error)
	IntegrationChallenge(ctx context.Context, key domain.IntegrationKey, id uuid.UUID) (*domain.Challenge, error)
}

var _ Users = (*app.Service)(nil)

// Outcomes is how the API hears of a challenge's outcome as it reaches the log; *push.Hub
// has it. Await must be called before the challenge is read, so that an outcome landing
// between the read and the wait is not missed.
type Outcomes interface {
	Await(challenge uuid.UUID) (outcome <-chan push.Outcome, stop func())
}

var _ Outcomes = (*push.Hub)(nil)

// Bounds of the calls' parameters and waits.
const (
	defaultEnrollValid = 24 * time.Hour // Duo's default valid_secs
	maxEnrollValid     = 24 * time.Hour
	minEnrollValid     = 30 * time.Second
	// DefaultStatusHold is how long auth_status holds a request while the answer is pending.
	DefaultStatusHold = 25 * time.Second
)

func (s *Server) registerAuth(e *echo.Echo) {
	both := []string{http.MethodGet, http.MethodPost}
	e.Any("/auth/v2/enroll", s.method(s.signed(s.enroll), both...))
	e.Any("/auth/v2/enroll_status", s.method(s.signed(s.enrollStatus), both...))
	e.Any("/auth/v2/preauth", s.method(s.signed(s.preauth), both...))
	e.Any("/auth/v2/auth", s.method(s.signed(s.auth), both...))
	e.Any("/auth/v2/auth_status", s.method(s.signed(s.authStatus), both...))
	e.GET("/auth/v2/enroll_qr", s.enrollQR)
}

// baseURL is the base of the links the API hands out: the public URL, else the request's origin.
func (s *Server) baseURL(c echo.Context) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if c.Request().TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request().Host
}

// enrollmentLink is the link a device opens to enroll: the same as Assent's security page's.
func (s *Server) enrollmentLink(c echo.Context, token string) string {
	return s.baseURL(c) + "/enroll?token=" + url.QueryEscape(token)
}

func (s *Server) enroll(c echo.Context) error {
	r := req(c)
	valid := defaultEnrollValid
	if v := r.params.Get("valid_secs"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || time.Duration(n)*time.Second < minEnrollValid || time.Duration(n)*time.Second > maxEnrollValid {
			return fail(c, codeInvalidParams, "Invalid request parameters", "valid_secs must be from 30 to 86400")
		}
		valid = time.Duration(n) * time.Second
	}
	username := r.params.Get("username")
	if username != "" && !domain.ValidUsername(username) {
		return fail(c, codeInvalidParams, "Invalid request parameters", "username")
	}
	en, err := s.cfg.App.EnrollIntegrationUser(c.Request().Context(), r.integration.Key, username, valid)
	switch {
	case errors.Is(err, app.ErrUserHasDevice):
		return fail(c, codeInvalidParams, "Invalid request parameters", "username already exists and has a device")
	case err != nil:
		return s.internal(c, err)
	}
	link := s.enrollmentLink(c, en.Token)
	return ok(c, map[string]any{
		"activation_barcode": s.baseURL(c) + "/auth/v2/enroll_qr?token=" + url.QueryEscape(en.Token),
		"activation_code":    link,
		"activation_url":     link,
		"expiration":         en.ExpiresAt.Unix(),
		"user_id":            en.User.ID.String(),
		"username":           en.User.Username,
	})
}

// enrollQR answers the QR code of an enrollment link as a PNG: the activation_barcode that the
// application shows. It is unsigned, as an image URL is fetched by a browser; it draws only
// Assent's own enrollment links.
func (s *Server) enrollQR(c echo.Context) error {
	token := c.QueryParam("token")
	if _, err := domain.ParseEnrollmentToken(token); err != nil {
		return fail(c, codeInvalidParams, "Invalid request parameters", "token")
	}
	png, err := qrcode.Encode(s.enrollmentLink(c, token), qrcode.Medium, 320)
	if err != nil {
		return s.internal(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "image/png", png)
}

// tokenOf accepts an activation code as enroll answered it (the enrollment link) or its token.
func tokenOf(code string) string {
	if u, err := url.Parse(code); err == nil && u.Query().Get("token") != "" {
		return u.Query().Get("token")
	}
	return code
}

func (s *Server) enrollStatus(c echo.Context) error {
	r := req(c)
	id, err := uuid.Parse(r.params.Get("user_id"))
	if err != nil {
		return fail(c, codeInvalidParams, "Invalid request parameters", "user_id")
	}
	code := r.params.Get("activation_code")
	if code == "" {
		return fail(c, codeMissingParams, "Missing required request parameters", "activation_code")
	}
	st, err := s.cfg.App.IntegrationEnrollmentStatus(c.Request().Context(), r.integration.Key, id, tokenOf(code))
	if err != nil {
		return s.internal(c, err)
	}
	return ok(c, st)
}

// user finds the user of a call by user_id or username; create makes a new username a user
// (preauth), otherwise an unknown one is refused. It writes the refusal itself when ok is false.
func (s *Server) user(c echo.Context, create bool) (u app.IntegrationUser, found bool, err error) {
	r := req(c)
	ctx := c.Request().Context()
	id, name := r.params.Get("user_id"), r.params.Get("username")
	switch {
	case id != "" && name != "":
		return u, false, fail(c, codeInvalidParams, "Invalid request parameters", "give user_id or username, not both")
	case id != "":
		uid, perr := uuid.Parse(id)
		if perr != nil {
			return u, false, fail(c, codeInvalidParams, "Invalid request parameters", "user_id")
		}
		u, err = s.cfg.App.IntegrationUser(ctx, r.integration.Key, uid)
		if errors.Is(err, domain.ErrAccountNotFound) {
			return u, false, fail(c, codeInvalidParams, "Invalid request parameters", "user_id")
		}
	case name != "":
		if !domain.ValidUsername(name) {
			return u, false, fail(c, codeInvalidParams, "Invalid request parameters", "username")
		}
		if create {
			u, _, err = s.cfg.App.EnsureIntegrationUser(ctx, r.integration.Key, name)
		} else {
			u, err = s.cfg.App.IntegrationUser(ctx, r.integration.Key, app.IntegrationUserID(r.integration.Key, name))
			if errors.Is(err, domain.ErrAccountNotFound) {
				return u, false, fail(c, codeInvalidParams, "Invalid request parameters", "username")
			}
		}
	default:
		return u, false, fail(c, codeMissingParams, "Missing required request parameters", "user_id or username")
	}
	if err != nil {
		return u, false, s.internal(c, err)
	}
	return u, true, nil
}

func (s *Server) preauth(c echo.Context) error {
	if ip := req(c).params.Get("ipaddr"); ip != "" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fail(c, codeInvalidParams, "Invalid request parameters", "ipaddr")
		}
	}
	u, found, err := s.user(c, true)
	if !found {
		return err
	}
	switch {
	case u.Disabled:
		return ok(c, map[string]any{"result": "deny", "status_msg": answerDisabled["status_msg"]})
	case u.Locked:
		return ok(c, map[string]any{"result": "deny", "status_msg": "Your second factor is locked after too many failures. Try again later."})
	case len(u.Devices) == 0 && len(u.TOTPApps) == 0:
		return ok(c, map[string]any{"result": "enroll", "status_msg": "Enroll an authentication device to proceed", "enroll_portal_url": ""})
	}
	devices := make([]map[string]any, 0, len(u.Devices)+len(u.TOTPApps))
	for _, d := range u.Devices {
		devices = append(devices, map[string]any{
			"device": d.DeviceID.String(), "type": "phone", "name": d.Name, "display_name": d.Name, "number": "",
			"capabilities": []string{"auto", "push", "mobile_otp"},
		})
	}
	// An authenticator app is Duo's "token": it makes passcodes and takes no push.
	for _, a := range u.TOTPApps {
		devices = append(devices, map[string]any{
			"device": a.AppID.String(), "type": "token", "name": a.Name, "display_name": a.Name, "number": "",
			"capabilities": []string{"mobile_otp"},
		})
	}
	return ok(c, map[string]any{"result": "auth", "status_msg": "Account is active", "devices": devices})
}

// pushInfo parses Duo's pushinfo: URL-encoded key=value pairs, in the order given.
func pushInfo(s string) ([]domain.PushInfoItem, error) {
	var out []domain.PushInfoItem
	for part := range strings.SplitSeq(s, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		out = append(out, domain.PushInfoItem{Key: key, Value: val})
	}
	return out, nil
}

// authContext builds the login context a push shows from the call's parameters.
func (s *Server) authContext(c echo.Context) (domain.LoginContext, string, bool) {
	r := req(c)
	lc := domain.LoginContext{App: r.integration.Name, Type: r.params.Get("type"), DisplayName: r.params.Get("display_username")}
	if ip := r.params.Get("ipaddr"); ip != "" {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return lc, "ipaddr", false
		}
		lc.IP = addr.Unmap().String()
	}
	if p := r.params.Get("pushinfo"); p != "" {
		items, err := pushInfo(p)
		if err != nil {
			return lc, "pushinfo", false
		}
		lc.PushInfo = items
	}
	return lc, "", true
}

// Duo's answers to an authentication.
var (
	answerAllow    = map[string]string{"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."}
	answerDeny     = map[string]string{"result": "deny", "status": "deny", "status_msg": "Login request denied."}
	answerFraud    = map[string]string{"result": "deny", "status": "fraud", "status_msg": "Login request reported as fraudulent."}
	answerTimeout  = map[string]string{"result": "deny", "status": "timeout", "status_msg": "Login request timed out."}
	answerReplaced = map[string]string{"result": "deny", "status": "deny", "status_msg": "Login request cancelled: a newer request replaced it."}
	answerLocked   = map[string]string{"result": "deny", "status": "locked_out", "status_msg": "Your second factor is locked after too many failures. Try again later."}
	answerBadCode  = map[string]string{"result": "deny", "status": "deny", "status_msg": "Incorrect passcode. Please try again."}
	answerMuted    = map[string]string{"result": "deny", "status": "deny", "status_msg": "Pushes are paused after a fraud report. Use a passcode."}
	answerDisabled = map[string]string{"result": "deny", "status": "deny", "status_msg": "This account is disabled. Contact your help desk."}
	answerWaiting  = map[string]string{"result": "waiting", "status": "pushed", "status_msg": "Pushed a login request to your device..."}
)

// answerOf maps a challenge's outcome, as the hub tells it, to Duo's answer.
func answerOf(o push.Outcome) map[string]string { return answerOfOutcome(o.Result()) }

// answerOfChallenge maps the outcome of a decided challenge, as its stream tells it, to Duo's
// answer: the same as answerOf.
func answerOfChallenge(c *domain.Challenge) map[string]string { return answerOfOutcome(c.Outcome()) }

// answerOfOutcome is Duo's answer to a challenge that ended with o: the one place a domain
// outcome becomes Duo's result and status.
func answerOfOutcome(o domain.Outcome) map[string]string {
	switch {
	case o.Passed():
		return answerAllow
	case o == domain.OutcomeFraudReported:
		return answerFraud
	case o == domain.OutcomeExpired:
		return answerTimeout
	case o == domain.OutcomeCancelled:
		return answerReplaced
	}
	return answerDeny
}

// awaitOutcome answers the outcome of challenge id of the integration key: at once when its
// stream holds one, else when the hub hears of it, or nil when ctx ends first. The challenge
// is read from its stream, not from a read model, so the answer never waits for the read
// models to fold what this node wrote (they lag under load, and an answer needs none of
// them); the hub is asked first, so that an outcome landing between the read and the wait is
// not missed. It returns domain.ErrChallengeNotFound for a challenge of another integration.
func (s *Server) awaitOutcome(ctx context.Context, key domain.IntegrationKey, id uuid.UUID) (map[string]string, *domain.Challenge, error) {
	ch, stop := s.cfg.Hub.Await(id)
	defer stop()
	c, err := s.cfg.App.IntegrationChallenge(ctx, key, id)
	if err != nil {
		return nil, nil, err
	}
	if !c.Outcome().IsZero() {
		return answerOfChallenge(c), c, nil
	}
	select {
	case o := <-ch:
		return answerOf(o), c, nil
	case <-ctx.Done():
		return nil, c, nil
	}
}

func (s *Server) auth(c echo.Context) error {
	r := req(c)
	factor := r.params.Get("factor")
	switch factor {
	case "":
		return fail(c, codeMissingParams, "Missing required request parameters", "factor")
	case "phone", "sms":
		return fail(c, codeInvalidParams, "Invalid request parameters", "factor: Assent places no phone calls and sends no text messages; use push or passcode")
	case "auto", "push", "passcode":
	default:
		return fail(c, codeInvalidParams, "Invalid request parameters", "factor")
	}
	async := r.params.Get("async")
	if async != "" && async != "0" && async != "1" {
		return fail(c, codeInvalidParams, "Invalid request parameters", "async")
	}
	lc, bad, good := s.authContext(c)
	if !good {
		return fail(c, codeInvalidParams, "Invalid request parameters", bad)
	}
	req := app.IntegrationAuth{Context: lc, NumberMatching: r.integration.NumberMatching}
	if req.NumberMatching && factor != "passcode" && async != "1" {
		// The application must show the number before the device asks for it.
		return fail(c, codeInvalidParams, "Invalid request parameters", "async: this integration matches numbers; ask with async=1 and show the answer's number")
	}
	if factor == "passcode" {
		if req.Passcode = r.params.Get("passcode"); req.Passcode == "" {
			return fail(c, codeMissingParams, "Missing required request parameters", "passcode")
		}
	} else if d := r.params.Get("device"); d != "" && d != "auto" {
		id, err := uuid.Parse(d)
		if err != nil {
			return fail(c, codeInvalidParams, "Invalid request parameters", "device")
		}
		req.Device = id
	}
	u, found, err := s.user(c, false)
	if !found {
		return err
	}
	ctx := c.Request().Context()
	key := r.integration.Key
	if factor == "passcode" {
		_, err := s.cfg.App.CheckIntegrationPasscode(ctx, key, u.ID, req)
		switch {
		case err == nil:
			return ok(c, answerAllow)
		case errors.Is(err, domain.ErrLocked):
			return ok(c, answerLocked)
		case errors.Is(err, domain.ErrAccountDisabled):
			return ok(c, answerDisabled)
		case errors.Is(err, domain.ErrWrongCode), errors.Is(err, domain.ErrCodeReused), errors.Is(err, domain.ErrNoBackupSet),
			errors.Is(err, domain.ErrMFANotEnabled):
			return ok(c, answerBadCode)
		case errors.Is(err, domain.ErrInvalidCommand):
			return fail(c, codeInvalidParams, "Invalid request parameters", "the context is too large")
		}
		return s.internal(c, err)
	}
	ic, err := s.cfg.App.IssueIntegrationChallenge(ctx, key, u.ID, req)
	switch {
	case errors.Is(err, domain.ErrLocked):
		return ok(c, answerLocked)
	case errors.Is(err, domain.ErrAccountDisabled):
		return ok(c, answerDisabled)
	case errors.Is(err, app.ErrNoDevice), errors.Is(err, domain.ErrMFANotEnabled):
		return fail(c, codeInvalidParams, "Invalid request parameters", "the user has no device: enroll one first")
	case errors.Is(err, domain.ErrDeviceNotLinked):
		return fail(c, codeInvalidParams, "Invalid request parameters", "device")
	case errors.Is(err, domain.ErrInvalidCommand):
		return fail(c, codeInvalidParams, "Invalid request parameters", "type, display_username or pushinfo is too large")
	case err != nil:
		return s.internal(c, err)
	}
	if ic.PushMuted {
		// No device was asked: say so now rather than wait for the expiry.
		return ok(c, answerMuted)
	}
	if async == "1" {
		if req.NumberMatching {
			return ok(c, map[string]string{"txid": ic.ID.String(), "number": fmt.Sprintf("%02d", ic.Number)})
		}
		return ok(c, map[string]string{"txid": ic.ID.String()})
	}
	// A synchronous auth holds the request until the device answers or the challenge expires
	// (the sweeper records the expiry within a second or two of it).
	hctx, stop := s.hold(ctx)
	defer stop()
	wctx, cancel := context.WithDeadline(hctx, ic.ExpiresAt.Add(5*time.Second))
	defer cancel()
	ans, _, err := s.awaitOutcome(wctx, key, ic.ID)
	switch {
	case ans != nil:
		return ok(c, ans)
	case ctx.Err() != nil:
		return nil // the client went away
	case err != nil && wctx.Err() == nil:
		return s.internal(c, err)
	case hctx.Err() != nil:
		return fail(c, codeUnavailable, "Service unavailable", "the server is shutting down; ask again")
	}
	return ok(c, answerTimeout)
}

func (s *Server) authStatus(c echo.Context) error {
	r := req(c)
	id, err := uuid.Parse(r.params.Get("txid"))
	if err != nil {
		return fail(c, codeInvalidParams, "Invalid request parameters", "txid")
	}
	ctx := c.Request().Context()
	// Long poll: hold while the answer is pending, then say "waiting".
	hctx, stop := s.hold(ctx)
	defer stop()
	wctx, cancel := context.WithTimeout(hctx, s.cfg.StatusHold)
	defer cancel()
	ans, _, err := s.awaitOutcome(wctx, r.integration.Key, id)
	switch {
	case errors.Is(err, domain.ErrChallengeNotFound):
		return fail(c, codeInvalidParams, "Invalid request parameters", "txid")
	case ans != nil:
		return ok(c, ans)
	case ctx.Err() != nil:
		return nil
	case err != nil && wctx.Err() == nil:
		return s.internal(c, err)
	}
	return ok(c, answerWaiting)
}
