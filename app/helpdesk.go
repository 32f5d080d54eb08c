package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// The help desk's commands: an administrator acts on a person's account, with a written reason,
// after checking the person's identity outside Assent. Each appends an event that names the
// administrator (its actor is "admin:NAME") and the reason.

// DefaultEnrollWithin is the time a person has, after a second-factor reset, to set up a new
// second factor when the administrator does not say.
const DefaultEnrollWithin = 72 * time.Hour

// Errors of the help desk's commands and of the sessions they affect.
var (
	// ErrNoSuchAccount is an account reference that is neither a known email nor a known ID.
	ErrNoSuchAccount = errors.New("no account has this email or ID")
	// ErrEnrollmentRequired: after the help desk's reset, a session is for setting up a new
	// second factor; it signs in nowhere else (OpenID Connect) until one is set up.
	ErrEnrollmentRequired = errors.New("a new second factor must be set up first")
)

func helpDeskActor(name string) string { return "admin:" + name }

// FindAccount resolves ref, an account's ID or its email, to the account's ID.
func (s *Service) FindAccount(ctx context.Context, ref string) (uuid.UUID, error) {
	if id, err := uuid.Parse(ref); err == nil {
		if _, err := s.loadAccount(ctx, id); err != nil {
			if errors.Is(err, domain.ErrAccountNotFound) {
				return uuid.Nil, ErrNoSuchAccount
			}
			return uuid.Nil, fmt.Errorf("find account: %w", err)
		}
		return id, nil
	}
	addr, err := domain.ParseEmail(ref)
	if err != nil {
		return uuid.Nil, ErrNoSuchAccount
	}
	holder, err := s.emailHolder(ctx, addr)
	if err != nil {
		return uuid.Nil, fmt.Errorf("find account: %w", err)
	}
	if holder == uuid.Nil {
		return uuid.Nil, ErrNoSuchAccount
	}
	return holder, nil
}

// HelpDeskBypassCodes issues count bypass codes (1 to 10) for the account, valid for validFor
// (1 minute to 30 days), replacing earlier bypass codes. It returns the codes, to be shown
// once (the log holds keyed hashes only), and their expiry. The account must have its second
// factor on (domain.ErrMFANotEnabled otherwise).
func (s *Service) HelpDeskBypassCodes(ctx context.Context, accountID uuid.UUID, act domain.HelpDeskAct, count int, validFor time.Duration) ([]string, time.Time, error) {
	if count < 1 || count > MaxBypassCodes || validFor < minBypassValidity || validFor > MaxBypassValidity {
		return nil, time.Time{}, ErrInvalidBypassCodes
	}
	codes, set, err := s.newBackupCodes()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("help desk bypass codes: %w", err)
	}
	var expires time.Time
	_, err = s.op(correlated(ctx), helpDeskActor(act.By)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		expires = now.Add(validFor)
		return a.IssueHelpDeskBypassCodes(domain.IssueHelpDeskBypassCodes{HelpDeskAct: act, SetID: set.SetID, Hashes: set.Hashes[:count], ExpiresAt: expires}, now), nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("help desk bypass codes: %w", err)
	}
	return codes[:count], expires, nil
}

// ResetSecondFactor unlinks every device of the account and revokes its TOTP apps, backup
// codes and bypass codes; every session of the account ends, and its pending challenge is
// cancelled. The person's next sign-in goes straight to setting up a new second factor, which
// they must do before the returned time (enrollWithin from now; 0 means DefaultEnrollWithin).
func (s *Service) ResetSecondFactor(ctx context.Context, accountID uuid.UUID, act domain.HelpDeskAct, enrollWithin time.Duration) (time.Time, error) {
	if enrollWithin == 0 {
		enrollWithin = DefaultEnrollWithin
	}
	var enrollBy time.Time
	var pending uuid.UUID
	o := s.op(correlated(ctx), helpDeskActor(act.By))
	_, err := o.updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		enrollBy = now.Add(enrollWithin)
		pending, _ = a.PendingChallenge(now)
		return a.ResetSecondFactor(domain.ResetSecondFactor{HelpDeskAct: act, EnrollWithin: enrollWithin}, now), nil
	})
	if err == nil && pending != uuid.Nil {
		err = s.cancel(o, pending, domain.CancelMFADisabled)
	}
	if err == nil {
		err = s.settled(ctx)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reset second factor: %w", err)
	}
	return enrollBy, nil
}

