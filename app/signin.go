package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/secrets"
)

// Bounds of a new password, in bytes.
const (
	minPasswordLen = 8
	maxPasswordLen = secrets.MaxPasswordLen
)

// Register creates an account. The email is claimed in its own stream with the version
// loaded, so that of two registrations of one address exactly one wins on every backend; the
// other gets domain.ErrEmailTaken. The password is stored as an argon2id hash.
func (s *Service) Register(ctx context.Context, email, password string) (uuid.UUID, error) {
	addr, err := domain.ParseEmail(email)
	if err != nil {
		return uuid.Nil, fmt.Errorf("register: %w", err)
	}
	if len(password) < minPasswordLen || len(password) > maxPasswordLen {
		return uuid.Nil, fmt.Errorf("register: %w", ErrInvalidPassword)
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return uuid.Nil, fmt.Errorf("register: %w", err)
	}
	return s.register(ctx, addr, hash)
}

// register claims the email and creates the account with a password hash already made. On a
// store that appends to several streams at once, the claim and the account are one atomic
// write: no failure can leave one without the other. On another store they are two appends,
// and a failure between them leaves a claim whose account does not exist; a later registration
// takes such a claim over once it is domain.UnfinishedClaimTakeover old (as it does a claim
// left so by an earlier version).
func (s *Service) register(ctx context.Context, addr domain.Email, hash string) (uuid.UUID, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, fmt.Errorf("register: %w", err)
	}
	o := s.op(correlated(ctx), accountActor(id))
	multi, atomic := s.store.(eventstore.MultiStreamAppender)
	names, err := s.emailStreams(o.ctx, addr)
	if err != nil {
		return uuid.Nil, fmt.Errorf("register: %w", err)
	}
	emailStream := names[0] // new claims go under the primary key's name
	for range s.tries {
		// A claim under an older name (an older key, or the unkeyed name of earlier versions)
		// whose account exists holds the address too.
		for _, older := range names[1:] {
			events, _, err := s.load(o.ctx, older)
			if err != nil {
				return uuid.Nil, fmt.Errorf("register: %w", err)
			}
			claim, err := domain.LoadEmailClaim(events)
			if err != nil {
				return uuid.Nil, fmt.Errorf("register: %w", err)
			}
			if holder := claim.AccountID(); holder != uuid.Nil {
				if a, _, err := s.loadAccountStream(o.ctx, holder); err != nil {
					return uuid.Nil, fmt.Errorf("register: %w", err)
				} else if a.Exists() {
					return uuid.Nil, fmt.Errorf("register: %w", domain.ErrEmailTaken)
				}
			}
		}
		events, expected, err := s.load(o.ctx, emailStream)
		if err != nil {
			return uuid.Nil, fmt.Errorf("register: %w", err)
		}
		claim, err := domain.LoadEmailClaim(events)
		if err != nil {
			return uuid.Nil, fmt.Errorf("register: %w", err)
		}
		cmd := domain.ClaimEmail{AccountID: id}
		if holder := claim.AccountID(); holder != uuid.Nil {
			a, _, err := s.loadAccountStream(o.ctx, holder)
			switch {
			case err != nil:
				return uuid.Nil, fmt.Errorf("register: %w", err)
			case a.Erased():
				cmd.HolderErased = true // the address is free again (docs/erasure.md)
			case !a.Exists():
				cmd.HolderMissing = true
			}
		}
		now := s.now()
		d := claim.Claim(cmd, now)
		if d.Err != nil {
			return uuid.Nil, fmt.Errorf("register: %w", d.Err)
		}
		account, err := domain.LoadAccount(nil)
		if err != nil {
			return uuid.Nil, fmt.Errorf("register: %w", err)
		}
		ad := account.Register(domain.RegisterAccount{AccountID: id, Email: addr, PasswordHash: hash}, now)
		if ad.Err != nil {
			return uuid.Nil, fmt.Errorf("register: %w", ad.Err)
		}
		if atomic {
			_, err = o.appendAll(multi,
				streamEvents{emailStream, expected, d.Events},
				streamEvents{domain.AccountStream(id), eventstore.NoStream(), ad.Events})
		} else {
			_, err = o.append(emailStream, expected, d.Events)
			if err == nil {
				_, err = o.append(domain.AccountStream(id), eventstore.NoStream(), ad.Events)
			}
		}
		if errors.Is(err, eventstore.ErrConflict) {
			continue // the email stream moved: decide again on what it holds now
		}
		if err != nil {
			return uuid.Nil, fmt.Errorf("register: %w", err)
		}
		return id, nil
	}
	return uuid.Nil, fmt.Errorf("register: %w: %s", ErrContention, emailStream)
}

