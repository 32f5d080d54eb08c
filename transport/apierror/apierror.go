// Package apierror is the one error format of Assent's HTTP and socket interfaces: a stable
// machine-readable code, a human sentence and a status, with the table that maps every error a
// client can cause to it.
package apierror

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/assent-dev/assent/domain"
)

// Problem is the body of every refusal: a stable machine-readable code, a human sentence,
// and, for invalid input, where the problems are.
type Problem struct {
	Status  int             `json:"status" doc:"HTTP status code"`
	Code    string          `json:"code" doc:"Stable, machine-readable error code" example:"wrong_number"`
	Message string          `json:"message" doc:"What went wrong, in a sentence for people"`
	Details []ProblemDetail `json:"details,omitempty" doc:"Each invalid part of the request"`

	headers http.Header
}

// ProblemDetail locates one problem of an invalid request.
type ProblemDetail struct {
	Location string `json:"location,omitempty" doc:"Where the problem is, e.g. body.email"`
	Message  string `json:"message"`
}

func (p *Problem) Error() string           { return p.Code + ": " + p.Message }
func (p *Problem) GetStatus() int          { return p.Status }
func (p *Problem) GetHeaders() http.Header { return p.headers }

// ContentType serves problems as RFC 9457 problem documents.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

// refusal describes how one error is told to a client.
type refusal struct {
	err     error
	status  int
	code    string
	message string
}

// unavailable are refusals of the server's own trouble, not the client's: told with a
// Retry-After header, and logged.
var unavailable []unavailableRefusal

type unavailableRefusal struct {
	refusal
	retry time.Duration
}

// refusals maps every error a client can cause to its status, code and sentence. Codes are
// part of the API: never change one, add a new one.
var refusals = []refusal{
	{domain.ErrInvalidCommand, 422, "invalid_request", "The request is not valid."},
	{domain.ErrInvalidEmail, 422, "invalid_email", "That is not a valid email address."},
	{domain.ErrInvalidNumber, 422, "invalid_number", "The number must be the two digits shown on the login page."},
	{domain.ErrInvalidEnrollmentToken, 404, "enrollment_not_found", "This enrollment link is not valid."},
	{domain.ErrEmailTaken, 409, "email_taken", "An account with this email address already exists."},
	{domain.ErrAccountExists, 409, "account_exists", "This account already exists."},
	{domain.ErrAccountNotFound, 404, "account_not_found", "No such account."},
	{domain.ErrMFAAlreadyEnabled, 409, "mfa_already_enabled", "Two-factor authentication is already on."},
	{domain.ErrMFANotEnabled, 409, "mfa_not_enabled", "Two-factor authentication is not on."},
	{domain.ErrNoSecondFactor, 409, "no_second_factor", "The account has no confirmed second factor."},
	{domain.ErrPasswordNotChecked, 401, "wrong_credentials", "The email address or the password is wrong."},
	{domain.ErrLastSecondFactor, 409, "last_second_factor", "This is the account's last second factor. To remove it, turn two-factor authentication off, with the password and a second factor."},
	{domain.ErrSecondFactorNeeded, 403, "second_factor_required", "A second factor is needed first."},
	{domain.ErrDeviceExists, 409, "device_exists", "This device is already registered."},
	{domain.ErrDeviceNotFound, 404, "device_not_found", "No such device."},
	{domain.ErrDeviceAlreadyLinked, 409, "device_already_linked", "This device is already linked to the account."},
	{domain.ErrDeviceNotLinked, 403, "device_not_linked", "This device is not linked to that account."},
	{domain.ErrEnrollmentNotFound, 404, "enrollment_not_found", "This enrollment link is not valid."},
	{domain.ErrEnrollmentExists, 409, "enrollment_exists", "This enrollment has already started."},
	{domain.ErrEnrollmentExpired, 410, "enrollment_expired", "This enrollment link has expired. Start again from the security page."},
	{domain.ErrEnrollmentUsed, 409, "enrollment_used", "This enrollment link has already been used."},
	{domain.ErrTOTPAppNotFound, 404, "totp_app_not_found", "No such authenticator app."},
	{domain.ErrSessionNotFound, 404, "session_not_found", "No such session: it may have ended already."},
	{domain.ErrPushNotPaused, 409, "push_not_paused", "Pushes are not paused: there is nothing to resume."},
	{domain.ErrTOTPAppAlreadyConfirmed, 409, "totp_app_confirmed", "This authenticator app is already confirmed."},
	{domain.ErrWrongCode, 422, "wrong_code", "That code is not right."},
	{domain.ErrCodeReused, 409, "code_reused", "That code has already been used. Wait for the next one."},
	{domain.ErrNoBackupSet, 409, "no_backup_codes", "The account has no backup codes."},
	{domain.ErrChallengeNotFound, 404, "challenge_not_found", "No such sign-in request."},
	{domain.ErrChallengeNotPending, 409, "challenge_superseded", "A newer sign-in request replaced this one."},
	{domain.ErrChallengeAlreadyDecided, 409, "challenge_decided", "This sign-in request has already been answered."},
	{domain.ErrChallengeLocked, 409, "challenge_locked", "Too many failed attempts ended this sign-in request; the second factor is locked for a while."},
	{domain.ErrChallengeExpired, 410, "challenge_expired", "This sign-in request has expired."},
	{domain.ErrChallengeRedeemed, 409, "challenge_redeemed", "This sign-in has already been used. Sign in again."},
	{domain.ErrWrongNumber, 422, "wrong_number", "That is not the number shown on the login page."},
	{domain.ErrBadSignature, 401, "bad_signature", "The device's signature does not verify."},
	{domain.ErrLocked, 429, "locked", "Too many failed attempts: the second factor is locked for a while."},
	{domain.ErrReasonRequired, 422, "reason_required", "Write down why: a reason is required for every help-desk action."},
	{domain.ErrInvalidReason, 422, "invalid_reason", "The reason must be text of at most 500 characters."},
	{domain.ErrNotLocked, 409, "not_locked", "The account is not locked: there is nothing to unlock."},
	{domain.ErrAccountDisabled, 403, "account_disabled", "This account is disabled. Contact your help desk."},
	{domain.ErrAccountNotDisabled, 409, "account_not_disabled", "The account is not disabled."},
	{domain.ErrResetExpired, 403, "enrollment_window_over", "The time to set up a new second factor after the help desk's reset is over. Contact your help desk."},
	{domain.ErrSignInLocked, 429, "locked", "Too many wrong passwords for this account from your network: signing in from here is paused for a while."},
}

