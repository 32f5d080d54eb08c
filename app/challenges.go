package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/secrets"
)

// AcknowledgeDelivery records that a device received a challenge. Repeating it is a no-op;
// a device the challenge was not sent to gets domain.ErrDeviceNotLinked.
//
// A receipt is the one append that states no exact expected version: it is a fact about the
// device, true whatever else the challenge went through meanwhile, and every device that gets
// a challenge acknowledges it at the same moment. With an exact version those receipts would
// conflict with one another and retry; appended with "stream exists" they never do, and an
// answer racing them still holds its exact version (it reloads if a receipt landed first).
// A receipt that lands after the outcome records a delivery that did happen; readers ignore a
// device's second receipt.
func (s *Service) AcknowledgeDelivery(ctx context.Context, deviceID, challengeID uuid.UUID) error {
	o := s.op(ctx, deviceActor(deviceID))
	stream := domain.ChallengeStream(challengeID)
	events, _, err := s.load(o.ctx, stream)
	if err != nil {
		return fmt.Errorf("acknowledge delivery: %w", err)
	}
	c, err := domain.LoadChallenge(events)
	if err != nil {
		return fmt.Errorf("acknowledge delivery: %w", err)
	}
	d := c.AcknowledgeDelivery(domain.AcknowledgeDelivery{DeviceID: deviceID}, s.now())
	if len(d.Events) > 0 {
		if _, err := o.append(stream, eventstore.StreamExists(), d.Events); err != nil {
			return fmt.Errorf("acknowledge delivery: %w", err)
		}
	}
	if d.Err != nil {
		return fmt.Errorf("acknowledge delivery: %w", d.Err)
	}
	return nil
}

