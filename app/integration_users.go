package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/secrets"
)

// Errors of the integration users.
var (
	// ErrUserHasDevice is an enrollment asked for a user who already has a device linked.
	ErrUserHasDevice = errors.New("the user already has a device")
	// ErrNoDevice is a push asked for a user with no device linked.
	ErrNoDevice = errors.New("the user has no device to push to")
)

// integrationUserNamespace is the UUIDv5 namespace of integration users' account IDs.
var integrationUserNamespace = uuid.MustParse("b3c0a7e2-5d41-4c8e-9f0a-6d2b1e7c4a90")

// IntegrationUserID is the account ID of the user username of an integration: a UUIDv5 of
// both, so that one name is one account (the first append expects "no stream") and a user is
// found without a read model.
func IntegrationUserID(key domain.IntegrationKey, username string) uuid.UUID {
	return uuid.NewSHA1(integrationUserNamespace, []byte(key.String()+"\x00"+username))
}

// IntegrationUser is a user of an integration as the Auth API answers about it.
type IntegrationUser struct {
	ID       uuid.UUID
	Username string
	Devices  []domain.LinkedDevice
	// TOTPApps are the user's confirmed authenticator apps (AddIntegrationTOTPApp): they make
	// passcodes, never take pushes.
	TOTPApps []domain.TOTPAppRef
	// Locked is true while the user's second factor is locked after too many failures.
	Locked bool
	// Disabled is true when the help desk disabled the user's account.
	Disabled bool
}

func integrationUserOf(a *domain.Account, now time.Time) IntegrationUser {
	locked, _ := a.Locked(now)
	return IntegrationUser{ID: a.ID(), Username: a.Username(), Devices: a.LinkedDevices(), TOTPApps: a.ConfirmedTOTPApps(), Locked: locked, Disabled: a.Disabled()}
}

// IntegrationUser returns the user id of the integration; domain.ErrAccountNotFound when there is
// none (also when id is an account of Assent's own or of another integration).
func (s *Service) IntegrationUser(ctx context.Context, key domain.IntegrationKey, id uuid.UUID) (IntegrationUser, error) {
	a, err := s.loadAccount(ctx, id)
	if err != nil {
		return IntegrationUser{}, fmt.Errorf("integration user: %w", err)
	}
	if a.Integration() != key {
		return IntegrationUser{}, fmt.Errorf("integration user: %w", domain.ErrAccountNotFound)
	}
	return integrationUserOf(a, s.now()), nil
}

// EnsureIntegrationUser returns the user username of the integration, creating it when it does
// not exist yet (created is then true). An invalid name is domain.ErrInvalidCommand.
func (s *Service) EnsureIntegrationUser(ctx context.Context, key domain.IntegrationKey, username string) (u IntegrationUser, created bool, err error) {
	id := IntegrationUserID(key, username)
	a, err := s.loadAccount(ctx, id)
	if err == nil {
		return integrationUserOf(a, s.now()), false, nil
	}
	if !errors.Is(err, domain.ErrAccountNotFound) {
		return IntegrationUser{}, false, fmt.Errorf("integration user: %w", err)
	}
	_, err = s.op(ctx, systemActor).updateAccount(id, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		if a.Exists() { // created meanwhile by another request: nothing to do
			return domain.Decision{}, nil
		}
		created = true
		return a.CreateIntegrationUser(domain.CreateIntegrationUser{AccountID: id, Integration: key, Username: username}, now), nil
	})
	if err != nil {
		return IntegrationUser{}, false, fmt.Errorf("integration user: %w", err)
	}
	if a, err = s.loadAccount(ctx, id); err != nil {
		return IntegrationUser{}, false, fmt.Errorf("integration user: %w", err)
	}
	return integrationUserOf(a, s.now()), created, nil
}

// IntegrationEnrollment is an enrollment link for an integration user.
type IntegrationEnrollment struct {
	User IntegrationUser
	// Token goes into the enrollment link and its QR code; it is the activation code. Never log it.
	Token     string
	ExpiresAt time.Time
}

