package domain

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Errors of the OpenID Connect provider's aggregates. Check them with errors.Is.
var (
	ErrOIDCClientNotFound      = errors.New("oidc client not found")
	ErrOIDCClientExists        = errors.New("oidc client already registered")
	ErrOIDCClientDisabled      = errors.New("oidc client disabled")
	ErrOIDCClientPublic        = errors.New("oidc client is public and has no secret")
	ErrInvalidRedirectURI      = errors.New("invalid redirect uri")
	ErrOIDCSigningKeyExists    = errors.New("oidc signing key already added")
	ErrOIDCSigningKeyMissing   = errors.New("no oidc signing key")
	ErrOIDCAuthorizationNone   = errors.New("oidc authorization not found")
	ErrOIDCAuthorizationExists = errors.New("oidc authorization already requested")
	ErrOIDCAuthorizationDone   = errors.New("oidc authorization expired or already used")
	ErrOIDCNotAuthenticated    = errors.New("oidc authorization not authenticated")
	ErrOIDCInvalidCode         = errors.New("invalid authorization code")
	ErrOIDCCodeExpired         = errors.New("authorization code expired")
	ErrOIDCCodeReused          = errors.New("authorization code already used")
	ErrOIDCInvalidRefreshToken = errors.New("invalid refresh token")
	ErrOIDCRefreshTokenReused  = errors.New("refresh token already used")
	ErrOIDCRevoked             = errors.New("oidc authorization revoked")
)

// OIDCClientsStream is the one stream of every OpenID Connect client: "oidc-clients".
const OIDCClientsStream = "oidc-clients"

// OIDCClient is one registered relying party, as the clients stream folds it. It is a copy.
type OIDCClient struct {
	ID                     string
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Public                 bool
	RequireMFA             bool
	AskConsent             bool
	Disabled               bool
	RegisteredAt           time.Time
	secretHash             []byte
}

// CheckSecret reports whether secret is the client's current secret. A public client has none.
func (c OIDCClient) CheckSecret(secret string) bool {
	if c.Public || len(c.secretHash) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], c.secretHash) == 1
}

// OIDCClients is the set of registered clients.
type OIDCClients struct {
	byID  map[string]*OIDCClient
	order []string
}

// LoadOIDCClients folds the clients stream.
func LoadOIDCClients(events []Event) (*OIDCClients, error) {
	cs := &OIDCClients{byID: map[string]*OIDCClient{}}
	for _, e := range events {
		switch e := e.(type) {
		case OIDCClientRegistered:
			cs.byID[e.ClientID] = &OIDCClient{
				ID: e.ClientID, Name: e.Name, RedirectURIs: slices.Clone(e.RedirectURIs),
				PostLogoutRedirectURIs: slices.Clone(e.PostLogoutRedirectURIs), Public: e.Public,
				RequireMFA: e.RequireMFA, AskConsent: e.AskConsent, RegisteredAt: e.At, secretHash: slices.Clone(e.SecretHash),
			}
			cs.order = append(cs.order, e.ClientID)
		case OIDCClientSecretRotated:
			if c := cs.byID[e.ClientID]; c != nil {
				c.secretHash = slices.Clone(e.SecretHash)
			}
		case OIDCClientDisabled:
			if c := cs.byID[e.ClientID]; c != nil {
				c.Disabled = true
			}
		default:
			return nil, fmt.Errorf("load oidc clients: unexpected event %s", e.EventType())
		}
	}
	return cs, nil
}

// Get returns a copy of the client, or ErrOIDCClientNotFound.
func (cs *OIDCClients) Get(id string) (OIDCClient, error) {
	c, ok := cs.byID[id]
	if !ok {
		return OIDCClient{}, ErrOIDCClientNotFound
	}
	out := *c
	out.RedirectURIs = slices.Clone(c.RedirectURIs)
	out.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	return out, nil
}

// All returns every client in the order of registration.
func (cs *OIDCClients) All() []OIDCClient {
	out := make([]OIDCClient, 0, len(cs.order))
	for _, id := range cs.order {
		c, _ := cs.Get(id)
		out = append(out, c)
	}
	return out
}

// RegisterOIDCClient registers a relying party. SecretHash is the SHA-256 of the secret of a
// confidential client, and empty for a public one.
type RegisterOIDCClient struct {
	ClientID               string
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Public                 bool
	SecretHash             []byte
	RequireMFA             bool
	AskConsent             bool
}

