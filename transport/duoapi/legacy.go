package duoapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
)

// The legacy API: Duo's /rest/v1, which the PAM module and login_duo of duo_unix 1.11 speak
// (the versions Debian ships). Its bodies are BSON, its signature HMAC-SHA1 over
// "METHOD\nhost\npath\nparameters" with no date, and its status call is polled back to back.
// It is served only to integrations created with --legacy-v1 (docs/duo.md says what that costs).

func (s *Server) registerLegacy(e *echo.Echo) {
	e.Any("/rest/v1/preauth.bson", s.method(s.legacySigned(s.legacyPreauth), http.MethodPost))
	e.Any("/rest/v1/auth.bson", s.method(s.legacySigned(s.legacyAuth), http.MethodPost))
	e.Any("/rest/v1/status.bson", s.method(s.legacySigned(s.legacyStatus), http.MethodGet))
	e.Any("/rest/*", func(c echo.Context) error { return bsonFail(c, codeNotFound, "Resource not found") })
}

// bsonOK answers {"stat": "OK", "response": response} as BSON.
func bsonOK(c echo.Context, response bson.D) error {
	return bsonBlob(c, http.StatusOK, bson.D{{Key: "stat", Value: "OK"}, {Key: "response", Value: response}})
}

// bsonFail answers {"stat": "FAIL", "code": code (int32), "message": message} as BSON, with
// the HTTP status code/100 (duo_unix reads 401 as "Invalid ikey or skey" before the body).
func bsonFail(c echo.Context, code int, message string) error {
	return bsonBlob(c, code/100, bson.D{{Key: "stat", Value: "FAIL"}, {Key: "code", Value: int32(code)}, {Key: "message", Value: message}})
}

func bsonBlob(c echo.Context, status int, doc bson.D) error {
	answerWithin(c)
	b, err := bson.Marshal(doc)
	if err != nil {
		return fmt.Errorf("bson: %w", err)
	}
	return c.Blob(status, "application/bson", b)
}

// CanonicalV1 returns the canonical request of the legacy API as duo_unix 1.11 signs it: the
// method, the host (without port), the path, and the parameters as "key=value" strings,
// %-encoded (space as %20), sorted as strings and joined with &. There is no date.
func CanonicalV1(method, host, path string, params url.Values) string {
	var pairs []string
	for k, vs := range params {
		for _, v := range vs {
			pairs = append(pairs, escape(k)+"="+escape(v))
		}
	}
	slices.Sort(pairs)
	return method + "\n" + host + "\n" + path + "\n" + strings.Join(pairs, "&")
}

// legacySigned checks a legacy request's signature and its integration before h.
func (s *Server) legacySigned(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		raw := r.URL.RawQuery
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return bsonFail(c, codeInvalidParams, "Invalid request parameters")
			}
			raw = string(body)
		}
		params, err := url.ParseQuery(raw)
		if err != nil {
			return bsonFail(c, codeInvalidParams, "Invalid request parameters")
		}
		ikey, sig, err := credentials(r.Header.Get("Authorization"))
		if err != nil {
			return bsonFail(c, codeUnauthorized, "Missing request credentials")
		}
		key, err := domain.ParseIntegrationKey(ikey)
		if err != nil {
			return bsonFail(c, codeUnauthorized, "Invalid integration key in request credentials")
		}
		integ, err := s.cfg.App.Integration(r.Context(), key)
		if errors.Is(err, domain.ErrIntegrationNotFound) {
			return bsonFail(c, codeUnauthorized, "Invalid integration key in request credentials")
		}
		if err != nil {
			s.cfg.Log.Error("legacy api", "path", r.URL.Path, "err", err)
			return bsonFail(c, codeInternal, "Internal server error")
		}
		got, err := hex.DecodeString(sig)
		if err != nil || len(got) != sha1.Size {
			return bsonFail(c, codeUnauthorized, "Invalid signature in request credentials")
		}
		ok := false
		for _, host := range hostsOf(r.Host, s.publicHost) {
			mac := hmac.New(sha1.New, integ.Secret)
			mac.Write([]byte(CanonicalV1(r.Method, host, r.URL.Path, params)))
			if hmac.Equal(mac.Sum(nil), got) {
				ok = true
			}
		}
		if !ok {
			return bsonFail(c, codeUnauthorized, "Invalid signature in request credentials")
		}
		if integ.Disabled {
			return bsonFail(c, codeForbidden, "Access forbidden: the integration is disabled")
		}
		if !integ.LegacyV1 {
			return bsonFail(c, codeForbidden, "Access forbidden: the legacy API is off for this integration")
		}
		c.Set(requestKey, &request{integration: integ, params: params})
		return h(c)
	}
}