// EnrollIntegrationUser opens an enrollment link, valid for validFor, for the user username of
// the integration, created if new; with no username, a new user gets a random one. A user who
// already has a device gets ErrUserHasDevice: a second device is linked from the first, as
// for accounts.
func (s *Service) EnrollIntegrationUser(ctx context.Context, key domain.IntegrationKey, username string, validFor time.Duration) (IntegrationEnrollment, error) {
	ctx = correlated(ctx)
	if username == "" {
		raw, err := randomString(s.rand, "abcdefghijklmnopqrstuvwxyz0123456789", 12)
		if err != nil {
			return IntegrationEnrollment{}, fmt.Errorf("enroll integration user: %w", err)
		}
		username = "user-" + raw
	}
	u, _, err := s.EnsureIntegrationUser(ctx, key, username)
	if err != nil {
		return IntegrationEnrollment{}, fmt.Errorf("enroll integration user: %w", err)
	}
	if len(u.Devices) > 0 {
		return IntegrationEnrollment{}, fmt.Errorf("enroll integration user: %w", ErrUserHasDevice)
	}
	tok, exp, err := s.startEnrollmentFor(ctx, u.ID, validFor)
	if err != nil {
		return IntegrationEnrollment{}, fmt.Errorf("enroll integration user: %w", err)
	}
	return IntegrationEnrollment{User: u, Token: tok, ExpiresAt: exp}, nil
}