// Register decides RegisterOIDCClient. Redirect URIs are absolute, without fragment, https or
// http on a loopback address (RFC 8252), and are later matched exactly.
func (cs *OIDCClients) Register(cmd RegisterOIDCClient, now time.Time) Decision {
	name := strings.TrimSpace(cmd.Name)
	switch {
	case cmd.ClientID == "" || len(cmd.ClientID) > 64:
		return refuse(fmt.Errorf("register oidc client: %w: a client ID of 1 to 64 characters is required", ErrInvalidCommand))
	case name == "" || utf8.RuneCountInString(name) > 100:
		return refuse(fmt.Errorf("register oidc client: %w: a name of 1 to 100 characters is required", ErrInvalidCommand))
	case len(cmd.RedirectURIs) == 0:
		return refuse(fmt.Errorf("register oidc client: %w: at least one redirect URI is required", ErrInvalidRedirectURI))
	case cmd.Public != (len(cmd.SecretHash) == 0):
		return refuse(fmt.Errorf("register oidc client: %w: a confidential client has a secret hash, a public one none", ErrInvalidCommand))
	case !cmd.Public && len(cmd.SecretHash) != sha256.Size:
		return refuse(fmt.Errorf("register oidc client: %w: the secret hash must be a SHA-256", ErrInvalidCommand))
	}
	if _, dup := cs.byID[cmd.ClientID]; dup {
		return refuse(ErrOIDCClientExists)
	}
	for _, u := range append(slices.Clone(cmd.RedirectURIs), cmd.PostLogoutRedirectURIs...) {
		if err := CheckRedirectURI(u); err != nil {
			return refuse(fmt.Errorf("register oidc client: %w", err))
		}
	}
	return accept(OIDCClientRegistered{
		ClientID: cmd.ClientID, Name: name, RedirectURIs: slices.Clone(cmd.RedirectURIs),
		PostLogoutRedirectURIs: slices.Clone(cmd.PostLogoutRedirectURIs), Public: cmd.Public,
		SecretHash: slices.Clone(cmd.SecretHash), RequireMFA: cmd.RequireMFA, AskConsent: cmd.AskConsent, At: now,
	})
}

