package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/assent-dev/assent/domain"
)

// adminActor is the actor of what an administrator does from the command line.
const adminActor = "admin:cli"

// OIDCClientSpec is what an administrator registers.
type OIDCClientSpec struct {
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// Public clients (single-page and native apps) have no secret and must use PKCE.
	Public bool
	// RequireMFA sends a person without a second factor to turn one on before the client gets
	// an ID token, and refuses a sign-in proved by the password alone.
	RequireMFA bool
	// AskConsent asks the person, once per scope, whether the client may have what it asks for.
	AskConsent bool
}

// CreateOIDCClient registers a relying party and returns its ID and, for a confidential
// client, its secret: the only time the secret is seen; the log keeps its SHA-256.
func (s *Service) CreateOIDCClient(ctx context.Context, spec OIDCClientSpec) (clientID, secret string, err error) {
	id, err := randomToken(s.rand, 12)
	if err != nil {
		return "", "", fmt.Errorf("create oidc client: %w", err)
	}
	clientID = "assent-" + id
	var hash []byte
	if !spec.Public {
		if secret, err = randomToken(s.rand, 32); err != nil {
			return "", "", fmt.Errorf("create oidc client: %w", err)
		}
		sum := sha256.Sum256([]byte(secret))
		hash = sum[:]
	}
	_, err = s.op(correlated(ctx), adminActor).update(domain.OIDCClientsStream, func(events []domain.Event, now time.Time) (domain.Decision, error) {
		cs, err := domain.LoadOIDCClients(events)
		if err != nil {
			return domain.Decision{}, err
		}
		return cs.Register(domain.RegisterOIDCClient{
			ClientID: clientID, Name: spec.Name, RedirectURIs: spec.RedirectURIs,
			PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs, Public: spec.Public, SecretHash: hash, RequireMFA: spec.RequireMFA,
			AskConsent: spec.AskConsent,
		}, now), nil
	})
	if err != nil {
		return "", "", fmt.Errorf("create oidc client: %w", err)
	}
	return clientID, secret, nil
}

// OIDCClients returns every registered client, in the order of registration.
func (s *Service) OIDCClients(ctx context.Context) ([]domain.OIDCClient, error) {
	cs, err := s.loadOIDCClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("oidc clients: %w", err)
	}
	return cs.All(), nil
}

// OIDCClient returns one client, or domain.ErrOIDCClientNotFound. It reads the stream, so a
// disabled client is refused at once.
func (s *Service) OIDCClient(ctx context.Context, id string) (domain.OIDCClient, error) {
	cs, err := s.loadOIDCClients(ctx)
	if err != nil {
		return domain.OIDCClient{}, fmt.Errorf("oidc client: %w", err)
	}
	c, err := cs.Get(id)
	if err != nil {
		return domain.OIDCClient{}, fmt.Errorf("oidc client: %w", err)
	}
	return c, nil
}

func (s *Service) loadOIDCClients(ctx context.Context) (*domain.OIDCClients, error) {
	events, _, err := s.load(ctx, domain.OIDCClientsStream)
	if err != nil {
		return nil, err
	}
	return domain.LoadOIDCClients(events)
}

// RotateOIDCClientSecret gives a confidential client a new secret and returns it; the old one
// stops working at once.
func (s *Service) RotateOIDCClientSecret(ctx context.Context, clientID string) (string, error) {
	secret, err := randomToken(s.rand, 32)
	if err != nil {
		return "", fmt.Errorf("rotate oidc client secret: %w", err)
	}
	sum := sha256.Sum256([]byte(secret))
	_, err = s.op(correlated(ctx), adminActor).update(domain.OIDCClientsStream, func(events []domain.Event, now time.Time) (domain.Decision, error) {
		cs, err := domain.LoadOIDCClients(events)
		if err != nil {
			return domain.Decision{}, err
		}
		return cs.RotateSecret(domain.RotateOIDCClientSecret{ClientID: clientID, SecretHash: sum[:]}, now), nil
	})
	if err != nil {
		return "", fmt.Errorf("rotate oidc client secret: %w", err)
	}
	return secret, nil
}

// DisableOIDCClient stops a client: no new sign-in, no token, no refresh.
func (s *Service) DisableOIDCClient(ctx context.Context, clientID string) error {
	_, err := s.op(correlated(ctx), adminActor).update(domain.OIDCClientsStream, func(events []domain.Event, now time.Time) (domain.Decision, error) {
		cs, err := domain.LoadOIDCClients(events)
		if err != nil {
			return domain.Decision{}, err
		}
		return cs.Disable(domain.DisableOIDCClient{ClientID: clientID}, now), nil
	})
	if err != nil {
		return fmt.Errorf("disable oidc client: %w", err)
	}
	return nil
}

