package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/projections"
)

// caughtUp waits until every projection has applied what this service appended, so that a
// caller reads its own writes, and on a store that is the only writer of its log, everything
// the log holds.
func (s *Service) caughtUp(ctx context.Context) error {
	if s.views == nil {
		return ErrNoProjections
	}
	at := s.Written()
	if s.heads != nil {
		// The only writer's head, which moves before anyone is told of a commit: a caller may
		// have heard of an event from a subscription before the append that wrote it returned
		// here (the push hub tells a login page that its challenge was approved, and the page
		// asks for the session at once).
		at = max(at, s.heads.Head())
	}
	return s.views.WaitFor(ctx, at)
}

// Account returns the security page's view of an account, or domain.ErrAccountNotFound.
func (s *Service) Account(ctx context.Context, id uuid.UUID) (projections.AccountView, error) {
	if err := s.caughtUp(ctx); err != nil {
		return projections.AccountView{}, fmt.Errorf("account: %w", err)
	}
	v, err := s.views.Accounts.Get(id)
	if errors.Is(err, projections.ErrNotFound) {
		return projections.AccountView{}, fmt.Errorf("account: %w", domain.ErrAccountNotFound)
	}
	return v, err
}

// Device returns a device and the accounts it is linked to, or domain.ErrDeviceNotFound.
func (s *Service) Device(ctx context.Context, id uuid.UUID) (projections.DeviceView, error) {
	if err := s.caughtUp(ctx); err != nil {
		return projections.DeviceView{}, fmt.Errorf("device: %w", err)
	}
	v, err := s.views.Devices.Get(id)
	if errors.Is(err, projections.ErrNotFound) {
		return projections.DeviceView{}, fmt.Errorf("device: %w", domain.ErrDeviceNotFound)
	}
	return v, err
}

// PendingChallengesForDevice returns the challenges still open for a device, oldest first,
// without their numbers: what a (re)connecting device is sent.
func (s *Service) PendingChallengesForDevice(ctx context.Context, deviceID uuid.UUID) ([]projections.PendingChallenge, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, fmt.Errorf("pending challenges: %w", err)
	}
	if s.heads == nil {
		// Several writers: a challenge another node issued a moment ago may be in the log,
		// and already past this node's push hub, before this node's read models have it.
		if h, ok := s.store.(eventstore.HeadReader); ok {
			if head, err := h.Head(ctx); err == nil {
				wctx, cancel := context.WithTimeout(ctx, crossNodeWait)
				defer cancel()
				if err := s.views.WaitFor(wctx, head); err != nil && ctx.Err() != nil {
					return nil, fmt.Errorf("pending challenges: %w", ctx.Err())
				}
			}
		}
	}
	return s.views.Pending.ForDevice(deviceID, s.now()), nil
}

// ChallengeStatus returns where a challenge stands, or domain.ErrChallengeNotFound. It holds
// the number: give it to the login page only. On a store of several writers (PostgreSQL,
// EventStoreDB), another node may have issued or answered the challenge a moment ago: a
// challenge this node does not know, or knows as pending, is first looked up in the log, and
// the read models are given up to crossNodeWait to reach its last event.
func (s *Service) ChallengeStatus(ctx context.Context, challengeID uuid.UUID) (projections.ChallengeStatus, error) {
	if err := s.caughtUp(ctx); err != nil {
		return projections.ChallengeStatus{}, fmt.Errorf("challenge status: %w", err)
	}
	st, err := s.views.Challenges.Get(challengeID)
	if s.heads == nil && (errors.Is(err, projections.ErrNotFound) || (err == nil && !st.State.Final())) {
		if err := s.reachStream(ctx, domain.ChallengeStream(challengeID)); err != nil {
			return projections.ChallengeStatus{}, fmt.Errorf("challenge status: %w", err)
		}
		st, err = s.views.Challenges.Get(challengeID)
	}
	if errors.Is(err, projections.ErrNotFound) {
		return projections.ChallengeStatus{}, fmt.Errorf("challenge status: %w", domain.ErrChallengeNotFound)
	}
	return st, err
}

// crossNodeWait bounds how long a query waits for this node's read models to reach what
// another node wrote; past it, the query answers with what the node has.
const crossNodeWait = 5 * time.Second

// reachStream waits until the read models have applied the last event that the log holds now
// in stream, or crossNodeWait has passed.
func (s *Service) reachStream(ctx context.Context, stream string) error {
	last, err := s.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1})
	if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(last) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, crossNodeWait)
	defer cancel()
	if err := s.views.WaitFor(wctx, last[0].Position); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// DevicePublicKey returns a device's Ed25519 public key, read from the device's stream (the
// authority, never stale), or domain.ErrDeviceNotFound. Transport authenticates device
// sockets with it.
func (s *Service) DevicePublicKey(ctx context.Context, deviceID uuid.UUID) (ed25519.PublicKey, error) {
	events, _, err := s.load(ctx, domain.DeviceStream(deviceID))
	if err != nil {
		return nil, fmt.Errorf("device public key: %w", err)
	}
	d, err := domain.LoadDevice(events)
	if err != nil {
		return nil, fmt.Errorf("device public key: %w", err)
	}
	if !d.Exists() {
		return nil, fmt.Errorf("device public key: %w", domain.ErrDeviceNotFound)
	}
	return ed25519.PublicKey(d.PublicKey()), nil
}