// AnswerChallenge records a device's signed answer: approve with the number typed (10 to
// 99), deny or report fraud with number 0. The device must be linked to the challenge's
// account now (the account stream says so) and listed in the challenge
// (domain.ErrDeviceNotLinked), and the signature must verify (domain.ErrBadSignature, nothing
// recorded). Of two answers racing, exactly one wins; the other gets
// domain.ErrChallengeAlreadyDecided. A wrong number (domain.ErrWrongNumber), a denial and a
// fraud report are mirrored on the account, where they count toward the lockout; a fraud
// report also mutes pushes.
func (s *Service) AnswerChallenge(ctx context.Context, deviceID, challengeID uuid.UUID, answer domain.Answer, number int, signature []byte) error {
	var n domain.MatchNumber
	switch answer {
	case domain.AnswerApprove:
		// 0 approves a challenge without number matching (checked below, once it is read).
		if number != 0 && (number < int(domain.MinMatchNumber) || number > int(domain.MaxMatchNumber)) {
			return fmt.Errorf("answer challenge: %w: the number must be from 10 to 99", ErrInvalidAnswer)
		}
		n = domain.MatchNumber(number)
	case domain.AnswerDeny, domain.AnswerFraud:
		if number != 0 {
			return fmt.Errorf("answer challenge: %w: deny and fraud answers carry the number 0", ErrInvalidAnswer)
		}
	default:
		return fmt.Errorf("answer challenge: %w: unknown answer", ErrInvalidAnswer)
	}
	ctx = correlated(ctx)
	c, first, err := s.readChallenge(ctx, challengeID)
	if err != nil {
		return fmt.Errorf("answer challenge: %w", err)
	}
	if answer == domain.AnswerApprove && number == 0 && !c.Context().NoNumber {
		return fmt.Errorf("answer challenge: %w: the number must be from 10 to 99", ErrInvalidAnswer)
	}
	a, err := s.loadAccount(ctx, c.AccountID())
	if err != nil {
		return fmt.Errorf("answer challenge: %w", err)
	}
	if !slices.ContainsFunc(a.LinkedDevices(), func(d domain.LinkedDevice) bool { return d.DeviceID == deviceID }) {
		return fmt.Errorf("answer challenge: %w", domain.ErrDeviceNotLinked)
	}
	o := s.op(ctx, deviceActor(deviceID))
	var failure domain.FailureReason
	// The first attempt decides on the challenge as read above; its exact version guards the
	// append, so a challenge that moved meanwhile conflicts and is read again. The account's
	// lockout state goes with an approval: a locked account, or a wrong number that locks it,
	// ends the challenge in the same append.
	res, err := o.updateChallengeFrom(challengeID, first, func(c *domain.Challenge, now time.Time) domain.Decision {
		var d domain.Decision
		switch answer {
		case domain.AnswerApprove:
			d = c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: n, Signature: signature, Lockout: a.Lockout(now, s.policy)}, now)
		case domain.AnswerDeny:
			d = c.Deny(domain.DenyChallenge{DeviceID: deviceID, Signature: signature}, now)
		default:
			d = c.ReportFraud(domain.ReportFraud{DeviceID: deviceID, Signature: signature}, now)
		}
		failure = failureOf(d.Events)
		return d
	})
	if res.Position != 0 && failure != (domain.FailureReason{}) {
		locked := false
		if _, ferr := o.updateAccount(c.AccountID(), func(a *domain.Account, now time.Time) (domain.Decision, error) {
			d := a.RecordChallengeFailure(domain.RecordChallengeFailure{ChallengeID: challengeID, DeviceID: deviceID, Reason: failure}, now, s.policy)
			locked = locks(d)
			return d, nil
		}); ferr != nil {
			err = errors.Join(err, ferr)
		}
		if locked { // the challenge ended with the failure already, unless the count moved meanwhile
			if lerr := s.cancel(o, challengeID, domain.CancelLocked); lerr != nil {
				err = errors.Join(err, lerr)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("answer challenge: %w", err)
	}
	return nil
}

// locks reports whether an account decision locks the second factor (or found it locked): then
// the account's pending challenge must end, so that no answer to it is evaluated any more.
func locks(d domain.Decision) bool {
	if errors.Is(d.Err, domain.ErrLocked) {
		return true
	}
	return slices.ContainsFunc(d.Events, func(e domain.Event) bool { _, ok := e.(domain.MFALocked); return ok })
}

// failureOf returns the account failure that a challenge's events call for, or the zero reason.
func failureOf(events []domain.Event) domain.FailureReason {
	for _, e := range events {
		switch e.(type) {
		case domain.NumberMismatched:
			return domain.FailureNumberMismatched
		case domain.ChallengeDenied:
			return domain.FailureDenied
		case domain.FraudReported:
			return domain.FailureFraudReported
		}
	}
	return domain.FailureReason{}
}

// CompleteWithTOTP passes a challenge with a TOTP code typed on the login page. The challenge
// is checked first (so that no code is spent on one that cannot take it); then the code is
// spent on the account (a wrong or reused code is recorded: domain.ErrWrongCode,
// domain.ErrCodeReused); then the challenge is completed. If another answer won meanwhile,
// domain.ErrChallengeAlreadyDecided.
func (s *Service) CompleteWithTOTP(ctx context.Context, challengeID uuid.UUID, code string) error {
	err := s.completeWithCode(ctx, challengeID,
		func(c *domain.Challenge, now time.Time) domain.Decision {
			return c.CompleteWithTOTP(domain.CompleteWithTOTP{SecretID: challengeID}, now)
		},
		func(a *domain.Account, now time.Time) (domain.Decision, error) {
			m, err := s.match(a.ID(), a.TOTPSecrets(), code, now)
			if err != nil {
				return domain.Decision{}, err
			}
			return a.UseTOTPCode(domain.UseTOTPCode{ChallengeID: challengeID, Match: m}, now, s.policy), nil
		},
		func(c *domain.Challenge, spent domain.Event, now time.Time) domain.Decision {
			u, _ := spent.(domain.TOTPCodeUsed)
			return c.CompleteWithTOTP(domain.CompleteWithTOTP{SecretID: u.SecretID, Step: u.Step}, now)
		})
	if err != nil {
		return fmt.Errorf("complete with totp: %w", err)
	}
	return nil
}

// CompleteWithBackupCode passes a challenge with a backup code, in the same order as
// CompleteWithTOTP. A code works once; a wrong or used one is recorded.
func (s *Service) CompleteWithBackupCode(ctx context.Context, challengeID uuid.UUID, code string) error {
	var candidates []string
	if bc, err := secrets.ParseBackupCode(code); err == nil {
		candidates = s.hasher.Candidates(bc)
	}
	err := s.completeWithCode(ctx, challengeID,
		func(c *domain.Challenge, now time.Time) domain.Decision {
			return c.CompleteWithBackupCode(domain.CompleteWithBackupCode{SetID: challengeID}, now)
		},
		func(a *domain.Account, now time.Time) (domain.Decision, error) {
			return a.UseBackupCode(domain.UseBackupCode{ChallengeID: challengeID, Candidates: candidates}, now, s.policy), nil
		},
		func(c *domain.Challenge, spent domain.Event, now time.Time) domain.Decision {
			u, _ := spent.(domain.BackupCodeUsed)
			return c.CompleteWithBackupCode(domain.CompleteWithBackupCode{SetID: u.SetID, Index: u.Index}, now)
		})
	if err != nil {
		return fmt.Errorf("complete with backup code: %w", err)
	}
	return nil
}

// completeWithCode runs the three steps of a code completion: check the challenge (appending
// only what a failed check records, such as its expiry), spend the code on the account, and
// complete the challenge with the event that spent it.
func (s *Service) completeWithCode(ctx context.Context, challengeID uuid.UUID,
	check func(*domain.Challenge, time.Time) domain.Decision,
	spend func(*domain.Account, time.Time) (domain.Decision, error),
	complete func(*domain.Challenge, domain.Event, time.Time) domain.Decision,
) error {
	ctx = correlated(ctx)
	var accountID uuid.UUID
	o := s.op(ctx, systemActor)
	if _, err := o.updateChallenge(challengeID, func(c *domain.Challenge, now time.Time) domain.Decision {
		accountID = c.AccountID()
		if d := check(c, now); d.Err != nil {
			return d
		}
		return domain.Decision{}
	}); err != nil {
		return err
	}
	o.actor = accountActor(accountID)
	var spent domain.Event
	locked := false
	if _, err := o.updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		d, err := spend(a, now)
		if err == nil && d.Err == nil && len(d.Events) > 0 {
			spent = d.Events[0]
		}
		locked = err == nil && locks(d)
		return d, err
	}); err != nil {
		if locked { // the lock ends the challenge: no further code or answer is evaluated
			err = errors.Join(err, s.cancel(o, challengeID, domain.CancelLocked))
		}
		return err
	}
	_, err := o.updateChallenge(challengeID, func(c *domain.Challenge, now time.Time) domain.Decision {
		return complete(c, spent, now)
	})
	return err
}