// OIDCSigningKey is a signing key opened with the keyring.
type OIDCSigningKey struct {
	ID        string
	Algorithm string
	Key       *rsa.PrivateKey
	AddedAt   time.Time
}

// oidcKeyAD is the associated data a signing key is sealed with: its key ID.
func oidcKeyAD(keyID string) []byte { return []byte("oidc-signing-key:" + keyID) }

// RotateOIDCSigningKey adds a new RS256 signing key, sealed with the keyring, and returns its
// ID. ID tokens are signed with it from now on; the key before it stays in the key set.
func (s *Service) RotateOIDCSigningKey(ctx context.Context) (string, error) {
	return s.addOIDCSigningKey(ctx, false)
}

// EnsureOIDCSigningKey adds a first signing key when there is none; a server calls it at start.
func (s *Service) EnsureOIDCSigningKey(ctx context.Context) error {
	_, err := s.addOIDCSigningKey(ctx, true)
	return err
}

func (s *Service) addOIDCSigningKey(ctx context.Context, onlyFirst bool) (string, error) {
	if onlyFirst {
		if _, _, ok, err := s.sealedOIDCKeys(ctx); err != nil || ok {
			return "", err
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("oidc signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("oidc signing key: %w", err)
	}
	idBytes := make([]byte, 8)
	if _, err := io.ReadFull(s.rand, idBytes); err != nil {
		return "", fmt.Errorf("oidc signing key: %w", err)
	}
	keyID := hex.EncodeToString(idBytes)
	sealed, err := s.keyring.Seal(der, oidcKeyAD(keyID))
	if err != nil {
		return "", fmt.Errorf("oidc signing key: %w", err)
	}
	_, err = s.op(correlated(ctx), adminActor).update(domain.OIDCKeysStream, func(events []domain.Event, now time.Time) (domain.Decision, error) {
		ks, err := domain.LoadOIDCKeys(events)
		if err != nil {
			return domain.Decision{}, err
		}
		if _, _, ok := ks.Current(); ok && onlyFirst {
			return domain.Decision{}, nil // another node added the first key meanwhile
		}
		return ks.Add(domain.AddOIDCSigningKey{KeyID: keyID, Algorithm: "RS256", SealedKey: sealed}, now), nil
	})
	if err != nil {
		return "", fmt.Errorf("oidc signing key: %w", err)
	}
	return keyID, nil
}

func (s *Service) sealedOIDCKeys(ctx context.Context) (current, previous domain.OIDCSigningKey, ok bool, err error) {
	events, _, err := s.load(ctx, domain.OIDCKeysStream)
	if err != nil {
		return current, previous, false, err
	}
	ks, err := domain.LoadOIDCKeys(events)
	if err != nil {
		return current, previous, false, err
	}
	current, previous, ok = ks.Current()
	return current, previous, ok, nil
}

// OIDCSigningKeys returns, sealed, the key that signs and the one before it (zero when there
// is none), or domain.ErrOIDCSigningKeyMissing. The caller opens each with OpenOIDCSigningKey
// once and keeps it by its ID.
func (s *Service) OIDCSigningKeys(ctx context.Context) (current, previous domain.OIDCSigningKey, err error) {
	current, previous, ok, err := s.sealedOIDCKeys(ctx)
	if err != nil {
		return current, previous, fmt.Errorf("oidc signing keys: %w", err)
	}
	if !ok {
		return current, previous, fmt.Errorf("oidc signing keys: %w", domain.ErrOIDCSigningKeyMissing)
	}
	return current, previous, nil
}

// OpenOIDCSigningKey opens a sealed signing key with the keyring.
func (s *Service) OpenOIDCSigningKey(k domain.OIDCSigningKey) (OIDCSigningKey, error) {
	der, err := s.keyring.Open(k.SealedKey, oidcKeyAD(k.KeyID))
	if err != nil {
		return OIDCSigningKey{}, fmt.Errorf("open oidc signing key %s: %w", k.KeyID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return OIDCSigningKey{}, fmt.Errorf("open oidc signing key %s: %w", k.KeyID, err)
	}
	rk, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return OIDCSigningKey{}, fmt.Errorf("open oidc signing key %s: not an RSA key", k.KeyID)
	}
	return OIDCSigningKey{ID: k.KeyID, Algorithm: k.Algorithm, Key: rk, AddedAt: k.AddedAt}, nil
}

// randomToken returns n random bytes from r, base64url without padding.
func randomToken(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