// legacyUser finds or makes the user of a legacy call ("user"); ok is false when it answered.
func (s *Server) legacyUser(c echo.Context, create bool) (app.IntegrationUser, bool, error) {
	r := req(c)
	name := r.params.Get("user")
	if !domain.ValidUsername(name) {
		return app.IntegrationUser{}, false, bsonFail(c, codeInvalidParams, "Invalid request parameters: user")
	}
	var u app.IntegrationUser
	var err error
	if create {
		u, _, err = s.cfg.App.EnsureIntegrationUser(c.Request().Context(), r.integration.Key, name)
	} else {
		u, err = s.cfg.App.IntegrationUser(c.Request().Context(), r.integration.Key, app.IntegrationUserID(r.integration.Key, name))
		if errors.Is(err, domain.ErrAccountNotFound) {
			return u, false, bsonFail(c, codeInvalidParams, "Invalid request parameters: user")
		}
	}
	if err != nil {
		s.cfg.Log.Error("legacy api", "err", err)
		return u, false, bsonFail(c, codeInternal, "Internal server error")
	}
	return u, true, nil
}

// legacyPreauth answers preauth.bson: result auth with a prompt and factors ("1": "push1",
// ...; "default": "push1"), or allow/deny/enroll with a status to show.
func (s *Server) legacyPreauth(c echo.Context) error {
	u, found, err := s.legacyUser(c, true)
	if !found {
		return err
	}
	switch {
	case u.Locked:
		return bsonOK(c, bson.D{{Key: "result", Value: "deny"}, {Key: "status", Value: "Your second factor is locked after too many failures. Try again later."}})
	case len(u.Devices) == 0 && len(u.TOTPApps) == 0:
		en, err := s.cfg.App.EnrollIntegrationUser(c.Request().Context(), req(c).integration.Key, u.Username, defaultEnrollValid)
		if err != nil {
			s.cfg.Log.Error("legacy api", "err", err)
			return bsonFail(c, codeInternal, "Internal server error")
		}
		return bsonOK(c, bson.D{{Key: "result", Value: "enroll"}, {Key: "status", Value: "Link Assent's app to this account first: " + s.enrollmentLink(c, en.Token)}})
	}
	var prompt strings.Builder
	if len(u.Devices) == 0 {
		// Only authenticator apps: a passcode is the one way in (no factor to choose, and no
		// default for an automatic push).
		fmt.Fprintf(&prompt, "Assent two-factor login for %s\n\nPasscode from your authenticator app: ", u.Username)
		return bsonOK(c, bson.D{{Key: "result", Value: "auth"}, {Key: "prompt", Value: prompt.String()}, {Key: "factors", Value: bson.D{}}})
	}
	fmt.Fprintf(&prompt, "Assent two-factor login for %s\n\nEnter a passcode or select one of the following options:\n\n", u.Username)
	factors := bson.D{{Key: "default", Value: "push1"}}
	for i, d := range u.Devices {
		fmt.Fprintf(&prompt, " %d. Push to %s\n", i+1, d.Name)
		factors = append(factors, bson.E{Key: strconv.Itoa(i + 1), Value: "push" + strconv.Itoa(i+1)})
	}
	fmt.Fprintf(&prompt, "\nPasscode or option (1-%d): ", len(u.Devices))
	return bsonOK(c, bson.D{{Key: "result", Value: "auth"}, {Key: "prompt", Value: prompt.String()}, {Key: "factors", Value: factors}})
}

var pushFactor = regexp.MustCompile(`^push([1-9][0-9]*)$`)