// ExpireDueChallenges expires every challenge the Pending projection holds as due at now and
// returns how many it expired, after the projections have caught up with this service's own
// writes. The projection only finds candidates: each expiry is decided
// on the challenge's stream, so a challenge answered meanwhile is left alone. The server runs
// it about every second.
func (s *Service) ExpireDueChallenges(ctx context.Context) (int, error) {
	if err := s.caughtUp(ctx); err != nil {
		return 0, fmt.Errorf("expire due challenges: %w", err)
	}
	n := 0
	var errs []error
	for _, id := range s.views.Pending.Due(s.now()) {
		res, err := s.op(ctx, systemActor).updateChallenge(id, func(c *domain.Challenge, now time.Time) domain.Decision {
			return c.Expire(domain.ExpireChallenge{}, now)
		})
		switch {
		case err == nil:
			if res.Position != 0 {
				n++
			}
		case errors.Is(err, domain.ErrChallengeAlreadyDecided), errors.Is(err, domain.ErrChallengeNotExpired):
		default:
			errs = append(errs, fmt.Errorf("expire challenge %s: %w", id, err))
		}
	}
	return n, errors.Join(errs...)
}

// RedeemChallenge spends a passed challenge on one purpose, once (domain.ChallengeRedeemed at
// the challenge's exact version): a session for the browser that started the sign-in
// (domain.RedeemSession, with the SHA-256 of the new session's ID), or a step-up of accountID.
// Of two redemptions racing, exactly one wins; the other, and every later one, gets
// domain.ErrChallengeRedeemed. A challenge that has not passed, passed more than
// domain.RedeemWindow ago or is another account's gives domain.ErrSecondFactorNeeded.
func (s *Service) RedeemChallenge(ctx context.Context, challengeID, accountID uuid.UUID, purpose domain.RedeemPurpose, sessionDigest []byte) error {
	ctx = correlated(ctx)
	c, first, err := s.readChallenge(ctx, challengeID)
	if err != nil {
		return fmt.Errorf("redeem challenge: %w", err)
	}
	// A challenge passed before its account was disabled no longer opens anything.
	if a, err := s.loadAccount(ctx, c.AccountID()); err != nil {
		return fmt.Errorf("redeem challenge: %w", err)
	} else if a.Disabled() {
		return fmt.Errorf("redeem challenge: %w", domain.ErrAccountDisabled)
	}
	cmd := domain.RedeemChallenge{Purpose: purpose, AccountID: accountID, SessionDigest: sessionDigest}
	if _, err := s.op(ctx, accountActor(c.AccountID())).updateChallengeFrom(challengeID, first, func(c *domain.Challenge, now time.Time) domain.Decision {
		return c.Redeem(cmd, now)
	}); err != nil {
		return fmt.Errorf("redeem challenge: %w", err)
	}
	return nil
}
