package app

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/projections"
)

// StartSession records a new session on its own stream (session.started), so that the account
// can see it among its sessions and end it. The session is named by cmd.SessionDigest, the
// SHA-256 of its ID. It returns once this node's read models have the session: a session
// begun in the same second as a cut of the account's sessions (domain.SessionsEnded) is told
// from the ones the cut ended by its start in the read model, as its cookie counts whole
// seconds.
func (s *Service) StartSession(ctx context.Context, cmd domain.StartSession) error {
	_, err := s.op(ctx, accountActor(cmd.AccountID)).update(domain.SessionStream(cmd.SessionDigest), sessionDecision(func(sess *domain.Session, now time.Time) domain.Decision {
		return sess.Start(cmd, now)
	}))
	if err == nil && s.views != nil {
		err = s.caughtUp(ctx)
	}
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	return nil
}

// SeeSession records that the session with this ID was used from ip, at most once per
// domain.SessionSeenEvery and only on the session's own stream. A session this node's read
// model does not know (begun before sessions were recorded), or saw less than a period ago,
// costs one read of the local read model and no write.
func (s *Service) SeeSession(ctx context.Context, accountID uuid.UUID, sessionID [16]byte, ip string) error {
	if s.views == nil {
		return nil
	}
	digest := sha256.Sum256(sessionID[:])
	v, ok := s.views.Sessions.Get(digest)
	if !ok || v.AccountID != accountID || s.now().Sub(v.LastSeen) < domain.SessionSeenEvery {
		return nil
	}
	_, err := s.op(ctx, accountActor(accountID)).update(domain.SessionStream(digest[:]), sessionDecision(func(sess *domain.Session, now time.Time) domain.Decision {
		return sess.See(ip, now)
	}))
	if err != nil {
		return fmt.Errorf("see session: %w", err)
	}
	return nil
}

func sessionDecision(decide func(*domain.Session, time.Time) domain.Decision) decideFunc {
	return func(events []domain.Event, now time.Time) (domain.Decision, error) {
		sess, err := domain.LoadSession(events)
		if err != nil {
			return domain.Decision{}, err
		}
		return decide(sess, now), nil
	}
}

// Sessions returns the account's sessions that have not expired, newest first.
func (s *Service) Sessions(ctx context.Context, accountID uuid.UUID) ([]projections.SessionView, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	return s.views.Sessions.ForAccount(accountID, s.now()), nil
}

// EndSession signs out one session of the account, named by its digest, on every node
// (account.signed_out, as SignOut). A digest of no live session of the account gives
// domain.ErrSessionNotFound.
func (s *Service) EndSession(ctx context.Context, accountID uuid.UUID, digest [sha256.Size]byte) error {
	if err := s.caughtUp(ctx); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	v, ok := s.views.Sessions.Get(digest)
	if !ok || v.AccountID != accountID || !s.now().Before(v.Expires) {
		return fmt.Errorf("end session: %w", domain.ErrSessionNotFound)
	}
	_, err := s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.SignOut(domain.SignOut{SessionDigest: digest[:], Until: v.Expires}, now), nil
	})
	if err == nil {
		err = s.caughtUp(ctx)
	}
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// EndOtherSessions ends every session of the account but the one keep names
// (account.sessions.ended); every node refuses them from then on. It returns once this node's
// read models have the cut.
func (s *Service) EndOtherSessions(ctx context.Context, accountID uuid.UUID, keep domain.EndSessions) error {
	_, err := s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.EndSessions(keep, now), nil
	})
	if err == nil {
		err = s.caughtUp(ctx)
	}
	if err != nil {
		return fmt.Errorf("end other sessions: %w", err)
	}
	return nil
}

// RenameDevice gives a device linked to the account a new name, as the account shows it.
func (s *Service) RenameDevice(ctx context.Context, accountID, deviceID uuid.UUID, name string) error {
	_, err := s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.RenameDevice(domain.RenameDevice{DeviceID: deviceID, Name: name}, now), nil
	})
	if err != nil {
		return fmt.Errorf("rename device: %w", err)
	}
	return nil
}

// RenameTOTPApp gives an authenticator app of the account a new name.
func (s *Service) RenameTOTPApp(ctx context.Context, accountID, appID uuid.UUID, name string) error {
	_, err := s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.RenameTOTPApp(domain.RenameTOTPApp{AppID: appID, Name: name}, now), nil
	})
	if err != nil {
		return fmt.Errorf("rename totp app: %w", err)
	}
	return nil
}

// RemoveTOTPApp removes one authenticator app; the account's last second factor is not
// removed while 2FA is on (domain.ErrLastSecondFactor).
func (s *Service) RemoveTOTPApp(ctx context.Context, accountID, appID uuid.UUID) error {
	_, err := s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.RemoveTOTPApp(domain.RemoveTOTPApp{AppID: appID}, now), nil
	})
	if err != nil {
		return fmt.Errorf("remove totp app: %w", err)
	}
	return nil
}

// ResumePush ends a pause of pushes that a fraud report set, with a fresh second factor:
// challengeID must be a challenge of this account that passed at most domain.RedeemWindow
// ago; it is spent on it (domain.RedeemResumePush). The account is checked first, so that a
// refusal (domain.ErrPushNotPaused) leaves the challenge unspent.
func (s *Service) ResumePush(ctx context.Context, accountID, challengeID uuid.UUID) error {
	ctx = correlated(ctx)
	a, err := s.loadAccount(ctx, accountID)
	if err != nil {
		return fmt.Errorf("resume push: %w", err)
	}
	cmd := domain.ResumePush{ChallengeID: challengeID}
	if d := a.ResumePush(cmd, s.now()); d.Err != nil {
		return fmt.Errorf("resume push: %w", d.Err)
	}
	if err := s.RedeemChallenge(ctx, challengeID, accountID, domain.RedeemResumePush, nil); err != nil {
		return fmt.Errorf("resume push: %w", err)
	}
	_, err = s.op(ctx, accountActor(accountID)).updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		return a.ResumePush(cmd, now), nil
	})
	if err != nil {
		return fmt.Errorf("resume push: %w", err)
	}
	return nil
}