// legacyAuth answers auth.bson: factor=auto with "auto" holding a factor of preauth's (push1,
// ...) or the passcode typed. async=1 answers a txid to poll with status.bson (a passcode too:
// duo_unix then expects one); otherwise the request is held until the outcome.
func (s *Server) legacyAuth(c echo.Context) error {
	r := req(c)
	if r.params.Get("factor") != "auto" {
		return bsonFail(c, codeInvalidParams, "Invalid request parameters: factor")
	}
	choice := strings.TrimSpace(r.params.Get("auto"))
	if choice == "" {
		return bsonFail(c, codeMissingParams, "Missing required request parameters: auto")
	}
	lc, bad, good := s.authContext(c)
	if !good {
		return bsonFail(c, codeInvalidParams, "Invalid request parameters: "+bad)
	}
	if h := r.params.Get("hostname"); h != "" && len(lc.PushInfo) < 20 {
		lc.PushInfo = append([]domain.PushInfoItem{{Key: "Host", Value: h}}, lc.PushInfo...)
	}
	u, found, err := s.legacyUser(c, false)
	if !found {
		return err
	}
	ctx := c.Request().Context()
	key := r.integration.Key
	var txid uuid.UUID
	if m := pushFactor.FindStringSubmatch(choice); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n > len(u.Devices) {
			return bsonFail(c, codeInvalidParams, "Invalid request parameters: auto")
		}
		ic, err := s.cfg.App.IssueIntegrationChallenge(ctx, key, u.ID, app.IntegrationAuth{Context: lc, Device: u.Devices[n-1].DeviceID})
		switch {
		case errors.Is(err, domain.ErrLocked):
			return legacyAnswer(c, answerLocked)
		case errors.Is(err, app.ErrNoDevice), errors.Is(err, domain.ErrDeviceNotLinked), errors.Is(err, domain.ErrInvalidCommand):
			return bsonFail(c, codeInvalidParams, "Invalid request parameters")
		case err != nil:
			s.cfg.Log.Error("legacy api", "err", err)
			return bsonFail(c, codeInternal, "Internal server error")
		}
		txid = ic.ID
	} else if strings.HasPrefix(choice, "phone") || strings.HasPrefix(choice, "sms") {
		return legacyAnswer(c, map[string]string{"result": "deny", "status": "deny", "status_msg": "Assent places no phone calls and sends no text messages."})
	} else {
		id, err := s.cfg.App.CheckIntegrationPasscode(ctx, key, u.ID, app.IntegrationAuth{Context: lc, Passcode: choice})
		if errors.Is(err, domain.ErrLocked) {
			return legacyAnswer(c, answerLocked)
		}
		if r.params.Get("async") != "1" || id == uuid.Nil {
			if err == nil {
				return legacyAnswer(c, answerAllow)
			}
			return legacyAnswer(c, answerBadCode)
		}
		txid = id // its outcome is final already: completed, or cancelled after a wrong code
	}
	if r.params.Get("async") == "1" {
		return bsonOK(c, bson.D{{Key: "txid", Value: txid.String()}})
	}
	ans, _, done, err := s.awaitLegacy(c, key, txid, 0)
	switch {
	case err != nil:
		s.cfg.Log.Error("legacy api", "err", err)
		return bsonFail(c, codeInternal, "Internal server error")
	case !done:
		return nil
	case ans == nil:
		return bsonFail(c, codeUnavailable, "Service unavailable: the server is shutting down; ask again")
	}
	return legacyAnswer(c, ans)
}

// legacyAnswer answers a final outcome: {"result", "status"}, status being the message that
// duo_unix shows.
func legacyAnswer(c echo.Context, a map[string]string) error {
	return bsonOK(c, bson.D{{Key: "result", Value: a["result"]}, {Key: "status", Value: a["status_msg"]}})
}

// legacyStatus answers status.bson. duo_unix polls it back to back, at most 20 times, so each
// poll is held until the outcome (or StatusHold, then it answers a status without a result).
func (s *Server) legacyStatus(c echo.Context) error {
	r := req(c)
	id, err := uuid.Parse(r.params.Get("txid"))
	if err != nil {
		return bsonFail(c, codeInvalidParams, "Invalid request parameters: txid")
	}
	ans, ch, done, err := s.awaitLegacy(c, r.integration.Key, id, s.cfg.StatusHold)
	switch {
	case errors.Is(err, domain.ErrChallengeNotFound):
		return bsonFail(c, codeInvalidParams, "Invalid request parameters: txid")
	case err != nil:
		s.cfg.Log.Error("legacy api", "err", err)
		return bsonFail(c, codeInternal, "Internal server error")
	case !done:
		return nil
	case ans == nil:
		return bsonOK(c, bson.D{{Key: "status", Value: answerWaiting["status_msg"]}})
	}
	if ch.Context().NoNumber && len(ch.Devices()) == 0 && ans["result"] == "deny" {
		ans = answerBadCode // a passcode's challenge cancelled after a wrong code
	}
	return legacyAnswer(c, ans)
}

// awaitLegacy waits for the outcome of challenge id of the integration key (awaitOutcome):
// up to hold (0: until the challenge expires), or until the server drains. It returns a nil
// answer when the wait ended without an outcome, and done=false when the client went away.
func (s *Server) awaitLegacy(c echo.Context, key domain.IntegrationKey, id uuid.UUID, hold time.Duration) (ans map[string]string, ch *domain.Challenge, done bool, err error) {
	ctx := c.Request().Context()
	hctx, stop := s.hold(ctx)
	defer stop()
	if hold == 0 {
		hold = 10 * time.Minute // bounded by the challenge's expiry, which ends it before
	}
	wctx, cancel := context.WithTimeout(hctx, hold)
	defer cancel()
	ans, ch, err = s.awaitOutcome(wctx, key, id)
	switch {
	case err != nil && wctx.Err() == nil:
		return nil, nil, true, err
	case ans == nil && ctx.Err() != nil:
		return nil, ch, false, nil
	}
	return ans, ch, true, nil
}