// SignInResult is the outcome of a correct password: either a session (2FA is off) or a
// challenge the login page shows and awaits.
type SignInResult struct {
	AccountID uuid.UUID
	// SessionGranted is true when the password was enough: 2FA is off.
	SessionGranted bool
	// Challenge is the challenge issued when 2FA is on; nil when SessionGranted.
	Challenge *IssuedChallenge
	// EnrollmentRequired: the help desk reset the second factor; the session granted is for
	// setting up a new one, by EnrollBy (OpenID Connect refuses it until one is on).
	EnrollmentRequired bool
	EnrollBy           time.Time
}

// IssuedChallenge is a challenge as the login page needs it.
type IssuedChallenge struct {
	ID uuid.UUID
	// Number is the two-digit number the login page shows (never sent to a device).
	Number    int
	ExpiresAt time.Time
	// Devices is the number of devices the challenge was pushed to; 0 when pushes are muted
	// or no device is linked: the login page then asks for a code.
	Devices   int
	PushMuted bool
	// Position is the log position of challenge.issued.
	Position eventstore.Position
}

// SignIn checks the password. A wrong one (or an unknown email) is ErrInvalidCredentials;
// for a known account it is recorded with its source, the client's address lc.IP
// (account.signin.failed), and repeated failures from one source lock that source out of the
// account (account.signin.locked). While a lock holds, no password is checked: a
// *domain.LockedError (domain.ErrSignInLocked for the source, domain.ErrLocked for a second
// factor locked by failed codes or answers) answers right and wrong passwords alike. With 2FA
// on, it issues a challenge pushed to the linked devices, supersedes the account's previous
// pending challenge and cancels it.
func (s *Service) SignIn(ctx context.Context, email, password string, lc domain.LoginContext) (SignInResult, error) {
	ctx = correlated(ctx)
	a, err := s.checkPassword(ctx, email, password, domain.SourceOfIP(lc.IP))
	if err != nil {
		return SignInResult{}, fmt.Errorf("sign in: %w", err)
	}
	if !a.MFAEnabled() {
		req, by := a.EnrollmentRequired()
		return SignInResult{AccountID: a.ID(), SessionGranted: true, EnrollmentRequired: req, EnrollBy: by}, nil
	}
	ic, err := s.issueChallenge(s.op(ctx, accountActor(a.ID())), a.ID(), lc)
	if err != nil {
		return SignInResult{}, fmt.Errorf("sign in: %w", err)
	}
	return SignInResult{AccountID: a.ID(), Challenge: &ic}, nil
}

// SignOut records that a session of the account ended before its expiry, until, so that every
// node refuses it from then on (projections.SignOuts). The session is named by the SHA-256 of
// its ID. It returns once this node's read models have the sign-out, so that the next request
// here is refused.
func (s *Service) SignOut(ctx context.Context, accountID uuid.UUID, sessionID [16]byte, until time.Time) error {
	digest := sha256.Sum256(sessionID[:])
	_, err := s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.SignOut(domain.SignOut{SessionDigest: digest[:], Until: until}, now), nil
	})
	if err == nil {
		err = s.caughtUp(ctx)
	}
	if err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}

// sessionSource is the source of password checks made within a session (ChangePassword).
const sessionSource domain.SignInSource = "session"