// UnlockAccount lifts the lock of the account's second factor and the sign-in locks of every
// source; domain.ErrNotLocked when there is nothing to lift.
func (s *Service) UnlockAccount(ctx context.Context, accountID uuid.UUID, act domain.HelpDeskAct) error {
	_, err := s.op(correlated(ctx), helpDeskActor(act.By)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.UnlockAccount(domain.UnlockAccount{HelpDeskAct: act}, now), nil
	})
	if err == nil {
		err = s.settled(ctx)
	}
	if err != nil {
		return fmt.Errorf("unlock account: %w", err)
	}
	return nil
}

// DisableAccount disables the account: it can no longer sign in or pass a second factor
// anywhere, every session it has ends, and its pending challenge is cancelled.
func (s *Service) DisableAccount(ctx context.Context, accountID uuid.UUID, act domain.HelpDeskAct) error {
	var pending uuid.UUID
	o := s.op(correlated(ctx), helpDeskActor(act.By))
	_, err := o.updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		pending, _ = a.PendingChallenge(now)
		return a.DisableAccount(domain.DisableAccount{HelpDeskAct: act}, now), nil
	})
	if err == nil && pending != uuid.Nil {
		err = s.cancel(o, pending, domain.CancelAbandoned)
	}
	if err == nil {
		err = s.settled(ctx)
	}
	if err != nil {
		return fmt.Errorf("disable account: %w", err)
	}
	return nil
}

// EnableAccount enables a disabled account again; the sessions the disabling ended stay ended.
func (s *Service) EnableAccount(ctx context.Context, accountID uuid.UUID, act domain.HelpDeskAct) error {
	_, err := s.op(correlated(ctx), helpDeskActor(act.By)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.EnableAccount(domain.EnableAccount{HelpDeskAct: act}, now), nil
	})
	if err == nil {
		err = s.settled(ctx)
	}
	if err != nil {
		return fmt.Errorf("enable account: %w", err)
	}
	return nil
}

// AccountStanding is what the help desk's acts mean for an account's sessions and access now.
type AccountStanding struct {
	Disabled bool
	// EnrollmentRequired: the help desk reset the second factor and no new one is set up yet;
	// EnrollBy is the last moment to set one up.
	EnrollmentRequired bool
	EnrollBy           time.Time
	// SessionsValidFrom: sessions that began before it have ended (zero: none ended so).
	SessionsValidFrom time.Time
	Notices           []domain.Notice
}

// Standing returns the account's standing.
func (s *Service) Standing(ctx context.Context, accountID uuid.UUID) (AccountStanding, error) {
	a, err := s.loadAccount(ctx, accountID)
	if err != nil {
		return AccountStanding{}, fmt.Errorf("account standing: %w", err)
	}
	req, by := a.EnrollmentRequired()
	return AccountStanding{
		Disabled: a.Disabled(), EnrollmentRequired: req, EnrollBy: by,
		SessionsValidFrom: a.SessionsValidFrom(), Notices: a.Notices(),
	}, nil
}

// SessionValid reports whether a session of the account that began at issued is still valid
// as far as the account goes: the account is not disabled, and neither a disabling nor a
// second-factor reset came after the session began. (Sessions carry their own expiry and
// sign-outs; this is the account's side.) Sessions know when they began to the second only,
// so a session begun in the same second as the act is taken, on the safe side, as begun
// before it: it ends too.
func (st AccountStanding) SessionValid(issued time.Time) bool {
	return !st.Disabled && (st.SessionsValidFrom.IsZero() || issued.After(st.SessionsValidFrom.Truncate(time.Second)))
}