// CheckRedirectURI returns ErrInvalidRedirectURI, with the reason, for a URI that may not be
// registered: not absolute, with a fragment, or plain http to a host that is not loopback.
func CheckRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return fmt.Errorf("%w: %q is not an absolute URL", ErrInvalidRedirectURI, raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%w: %q has a fragment", ErrInvalidRedirectURI, raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%w: %q must use https (http only to localhost or a loopback address)", ErrInvalidRedirectURI, raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RotateOIDCClientSecret gives a confidential client a new secret.
type RotateOIDCClientSecret struct {
	ClientID   string
	SecretHash []byte
}

// RotateSecret decides RotateOIDCClientSecret.
func (cs *OIDCClients) RotateSecret(cmd RotateOIDCClientSecret, now time.Time) Decision {
	c, ok := cs.byID[cmd.ClientID]
	switch {
	case !ok:
		return refuse(ErrOIDCClientNotFound)
	case c.Disabled:
		return refuse(ErrOIDCClientDisabled)
	case c.Public:
		return refuse(ErrOIDCClientPublic)
	case len(cmd.SecretHash) != sha256.Size:
		return refuse(fmt.Errorf("rotate oidc client secret: %w: the secret hash must be a SHA-256", ErrInvalidCommand))
	}
	return accept(OIDCClientSecretRotated{ClientID: cmd.ClientID, SecretHash: slices.Clone(cmd.SecretHash), At: now})
}

// DisableOIDCClient stops a client. A disabled client stays disabled.
type DisableOIDCClient struct{ ClientID string }

// Disable decides DisableOIDCClient; disabling a disabled client changes nothing.
func (cs *OIDCClients) Disable(cmd DisableOIDCClient, now time.Time) Decision {
	c, ok := cs.byID[cmd.ClientID]
	switch {
	case !ok:
		return refuse(ErrOIDCClientNotFound)
	case c.Disabled:
		return Decision{}
	}
	return accept(OIDCClientDisabled{ClientID: cmd.ClientID, At: now})
}

// OIDCKeysStream is the stream of the provider's signing keys: "oidc-keys".
const OIDCKeysStream = "oidc-keys"

// OIDCSigningKey is a signing key as its event holds it: sealed.
type OIDCSigningKey struct {
	KeyID     string
	Algorithm string
	SealedKey []byte
	AddedAt   time.Time
}

// OIDCKeys is the provider's signing keys, oldest first.
type OIDCKeys struct{ keys []OIDCSigningKey }

// LoadOIDCKeys folds the keys stream.
func LoadOIDCKeys(events []Event) (*OIDCKeys, error) {
	ks := &OIDCKeys{}
	for _, e := range events {
		k, ok := e.(OIDCSigningKeyAdded)
		if !ok {
			return nil, fmt.Errorf("load oidc keys: unexpected event %s", e.EventType())
		}
		ks.keys = append(ks.keys, OIDCSigningKey{KeyID: k.KeyID, Algorithm: k.Algorithm, SealedKey: slices.Clone(k.SealedKey), AddedAt: k.At})
	}
	return ks, nil
}

// Current returns the newest key, which signs, and the one before it, which only verifies
// (zero when there is none). ok is false when no key was ever added.
func (ks *OIDCKeys) Current() (current, previous OIDCSigningKey, ok bool) {
	n := len(ks.keys)
	if n == 0 {
		return OIDCSigningKey{}, OIDCSigningKey{}, false
	}
	if n > 1 {
		previous = ks.keys[n-2]
	}
	return ks.keys[n-1], previous, true
}

// AddOIDCSigningKey adds a key that signs from now on.
type AddOIDCSigningKey struct {
	KeyID     string
	Algorithm string
	SealedKey []byte
}

// Add decides AddOIDCSigningKey.
func (ks *OIDCKeys) Add(cmd AddOIDCSigningKey, now time.Time) Decision {
	if cmd.KeyID == "" || cmd.Algorithm == "" || len(cmd.SealedKey) == 0 {
		return refuse(fmt.Errorf("add oidc signing key: %w: key ID, algorithm and sealed key are required", ErrInvalidCommand))
	}
	for _, k := range ks.keys {
		if k.KeyID == cmd.KeyID {
			return refuse(ErrOIDCSigningKeyExists)
		}
	}
	return accept(OIDCSigningKeyAdded{KeyID: cmd.KeyID, Algorithm: cmd.Algorithm, SealedKey: slices.Clone(cmd.SealedKey), At: now})
}

// OIDCConsentsStream is the stream of an account's consents: "oidc-consents-<account uuid>".
func OIDCConsentsStream(account uuid.UUID) string { return "oidc-consents-" + account.String() }

// OIDCConsents is what an account allowed clients that ask.
type OIDCConsents struct{ granted map[string][]string } // client ID -> scopes allowed

// LoadOIDCConsents folds an account's consents stream.
func LoadOIDCConsents(events []Event) (*OIDCConsents, error) {
	c := &OIDCConsents{granted: map[string][]string{}}
	for _, e := range events {
		g, ok := e.(OIDCConsentGranted)
		if !ok {
			return nil, fmt.Errorf("load oidc consents: unexpected event %s", e.EventType())
		}
		for _, s := range g.Scopes {
			if !slices.Contains(c.granted[g.ClientID], s) {
				c.granted[g.ClientID] = append(c.granted[g.ClientID], s)
			}
		}
	}
	return c, nil
}

// Covers reports whether the account allowed the client every scope of scopes.
func (c *OIDCConsents) Covers(clientID string, scopes []string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.granted[clientID], s) {
			return false
		}
	}
	return true
}

// GrantOIDCConsent records that the account allows the client scopes.
type GrantOIDCConsent struct {
	AccountID       uuid.UUID
	ClientID        string
	Scopes          []string
	AuthorizationID uuid.UUID
}

// Grant decides GrantOIDCConsent; what is already allowed changes nothing.
func (c *OIDCConsents) Grant(cmd GrantOIDCConsent, now time.Time) Decision {
	switch {
	case cmd.AccountID == uuid.Nil || cmd.ClientID == "" || len(cmd.Scopes) == 0:
		return refuse(fmt.Errorf("grant oidc consent: %w: account, client and scopes are required", ErrInvalidCommand))
	case c.Covers(cmd.ClientID, cmd.Scopes):
		return Decision{}
	}
	return accept(OIDCConsentGranted{AccountID: cmd.AccountID, ClientID: cmd.ClientID, Scopes: slices.Clone(cmd.Scopes),
		AuthorizationID: cmd.AuthorizationID, At: now})
}