// ChangePassword replaces the password after checking the current one (a wrong one is
// recorded as a failed sign-in from the source "session" and returns ErrInvalidCredentials),
// and ends every other session of the account in the same append (account.sessions.ended):
// keep names the session that asked and when the newest session ends.
func (s *Service) ChangePassword(ctx context.Context, accountID uuid.UUID, current, next string, keep domain.EndSessions) error {
	if len(next) < minPasswordLen || len(next) > maxPasswordLen {
		return fmt.Errorf("change password: %w", ErrInvalidPassword)
	}
	a, err := s.loadAccount(ctx, accountID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	o := s.op(ctx, accountActor(accountID))
	if err := s.verify(o, a, current, sessionSource); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	hash, err := s.hashPassword(ctx, next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	_, err = o.updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return then(a, a.ChangePassword(domain.ChangePassword{PasswordHash: hash}, now), func(a *domain.Account) domain.Decision {
			return a.EndSessions(keep, now)
		})
	})
	if err == nil {
		err = s.caughtUp(ctx)
	}
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return nil
}

// checkPassword finds the account of email and verifies password against it, from src. Unknown
// emails cost the same argon2id work as known ones, and wait for their turn the same way.
func (s *Service) checkPassword(ctx context.Context, email, password string, src domain.SignInSource) (*domain.Account, error) {
	addr, err := domain.ParseEmail(email)
	if err != nil {
		return nil, s.unknownAccount(ctx, password)
	}
	holder, err := s.emailHolder(ctx, addr)
	if err != nil {
		return nil, err
	}
	if holder == uuid.Nil {
		return nil, s.unknownAccount(ctx, password)
	}
	a, err := s.loadAccount(ctx, holder)
	if errors.Is(err, domain.ErrAccountNotFound) { // a claim whose registration did not finish
		return nil, s.unknownAccount(ctx, password)
	}
	if err != nil {
		return nil, err
	}
	if err := s.verify(s.op(ctx, accountActor(a.ID())), a, password, src); err != nil {
		return nil, err
	}
	// Only a correct password learns that the account is disabled, or that the time to set up
	// a new second factor after a reset is over.
	if err := a.CheckAccess(s.now()); err != nil {
		return nil, err
	}
	return a, nil
}

// unknownAccount answers a password check of an email with no account: ErrInvalidCredentials,
// after the same work and the same wait as a known one (or the same ErrBusy).
func (s *Service) unknownAccount(ctx context.Context, password string) error {
	if err := s.burnPasswordCheck(ctx, password); err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// verify checks password against the account's hash and records a failure from src when it is
// wrong. While a lock holds (domain.Account.CheckSignIn) the password is not checked at all, so
// that a right one and a wrong one get the same refusal.
func (s *Service) verify(o *op, a *domain.Account, password string, src domain.SignInSource) error {
	if err := a.CheckSignIn(src, s.now()); err != nil {
		return err
	}
	ok, err := s.verifyPassword(o.ctx, password, a.PasswordHash())
	if err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	if ok {
		return nil
	}
	if _, err := o.updateAccount(a.ID(), func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.RecordFailedSignIn(domain.RecordFailedSignIn{Source: src}, now, s.policy), nil
	}); err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// issueChallenge opens a challenge for an account whose password was verified, with a number
// to match.
func (s *Service) issueChallenge(o *op, accountID uuid.UUID, lc domain.LoginContext) (IssuedChallenge, error) {
	number, err := domain.NewMatchNumber(s.rand)
	if err != nil {
		return IssuedChallenge{}, err
	}
	return s.issue(o, accountID, domain.IssueChallenge{Number: number, Context: lc})
}

// issue opens the challenge cmd describes (its ID is made here): the account stream (at its
// exact version, serializing concurrent sign-ins) and the challenge stream, then the
// superseded challenge is cancelled. On a store that appends to several streams at once, the
// account's and the challenge's events are one atomic write, so a sign-in waits for one
// durable commit instead of two in a row; on another store they are two appends, the account
// first (a failure between them leaves a pending challenge with no stream, which the next
// challenge supersedes).
func (s *Service) issue(o *op, accountID uuid.UUID, cmd domain.IssueChallenge) (IssuedChallenge, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return IssuedChallenge{}, err
	}
	cmd.ChallengeID = id
	var issue domain.ChallengeIssue
	var res eventstore.AppendResult
	if multi, atomic := s.store.(eventstore.MultiStreamAppender); atomic {
		issue, res, err = s.issueAtomic(o, multi, accountID, cmd)
		if err != nil {
			return IssuedChallenge{}, err
		}
	} else {
		if _, err := o.updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
			issue, err = a.IssueChallenge(cmd, now, s.policy)
			return domain.Decision{Events: issue.AccountEvents}, err
		}); err != nil {
			return IssuedChallenge{}, err
		}
		if res, err = o.append(domain.ChallengeStream(id), eventstore.NoStream(), issue.ChallengeEvents); err != nil {
			return IssuedChallenge{}, err
		}
	}
	if issue.Superseded != uuid.Nil {
		if err := s.cancel(o, issue.Superseded, domain.CancelSuperseded); err != nil {
			return IssuedChallenge{}, err
		}
	}
	issued, ok := issue.ChallengeEvents[0].(domain.ChallengeIssued)
	if !ok {
		return IssuedChallenge{}, fmt.Errorf("issue challenge: unexpected event %s", issue.ChallengeEvents[0].EventType())
	}
	return IssuedChallenge{
		ID: id, Number: int(issued.Number), ExpiresAt: issued.ExpiresAt,
		Devices: len(issued.Devices), PushMuted: issued.PushMuted, Position: res.Position,
	}, nil
}

