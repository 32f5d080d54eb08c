package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/snapshots"
)

// ErrErasureUnavailable: the event store keeps no owner keys (EventStoreDB, for now), so
// personal fields are not sealed and an erasure could not make them unreadable; it is refused
// rather than half done.
var ErrErasureUnavailable = errors.New("erasure needs an event store that keeps account keys (SQLite or PostgreSQL)")

// Erasure is what an erasure did.
type Erasure struct {
	AccountID uuid.UUID
	At        time.Time
	// ClearEvents counts the account's events written before personal fields were sealed,
	// whose stored bytes still hold them: reads blank them, the bytes stay (docs/erasure.md).
	ClearEvents int
}

// EraseAccount erases the account (crypto-shredding, docs/erasure.md): the key that sealed its
// personal fields is destroyed, then its devices are unlinked and account.erased is appended,
// naming the administrator act.By with the reason act.Reason (an empty By is the person, whose
// fresh second factor the caller checked). Every session ends and every read model drops or
// blanks the account when it folds the event. Erasing an erased account again destroys the key
// again (in case the first erasure stopped between the two steps) and returns
// domain.ErrAccountErased.
func (s *Service) EraseAccount(ctx context.Context, accountID uuid.UUID, act domain.HelpDeskAct) (Erasure, error) {
	if !s.erasure.Enabled() {
		return Erasure{}, ErrErasureUnavailable
	}
	actor := accountActor(accountID)
	if act.By != "" {
		actor = helpDeskActor(act.By)
	}
	o := s.op(correlated(ctx), actor)
	a, err := s.loadAccountAny(o.ctx, accountID)
	if err != nil {
		return Erasure{}, fmt.Errorf("erase account: %w", err)
	}
	cmd := domain.EraseAccount{By: act.By, Reason: act.Reason}
	// Decide first, so that a refused command (no reason) destroys nothing.
	if d := a.EraseAccount(cmd, s.now()); d.Err != nil {
		if errors.Is(d.Err, domain.ErrAccountErased) {
			if err := s.erasure.Erase(o.ctx, accountID); err != nil {
				return Erasure{}, fmt.Errorf("erase account: %w", err)
			}
		}
		return Erasure{}, fmt.Errorf("erase account: %w", d.Err)
	}
	clear, err := s.clearEvents(o.ctx, accountID)
	if err != nil {
		return Erasure{}, fmt.Errorf("erase account: %w", err)
	}
	devices := a.LinkedDevices()
	if err := s.erasure.Erase(o.ctx, accountID); err != nil {
		return Erasure{}, fmt.Errorf("erase account: %w", err)
	}
	for _, d := range devices {
		// A device's own registration (its name and platform) is sealed under the device's key.
		if err := s.erasure.Erase(o.ctx, d.DeviceID); err != nil {
			return Erasure{}, fmt.Errorf("erase account: device %s: %w", d.DeviceID, err)
		}
	}
	var at time.Time
	var pending uuid.UUID
	_, err = o.updateAccount(accountID, func(a *domain.Account, now time.Time) (domain.Decision, error) {
		at = now
		pending, _ = a.PendingChallenge(now)
		return a.EraseAccount(cmd, now), nil
	})
	if err != nil {
		return Erasure{}, fmt.Errorf("erase account: %w", err)
	}
	// A pending sign-in goes too, with the browser and address it shows the devices.
	if pending != uuid.Nil {
		if err := s.cancel(o, pending, domain.CancelAbandoned); err != nil {
			return Erasure{}, fmt.Errorf("erase account: %w", err)
		}
	}
	s.forgetAccount(o.ctx, accountID)
	if err := s.settled(ctx); err != nil {
		return Erasure{}, fmt.Errorf("erase account: %w", err)
	}
	return Erasure{AccountID: accountID, At: at, ClearEvents: clear}, nil
}

// EraseOwnAccount is the person's own "delete my account": with 2FA on, challengeID must be a
// challenge of this account that passed at most domain.RedeemWindow ago, spent on it
// (domain.RedeemEraseAccount); with 2FA off, the password is asked again instead, from src.
// The checks come first, so that a refusal changes nothing.
func (s *Service) EraseOwnAccount(ctx context.Context, accountID, challengeID uuid.UUID, password string, src domain.SignInSource) (Erasure, error) {
	if !s.erasure.Enabled() {
		return Erasure{}, ErrErasureUnavailable
	}
	ctx = correlated(ctx)
	a, err := s.loadAccount(ctx, accountID)
	if err != nil {
		return Erasure{}, fmt.Errorf("erase account: %w", err)
	}
	if d := a.EraseAccount(domain.EraseAccount{}, s.now()); d.Err != nil {
		return Erasure{}, fmt.Errorf("erase account: %w", d.Err)
	}
	if a.MFAEnabled() {
		if err := s.RedeemChallenge(ctx, challengeID, accountID, domain.RedeemEraseAccount, nil); err != nil {
			return Erasure{}, fmt.Errorf("erase account: %w", err)
		}
	} else if err := s.verify(s.op(ctx, accountActor(accountID)), a, password, src); err != nil {
		return Erasure{}, fmt.Errorf("erase account: %w", err)
	}
	return s.EraseAccount(ctx, accountID, domain.HelpDeskAct{})
}

// loadAccountAny loads an account that exists or was erased; ErrNoSuchAccount otherwise.
func (s *Service) loadAccountAny(ctx context.Context, id uuid.UUID) (*domain.Account, error) {
	a, _, err := s.loadAccountStream(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Exists() && !a.Erased() {
		return nil, ErrNoSuchAccount
	}
	return a, nil
}

// clearEvents counts the events of the account's stream that hold personal fields in the
// clear: written before sealing existed.
func (s *Service) clearEvents(ctx context.Context, id uuid.UUID) (int, error) {
	recs, err := personal.Unwrap(s.store).ReadStream(ctx, domain.AccountStream(id), eventstore.ReadStreamOptions{})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range recs {
		if personal.HoldsClear(&recs[i]) {
			n++
		}
	}
	return n, nil
}

// forgetAccount replaces the account's snapshot on this node by the erased account's, which
// holds nothing personal. (Other nodes' snapshots are sealed under the account's key, and no
// longer open: personal.Snapshots.)
func (s *Service) forgetAccount(ctx context.Context, id uuid.UUID) {
	stream := domain.AccountStream(id)
	c := s.streams.get(stream)
	if s.snapshots == nil || c == nil || c.account == nil {
		return
	}
	data, err := c.account.MarshalSnapshot()
	if err == nil {
		err = s.snapshots.SaveSnapshot(context.WithoutCancel(ctx), stream, snapshots.Snapshot{Version: c.version, LastID: c.lastID, Schema: domain.AccountSnapshotSchema, Data: data})
	}
	if err != nil {
		slog.WarnContext(ctx, "snapshot of an erased account not replaced", "stream", stream, "err", err)
	}
}