// startEnrollmentFor is StartEnrollment with a lifetime of its own (Duo's valid_secs).
func (s *Service) startEnrollmentFor(ctx context.Context, accountID uuid.UUID, validFor time.Duration) (string, time.Time, error) {
	a, err := s.loadAccount(ctx, accountID)
	if err != nil {
		return "", time.Time{}, err
	}
	tok, err := domain.NewEnrollmentToken(s.rand)
	if err != nil {
		return "", time.Time{}, err
	}
	p := s.policy
	p.EnrollmentTTL = validFor
	var expires time.Time
	_, err = s.op(ctx, systemActor).update(domain.EnrollmentStream(tok.ID()), func(events []domain.Event, now time.Time) (domain.Decision, error) {
		en, err := domain.LoadEnrollment(events)
		if err != nil {
			return domain.Decision{}, err
		}
		d := en.Start(domain.StartEnrollment{TokenID: tok.ID(), Account: a}, now, p)
		expires = now.Add(validFor)
		return d, nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return tok.Reveal(), expires, nil
}

// Enrollment states, as Duo's enroll_status names them.
const (
	EnrollmentSuccess = "success"
	EnrollmentWaiting = "waiting"
	EnrollmentInvalid = "invalid"
)

// IntegrationEnrollmentStatus tells whether the enrollment of token for user id of the
// integration linked a device (EnrollmentSuccess), still waits (EnrollmentWaiting), or is
// unknown, of another user, or expired (EnrollmentInvalid).
func (s *Service) IntegrationEnrollmentStatus(ctx context.Context, key domain.IntegrationKey, id uuid.UUID, token string) (string, error) {
	u, err := s.IntegrationUser(ctx, key, id)
	if errors.Is(err, domain.ErrAccountNotFound) {
		return EnrollmentInvalid, nil
	}
	if err != nil {
		return "", err
	}
	tok, err := domain.ParseEnrollmentToken(token)
	if err != nil {
		return EnrollmentInvalid, nil
	}
	events, _, err := s.load(ctx, domain.EnrollmentStream(tok.ID()))
	if err != nil {
		return "", fmt.Errorf("enrollment status: %w", err)
	}
	en, err := domain.LoadEnrollment(events)
	if err != nil {
		return "", fmt.Errorf("enrollment status: %w", err)
	}
	switch {
	case !en.Exists() || en.AccountID() != u.ID:
		return EnrollmentInvalid, nil
	case en.CompletedBy() != uuid.Nil:
		for _, d := range u.Devices {
			if d.DeviceID == en.CompletedBy() {
				return EnrollmentSuccess, nil
			}
		}
		return EnrollmentWaiting, nil // completed; the link follows in a moment
	case !s.now().Before(en.ExpiresAt()):
		return EnrollmentInvalid, nil
	}
	return EnrollmentWaiting, nil
}

// IntegrationAuth is an Auth API request for a second factor: a push to the user's devices (or
// to Device alone), or, with Passcode set, a code to check.
type IntegrationAuth struct {
	Device   uuid.UUID // zero: every linked device
	Passcode string
	Context  domain.LoginContext
	// NumberMatching asks the device for a number (IssuedChallenge.Number) that the application
	// shows; without it the push has no number.
	NumberMatching bool
}

// IssueIntegrationChallenge issues a challenge for user id of the integration and pushes it to
// the user's devices (or one), with the application's context and, unless req.NumberMatching,
// no number (the application's page shows none); ErrNoDevice when the user has none, domain.ErrLocked while
// locked, domain.ErrDeviceNotLinked for a device not the user's. The outcome comes through the
// log as for any challenge.
func (s *Service) IssueIntegrationChallenge(ctx context.Context, key domain.IntegrationKey, id uuid.UUID, req IntegrationAuth) (IssuedChallenge, error) {
	ctx = correlated(ctx)
	u, err := s.IntegrationUser(ctx, key, id)
	if err != nil {
		return IssuedChallenge{}, fmt.Errorf("issue integration challenge: %w", err)
	}
	if len(u.Devices) == 0 {
		return IssuedChallenge{}, fmt.Errorf("issue integration challenge: %w", ErrNoDevice)
	}
	cmd := domain.IssueChallenge{Context: req.Context, OnlyDevice: req.Device}
	if req.NumberMatching {
		if cmd.Number, err = domain.NewMatchNumber(s.rand); err != nil {
			return IssuedChallenge{}, fmt.Errorf("issue integration challenge: %w", err)
		}
	} else {
		cmd.Context.NoNumber = true
	}
	ic, err := s.issue(s.op(ctx, accountActor(id)), id, cmd)
	if err != nil {
		return IssuedChallenge{}, fmt.Errorf("issue integration challenge: %w", err)
	}
	return ic, nil
}

// CheckIntegrationPasscode checks a passcode for user id of the integration: a device's or a
// TOTP app's six digits, or a backup code (Duo's bypass code). It issues a challenge that no
// device is asked (so that the code is spent on it, once, and recorded), then completes it.
// A wrong or reused code returns domain.ErrWrongCode or domain.ErrCodeReused, recorded and
// counted toward the lockout; the challenge is then cancelled, so that it too is final. It
// returns the challenge's ID, whose outcome tells the same.
func (s *Service) CheckIntegrationPasscode(ctx context.Context, key domain.IntegrationKey, id uuid.UUID, req IntegrationAuth) (uuid.UUID, error) {
	ctx = correlated(ctx)
	if _, err := s.IntegrationUser(ctx, key, id); err != nil {
		return uuid.Nil, fmt.Errorf("check passcode: %w", err)
	}
	req.Context.NoNumber = true
	o := s.op(ctx, accountActor(id))
	ic, err := s.issue(o, id, domain.IssueChallenge{Context: req.Context, NoPush: true})
	if err != nil {
		return uuid.Nil, fmt.Errorf("check passcode: %w", err)
	}
	code := strings.TrimSpace(req.Passcode)
	if _, perr := secrets.ParseBackupCode(code); perr == nil {
		err = s.CompleteWithBackupCode(ctx, ic.ID, code)
	} else {
		err = s.CompleteWithTOTP(ctx, ic.ID, code)
	}
	if err != nil {
		if cerr := s.cancel(o, ic.ID, domain.CancelAbandoned); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	return ic.ID, err
}

// IntegrationChallenge checks that challenge id was issued for a user of the integration and
// returns it, so that the Auth API answers auth_status only about its own transactions;
// domain.ErrChallengeNotFound otherwise.
func (s *Service) IntegrationChallenge(ctx context.Context, key domain.IntegrationKey, id uuid.UUID) (*domain.Challenge, error) {
	c, err := s.loadChallenge(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("integration challenge: %w", err)
	}
	if _, err := s.IntegrationUser(ctx, key, c.AccountID()); errors.Is(err, domain.ErrAccountNotFound) {
		return nil, fmt.Errorf("integration challenge: %w", domain.ErrChallengeNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("integration challenge: %w", err)
	}
	return c, nil
}

// Bounds of bypass codes.
const (
	MaxBypassCodes     = 10
	MaxBypassValidity  = 30 * 24 * time.Hour
	minBypassValidity  = time.Minute
	bypassCodesInvalid = "bypass codes: count must be 1 to 10 and validity 1m to 720h"
)

// ErrInvalidBypassCodes is a request for bypass codes out of bounds.
var ErrInvalidBypassCodes = errors.New(bypassCodesInvalid)

// IssueBypassCodes issues count bypass codes for the user username of the integration, valid
// for validFor; they replace the user's previous bypass codes. It returns the codes (show them
// once; the log holds keyed hashes) and their expiry. The user must have a device linked
// (domain.ErrMFANotEnabled otherwise): the codes stand in for it.
func (s *Service) IssueBypassCodes(ctx context.Context, key domain.IntegrationKey, username string, count int, validFor time.Duration) ([]string, time.Time, error) {
	if count < 1 || count > MaxBypassCodes || validFor < minBypassValidity || validFor > MaxBypassValidity {
		return nil, time.Time{}, ErrInvalidBypassCodes
	}
	id := IntegrationUserID(key, username)
	if _, err := s.IntegrationUser(ctx, key, id); err != nil {
		return nil, time.Time{}, fmt.Errorf("issue bypass codes: %w", err)
	}
	codes, set, err := s.newBackupCodes()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("issue bypass codes: %w", err)
	}
	var expires time.Time
	_, err = s.op(ctx, operatorActor).updateAccount(id, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		expires = now.Add(validFor)
		return a.IssueBypassCodes(domain.IssueBypassCodes{SetID: set.SetID, Hashes: set.Hashes[:count], ExpiresAt: expires}, now), nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("issue bypass codes: %w", err)
	}
	return codes[:count], expires, nil
}

// IntegrationTOTPApp is an authenticator app added for a user of an integration, awaiting its
// first code (ConfirmTOTPApp with User.ID and AppID).
type IntegrationTOTPApp struct {
	User IntegrationUser
	// URI is the otpauth:// URI the app scans, labelled with the username. It holds the secret:
	// show it once, never log it.
	URI   string
	AppID uuid.UUID
}

// AddIntegrationTOTPApp adds an authenticator app for the user username of the integration,
// created if new: the help desk's way to give a user a second factor without a device of
// Assent's (Duo's administrators assign tokens the same way). The app works as a passcode
// once ConfirmTOTPApp has its first code; confirming it turns the second factor on when no
// device had.
func (s *Service) AddIntegrationTOTPApp(ctx context.Context, key domain.IntegrationKey, username string) (IntegrationTOTPApp, error) {
	ctx = correlated(ctx)
	if i, err := s.Integration(ctx, key); err != nil {
		return IntegrationTOTPApp{}, fmt.Errorf("add integration totp app: %w", err)
	} else if i.Disabled {
		return IntegrationTOTPApp{}, fmt.Errorf("add integration totp app: %w", domain.ErrIntegrationDisabled)
	}
	u, _, err := s.EnsureIntegrationUser(ctx, key, username)
	if err != nil {
		return IntegrationTOTPApp{}, fmt.Errorf("add integration totp app: %w", err)
	}
	uri, appID, err := s.AddTOTPApp(ctx, u.ID)
	if err != nil {
		return IntegrationTOTPApp{}, fmt.Errorf("add integration totp app: %w", err)
	}
	return IntegrationTOTPApp{User: u, URI: uri, AppID: appID}, nil
}
