package main

import (
	"context"
	"crypto/ed25519"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push"
	"github.com/assent-dev/assent/transport/push/wire"
)

// hubBackend lets the push hub ask the application what it needs: the adapter between
// app.Service and push.Backend, beside the wiring that joins them.
type hubBackend struct{ App *app.Service }

var _ push.Backend = hubBackend{}

func (b hubBackend) DevicePublicKey(ctx context.Context, device uuid.UUID) (ed25519.PublicKey, error) {
	return b.App.DevicePublicKey(ctx, device)
}

func (b hubBackend) LinkedAccounts(ctx context.Context, device uuid.UUID) ([]uuid.UUID, error) {
	v, err := b.App.Device(ctx, device)
	if err != nil {
		return nil, err
	}
	return v.Accounts, nil
}

func (b hubBackend) PendingChallenges(ctx context.Context, device uuid.UUID) ([]push.Challenge, error) {
	pending, err := b.App.PendingChallengesForDevice(ctx, device)
	if err != nil {
		return nil, err
	}
	out := make([]push.Challenge, len(pending))
	for i, p := range pending {
		out[i] = push.Challenge{ID: p.ChallengeID, AccountID: p.AccountID, Context: p.Context, ExpiresAt: p.ExpiresAt}
	}
	return out, nil
}

func (b hubBackend) AcknowledgeDelivery(ctx context.Context, device, challenge uuid.UUID) error {
	return b.App.AcknowledgeDelivery(ctx, device, challenge)
}

func (b hubBackend) Answer(ctx context.Context, device, challenge uuid.UUID, answer domain.Answer, number int, signature []byte) error {
	return b.App.AnswerChallenge(ctx, device, challenge, answer, number, signature)
}

func (b hubBackend) Outcome(ctx context.Context, challenge uuid.UUID) (push.Outcome, bool, error) {
	st, err := b.App.ChallengeStatus(ctx, challenge)
	if err != nil {
		return push.Outcome{}, false, err
	}
	if !st.State.Final() {
		return push.Outcome{}, false, nil
	}
	return wire.NewOutcome(st.ChallengeID, st.State.Outcome(), st.DecidedBy, st.DecidedAt), true, nil
}