// issueAtomic decides cmd on the account and appends the account's and the challenge's
// events in one write of multi, the account at the version loaded: on a conflict it loads
// and decides again, at most MaxAttempts times in all. It returns the challenge append's
// result.
func (s *Service) issueAtomic(o *op, multi eventstore.MultiStreamAppender, accountID uuid.UUID, cmd domain.IssueChallenge) (domain.ChallengeIssue, eventstore.AppendResult, error) {
	stream := domain.AccountStream(accountID)
	for range s.tries {
		a, expected, err := s.loadAccountStream(o.ctx, accountID)
		if err != nil {
			return domain.ChallengeIssue{}, eventstore.AppendResult{}, err
		}
		issue, err := a.IssueChallenge(cmd, s.now(), s.policy)
		if err != nil {
			return domain.ChallengeIssue{}, eventstore.AppendResult{}, err
		}
		parts := []streamEvents{{domain.ChallengeStream(cmd.ChallengeID), eventstore.NoStream(), issue.ChallengeEvents}}
		if len(issue.AccountEvents) > 0 {
			parts = append([]streamEvents{{stream, expected, issue.AccountEvents}}, parts...)
		}
		res, err := o.appendAll(multi, parts...)
		if errors.Is(err, eventstore.ErrConflict) {
			continue // the account moved: decide again on what it holds now
		}
		if err != nil {
			return domain.ChallengeIssue{}, eventstore.AppendResult{}, err
		}
		return issue, res[len(res)-1], nil
	}
	return domain.ChallengeIssue{}, eventstore.AppendResult{}, fmt.Errorf("%w: %s", ErrContention, stream)
}

// cancel withdraws a challenge; one that is already decided, expired or missing (a crash
// between the account and the challenge appends) needs nothing more.
func (s *Service) cancel(o *op, id uuid.UUID, reason domain.CancelReason) error {
	_, err := o.updateChallenge(id, func(c *domain.Challenge, now time.Time) domain.Decision {
		return c.Cancel(domain.CancelChallenge{Reason: reason}, now)
	})
	switch {
	case err == nil, errors.Is(err, domain.ErrChallengeAlreadyDecided), errors.Is(err, domain.ErrChallengeExpired),
		errors.Is(err, domain.ErrChallengeNotFound), errors.Is(err, domain.ErrChallengeLocked):
		return nil
	}
	return fmt.Errorf("cancel challenge: %w", err)
}