// Add registers how more errors are told to clients. Call it at init time only.
func Add(err error, status int, code, message string) {
	refusals = append(refusals, refusal{err, status, code, message})
}

// AddUnavailable registers an error of the server's own state that a client can only wait out
// (its storage cannot be written, say): told with status, code and message and a Retry-After
// of retry, and logged with its cause, since an operator must act. Call it at init time only.
func AddUnavailable(err error, status int, code, message string, retry time.Duration) {
	unavailable = append(unavailable, unavailableRefusal{refusal{err, status, code, message}, retry})
}

// Refusals of the transport itself.
var (
	Unauthenticated = &Problem{Status: 401, Code: "unauthenticated", Message: "Sign in first."}
	CSRFFailed      = &Problem{Status: 403, Code: "csrf_failed", Message: "The request lacks a valid CSRF token."}
	Forbidden       = &Problem{Status: 403, Code: "forbidden", Message: "You may not do that."}
	RateLimited     = &Problem{Status: 429, Code: "rate_limited", Message: "Too many attempts. Wait a moment and try again."}
)

// New returns a refusal with its status, code and sentence.
func New(status int, code, message string) *Problem {
	return &Problem{Status: status, Code: code, Message: message}
}

// WithHeaders returns p with extra response headers.
func (p *Problem) WithHeaders(h http.Header) *Problem {
	cp := *p
	cp.headers = h
	return &cp
}

// CodeForStatus is the code of a refusal that only has a status.
func CodeForStatus(status int) string {
	switch status {
	case 400:
		return "bad_request"
	case 401:
		return "unauthenticated"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 405:
		return "method_not_allowed"
	case 408:
		return "request_timeout"
	case 409:
		return "conflict"
	case 410:
		return "gone"
	case 413:
		return "too_large"
	case 415:
		return "unsupported_media_type"
	case 422:
		return "invalid_request"
	case 429:
		return "rate_limited"
	case 503:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "error"
}

// From maps an error of the application to the refusal told to the client. Errors that
// no client can cause become a 500 with no detail, and are logged.
func From(log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var se interface{ GetStatus() int }
	if errors.As(err, &se) {
		return err
	}
	for _, r := range unavailable {
		if errors.Is(err, r.err) {
			log.Error("request refused", "code", r.code, "err", err)
			return RetryAfter(&Problem{Status: r.status, Code: r.code, Message: r.message}, r.retry)
		}
	}
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return &Problem{Status: r.status, Code: r.code, Message: r.message}
		}
	}
	log.Error("request failed", "err", err)
	return &Problem{Status: 500, Code: "internal", Message: "Something went wrong on our side. Please try again."}
}

// RetryAfter returns p with a Retry-After header of d (rounded up to a second).
func RetryAfter(p *Problem, d time.Duration) *Problem {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	cp := *p
	cp.headers = http.Header{"Retry-After": []string{strconv.Itoa(secs)}}
	return &cp
}
