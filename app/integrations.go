package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// IntegrationSecret is an integration's key pair as its application configures it. Secret is
// shown once, by the command that made it; never log it.
type IntegrationSecret struct {
	Key    domain.IntegrationKey
	Secret string
}

// Integration is an integration as the Auth API and the operator see it. Secret is the
// opened secret key, which checks request signatures; never log it.
type Integration struct {
	Key            domain.IntegrationKey
	Name           string
	NumberMatching bool
	LegacyV1       bool
	Disabled       bool
	CreatedAt      time.Time
	RotatedAt      time.Time
	Secret         []byte
}

// integrationKeyChars and integrationSecretChars are the alphabets of Duo's integration keys
// ("DI" + 18 of A-Z0-9) and secret keys (40 of A-Za-z0-9), so that any client that checks
// their shape accepts Assent's.
const (
	integrationKeyChars    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	integrationSecretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	integrationSecretLen   = 40
)

// randomString draws n characters of alphabet from r, without bias (rejection sampling).
func randomString(r io.Reader, alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// sealIntegrationSecret seals a secret key, bound to its integration key, so that a sealed
// secret copied into another integration's stream does not open.
func (s *Service) sealIntegrationSecret(k domain.IntegrationKey, secret string) ([]byte, error) {
	return s.keyring.Seal([]byte(secret), []byte("integration:"+k.String()))
}

// IntegrationOptions are an integration's settings beside its name.
type IntegrationOptions struct {
	// NumberMatching makes pushes ask for a number that the application must show.
	NumberMatching bool
	// LegacyV1 opens Duo's older /rest/v1 API to the integration.
	LegacyV1 bool
}

// CreateIntegration creates an integration of the Duo-compatible Auth API named name, with a
// new integration key and secret key.
func (s *Service) CreateIntegration(ctx context.Context, name string, opts ...IntegrationOptions) (IntegrationSecret, error) {
	var opt IntegrationOptions
	if len(opts) > 0 {
		opt = opts[0]
	}
	for range s.tries {
		raw, err := randomString(s.rand, integrationKeyChars, 18)
		if err != nil {
			return IntegrationSecret{}, fmt.Errorf("create integration: %w", err)
		}
		key, err := domain.ParseIntegrationKey("DI" + raw)
		if err != nil {
			return IntegrationSecret{}, fmt.Errorf("create integration: %w", err)
		}
		secret, err := randomString(s.rand, integrationSecretChars, integrationSecretLen)
		if err != nil {
			return IntegrationSecret{}, fmt.Errorf("create integration: %w", err)
		}
		sealed, err := s.sealIntegrationSecret(key, secret)
		if err != nil {
			return IntegrationSecret{}, fmt.Errorf("create integration: %w", err)
		}
		i, _ := domain.LoadIntegration(nil)
		d := i.Create(domain.CreateIntegration{Key: key, Name: name, SealedSecret: sealed, NumberMatching: opt.NumberMatching, LegacyV1: opt.LegacyV1}, s.now())
		if d.Err != nil {
			return IntegrationSecret{}, fmt.Errorf("create integration: %w", d.Err)
		}
		_, err = s.op(ctx, operatorActor).append(domain.IntegrationStream(key), eventstore.NoStream(), d.Events)
		if errors.Is(err, eventstore.ErrConflict) { // the key was drawn before: draw again
			continue
		}
		if err != nil {
			return IntegrationSecret{}, fmt.Errorf("create integration: %w", err)
		}
		return IntegrationSecret{Key: key, Secret: secret}, nil
	}
	return IntegrationSecret{}, fmt.Errorf("create integration: %w", ErrContention)
}

// operatorActor is the actor of the operator's administration commands.
const operatorActor = "operator"

// RotateIntegrationSecret replaces an integration's secret key and returns the new one; the
// old one no longer signs.
func (s *Service) RotateIntegrationSecret(ctx context.Context, key domain.IntegrationKey) (IntegrationSecret, error) {
	secret, err := randomString(s.rand, integrationSecretChars, integrationSecretLen)
	if err != nil {
		return IntegrationSecret{}, fmt.Errorf("rotate integration secret: %w", err)
	}
	sealed, err := s.sealIntegrationSecret(key, secret)
	if err != nil {
		return IntegrationSecret{}, fmt.Errorf("rotate integration secret: %w", err)
	}
	if _, err := s.op(ctx, operatorActor).updateIntegration(key, func(i *domain.Integration, now time.Time) domain.Decision {
		return i.RotateSecret(domain.RotateIntegrationSecret{SealedSecret: sealed}, now)
	}); err != nil {
		return IntegrationSecret{}, fmt.Errorf("rotate integration secret: %w", err)
	}
	return IntegrationSecret{Key: key, Secret: secret}, nil
}

// DisableIntegration turns an integration off: its requests are refused from then on.
func (s *Service) DisableIntegration(ctx context.Context, key domain.IntegrationKey) error {
	if _, err := s.op(ctx, operatorActor).updateIntegration(key, func(i *domain.Integration, now time.Time) domain.Decision {
		return i.Disable(domain.DisableIntegration{}, now)
	}); err != nil {
		return fmt.Errorf("disable integration: %w", err)
	}
	return nil
}

// Integration returns an integration with its opened secret key; domain.ErrIntegrationNotFound
// when there is none. The Auth API calls it on every request: the stream is cached and, on the
// embedded store, its known head spares the read.
func (s *Service) Integration(ctx context.Context, key domain.IntegrationKey) (Integration, error) {
	events, _, err := s.load(ctx, domain.IntegrationStream(key))
	if err != nil {
		return Integration{}, fmt.Errorf("integration: %w", err)
	}
	i, err := domain.LoadIntegration(events)
	if err != nil {
		return Integration{}, fmt.Errorf("integration: %w", err)
	}
	if !i.Exists() {
		return Integration{}, fmt.Errorf("integration: %w", domain.ErrIntegrationNotFound)
	}
	secret, err := s.keyring.Open(i.SealedSecret(), []byte("integration:"+key.String()))
	if err != nil {
		return Integration{}, fmt.Errorf("integration: open secret key: %w", err)
	}
	return Integration{Key: i.Key(), Name: i.Name(), NumberMatching: i.NumberMatching(), LegacyV1: i.LegacyV1(), Disabled: i.Disabled(), CreatedAt: i.CreatedAt(), RotatedAt: i.RotatedAt(), Secret: secret}, nil
}

// Integrations lists every integration, oldest first, without their secret keys. It reads the
// whole log (integrations are few and the operator lists them rarely), so it is for the admin
// command, not for the request path.
func (s *Service) Integrations(ctx context.Context) ([]Integration, error) {
	var keys []domain.IntegrationKey
	const page = 1000
	for after := eventstore.Start; ; {
		recs, err := s.store.ReadAll(ctx, after, page)
		if err != nil {
			return nil, fmt.Errorf("integrations: %w", err)
		}
		for _, r := range recs {
			if r.Type == (domain.IntegrationCreated{}).EventType() {
				e, err := domain.Decode(r.Type, r.SchemaVersion, r.Data)
				if err != nil {
					return nil, fmt.Errorf("integrations: %w", err)
				}
				keys = append(keys, e.(domain.IntegrationCreated).Key)
			}
			after = r.Position
		}
		if len(recs) < page {
			break
		}
	}
	out := make([]Integration, 0, len(keys))
	for _, k := range keys {
		i, err := s.Integration(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("integrations: %w", err)
		}
		i.Secret = nil
		out = append(out, i)
	}
	return out, nil
}

// updateIntegration runs update on an integration stream with the folded integration.
func (o *op) updateIntegration(key domain.IntegrationKey, decide func(i *domain.Integration, now time.Time) domain.Decision) (eventstore.AppendResult, error) {
	return o.update(domain.IntegrationStream(key), func(events []domain.Event, now time.Time) (domain.Decision, error) {
		i, err := domain.LoadIntegration(events)
		if err != nil {
			return domain.Decision{}, err
		}
		return decide(i, now), nil
	})
}
