package httpapi

import (
	"context"
	"crypto/ed25519"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push"
)

// HubBackend lets the push hub ask the application what it needs.
type HubBackend struct{ App *app.Service }

var _ push.Backend = HubBackend{}

func (b HubBackend) DevicePublicKey(ctx context.Context, device uuid.UUID) (ed25519.PublicKey, error) {
	return b.App.DevicePublicKey(ctx, device)
}

func (b HubBackend) LinkedAccounts(ctx context.Context, device uuid.UUID) ([]uuid.UUID, error) {
	v, err := b.App.Device(ctx, device)
	if err != nil {
		return nil, err
	}
	return v.Accounts, nil
}

func (b HubBackend) PendingChallenges(ctx context.Context, device uuid.UUID) ([]push.Challenge, error) {
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

func (b HubBackend) AcknowledgeDelivery(ctx context.Context, device, challenge uuid.UUID) error {
	return b.App.AcknowledgeDelivery(ctx, device, challenge)
}

func (b HubBackend) Answer(ctx context.Context, device, challenge uuid.UUID, answer domain.Answer, number int, signature []byte) error {
	return b.App.AnswerChallenge(ctx, device, challenge, answer, number, signature)
}

func (b HubBackend) Outcome(ctx context.Context, challenge uuid.UUID) (push.Outcome, bool, error) {
	st, err := b.App.ChallengeStatus(ctx, challenge)
	if err != nil {
		return push.Outcome{}, false, err
	}
	o := outcomeOf(st)
	if o == nil {
		return push.Outcome{}, false, nil
	}
	return *o, true, nil
}