// MarkNoticesSeen records that the person read the help desk's notices.
func (s *Service) MarkNoticesSeen(ctx context.Context, accountID uuid.UUID) error {
	_, err := s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.MarkNoticesSeen(domain.MarkNoticesSeen{}, now), nil
	})
	if err != nil {
		return fmt.Errorf("mark notices seen: %w", err)
	}
	return nil
}

// helpDeskEvidence refuses a session as evidence of a sign-in when the help desk's acts say so:
// the account is disabled (domain.ErrAccountDisabled), the session began before a disabling or
// a reset ended the account's sessions (ErrNoSignInEvidence), or a reset awaits a new second
// factor (ErrEnrollmentRequired).
func (s *Service) helpDeskEvidence(ctx context.Context, accountID uuid.UUID, signedIn time.Time) error {
	st, err := s.Standing(ctx, accountID)
	switch {
	case err != nil:
		return err
	case st.Disabled:
		return domain.ErrAccountDisabled
	case !st.SessionValid(signedIn):
		return ErrNoSignInEvidence
	case st.EnrollmentRequired:
		return ErrEnrollmentRequired
	}
	return nil
}

// settled waits, on a service with read models (a server), until they hold what this service
// appended, so that the next request on this node sees the act; a service without them (the
// command line) has nothing to wait for.
func (s *Service) settled(ctx context.Context) error {
	if s.views == nil {
		return nil
	}
	return s.caughtUp(ctx)
}

// HelpDeskView is what an administrator sees of an account before acting: no secret, and not
// the person's history.
type HelpDeskView struct {
	AccountID          uuid.UUID
	Email              string // empty for an integration's user
	Username           string // an integration user's name
	MFAEnabled         bool
	Devices            int
	BackupCodesLeft    int
	BypassCodesLeft    int
	LockedUntil        time.Time // the second factor's lock in force; zero when none
	SignInLocks        []domain.SignInLockView
	Disabled           bool
	EnrollmentRequired bool
	EnrollBy           time.Time
}

// HelpDeskAccount returns the help desk's view of an account.
func (s *Service) HelpDeskAccount(ctx context.Context, accountID uuid.UUID) (HelpDeskView, error) {
	a, err := s.loadAccount(ctx, accountID)
	if err != nil {
		return HelpDeskView{}, fmt.Errorf("help desk account: %w", err)
	}
	now := s.now()
	v := HelpDeskView{
		AccountID: a.ID(), Email: a.Email().String(), Username: a.Username(), MFAEnabled: a.MFAEnabled(),
		Devices: len(a.LinkedDevices()), BackupCodesLeft: a.BackupCodesLeft(), BypassCodesLeft: a.BypassCodesLeft(now),
		SignInLocks: a.SignInLocks(now), Disabled: a.Disabled(),
	}
	if locked, until := a.Locked(now); locked {
		v.LockedUntil = until
	}
	v.EnrollmentRequired, v.EnrollBy = a.EnrollmentRequired()
	return v, nil
}

// oidcAccountActive refuses (domain.ErrAccountDisabled) a code or refresh token of an OpenID
// Connect authorization whose account the help desk disabled: its relying parties get no
// new tokens. An authorization not yet authenticated is left to the checks that follow.
func (s *Service) oidcAccountActive(ctx context.Context, id uuid.UUID) error {
	a, err := s.OIDCAuthorization(ctx, id)
	if err != nil {
		return nil // the checks that follow tell what is wrong with it
	}
	auth, ok := a.Authentication()
	if !ok {
		return nil
	}
	acc, err := s.loadAccount(ctx, auth.AccountID)
	if err != nil {
		return err
	}
	if acc.Disabled() {
		return domain.ErrAccountDisabled
	}
	return nil
}
