package domain

import (
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Integration errors. Check them with errors.Is.
var (
	ErrIntegrationNotFound   = errors.New("integration not found")
	ErrIntegrationExists     = errors.New("integration already exists")
	ErrIntegrationDisabled   = errors.New("integration disabled")
	ErrInvalidIntegrationKey = errors.New("invalid integration key")
)

// IntegrationKey names an integration of the Duo-compatible Auth API: "DI" followed by 18
// characters from A-Z and 0-9, 20 in all, the shape of Duo's integration keys, so that every
// client that checks the shape accepts it. It is public: it travels in every request.
type IntegrationKey struct{ s string }

// ParseIntegrationKey checks the shape of an integration key.
func ParseIntegrationKey(s string) (IntegrationKey, error) {
	if len(s) != 20 || s[:2] != "DI" {
		return IntegrationKey{}, ErrInvalidIntegrationKey
	}
	for i := 2; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return IntegrationKey{}, ErrInvalidIntegrationKey
		}
	}
	return IntegrationKey{s: s}, nil
}

// String returns the key as clients send it.
func (k IntegrationKey) String() string { return k.s }

// IsZero reports whether k is the zero key.
func (k IntegrationKey) IsZero() bool { return k.s == "" }

// MarshalText encodes a non-zero key.
func (k IntegrationKey) MarshalText() ([]byte, error) {
	if k.IsZero() {
		return nil, fmt.Errorf("%w: the zero key", ErrInvalidIntegrationKey)
	}
	return []byte(k.s), nil
}

// UnmarshalText parses a key.
func (k *IntegrationKey) UnmarshalText(b []byte) error {
	v, err := ParseIntegrationKey(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// IntegrationStream is the stream of an integration: "integration-<integration key>".
func IntegrationStream(k IntegrationKey) string { return "integration-" + k.String() }

// IntegrationCreated: an integration of the Duo-compatible Auth API was created. The secret key
// is sealed (it must be opened again to check request signatures); it is never in the clear.
type IntegrationCreated struct {
	Key          IntegrationKey `json:"integration_key"`
	Name         string         `json:"name"`
	SealedSecret []byte         `json:"sealed_secret" assent:"secret"`
	// NumberMatching makes pushes ask for the number the application shows; off by default,
	// as Duo's clients show none.
	NumberMatching bool `json:"number_matching,omitempty"`
	// LegacyV1 serves the integration Duo's older /rest/v1 API too (duo_unix 1.11), whose
	// signatures carry no date.
	LegacyV1 bool      `json:"legacy_v1,omitempty"`
	At       time.Time `json:"at"`
}

// IntegrationSecretRotated: the integration's secret key was replaced; the old one no longer
// signs.
type IntegrationSecretRotated struct {
	Key          IntegrationKey `json:"integration_key"`
	SealedSecret []byte         `json:"sealed_secret" assent:"secret"`
	At           time.Time      `json:"at"`
}

// IntegrationDisabled: the integration was turned off; its requests are refused from then on.
type IntegrationDisabled struct {
	Key IntegrationKey `json:"integration_key"`
	At  time.Time      `json:"at"`
}

func (IntegrationCreated) EventType() string       { return "integration.created" }
func (IntegrationSecretRotated) EventType() string { return "integration.secret_rotated" }
func (IntegrationDisabled) EventType() string      { return "integration.disabled" }

func (e IntegrationCreated) OccurredAt() time.Time       { return e.At }
func (e IntegrationSecretRotated) OccurredAt() time.Time { return e.At }
func (e IntegrationDisabled) OccurredAt() time.Time      { return e.At }

// Integration is the integration aggregate, folded from its stream.
type Integration struct {
	key        IntegrationKey
	name       string
	sealed     []byte
	numbers    bool
	legacy     bool
	disabled   bool
	createdAt  time.Time
	rotatedAt  time.Time
	disabledAt time.Time
}

// LoadIntegration folds the events of an integration stream.
func LoadIntegration(events []Event) (*Integration, error) {
	i := &Integration{}
	for _, e := range events {
		switch e := e.(type) {
		case IntegrationCreated:
			i.key, i.name, i.sealed, i.numbers, i.legacy, i.createdAt = e.Key, e.Name, e.SealedSecret, e.NumberMatching, e.LegacyV1, e.At
		case IntegrationSecretRotated:
			i.sealed, i.rotatedAt = e.SealedSecret, e.At
		case IntegrationDisabled:
			i.disabled, i.disabledAt = true, e.At
		default:
			return nil, fmt.Errorf("load integration: %w: %q does not belong to an integration stream", ErrMalformedEvent, e.EventType())
		}
	}
	return i, nil
}

// Exists reports whether the integration was created.
func (i *Integration) Exists() bool { return !i.key.IsZero() }

// Key returns the integration key.
func (i *Integration) Key() IntegrationKey { return i.key }

// Name returns the name the operator gave.
func (i *Integration) Name() string { return i.name }

// SealedSecret returns the sealed secret key, for the application layer to open.
func (i *Integration) SealedSecret() []byte { return slices.Clone(i.sealed) }

// NumberMatching reports whether pushes ask for a number.
func (i *Integration) NumberMatching() bool { return i.numbers }

// LegacyV1 reports whether the integration may call the legacy /rest/v1 API.
func (i *Integration) LegacyV1() bool { return i.legacy }

// Disabled reports whether the integration was turned off.
func (i *Integration) Disabled() bool { return i.disabled }

// CreatedAt returns when the integration was created.
func (i *Integration) CreatedAt() time.Time { return i.createdAt }

// RotatedAt returns when the secret key was last replaced, or the zero time.
func (i *Integration) RotatedAt() time.Time { return i.rotatedAt }

// CreateIntegration creates an integration with its key, a name and its sealed secret key.
type CreateIntegration struct {
	Key            IntegrationKey
	Name           string
	SealedSecret   []byte
	NumberMatching bool
	LegacyV1       bool
}

// RotateIntegrationSecret replaces the secret key.
type RotateIntegrationSecret struct{ SealedSecret []byte }

// DisableIntegration turns the integration off.
type DisableIntegration struct{}

// maxIntegrationName bounds an integration's name, in characters.
const maxIntegrationName = 100

// Create decides CreateIntegration.
func (i *Integration) Create(cmd CreateIntegration, now time.Time) Decision {
	switch {
	case i.Exists():
		return refuse(ErrIntegrationExists)
	case cmd.Key.IsZero():
		return refuse(fmt.Errorf("create integration: %w: an integration key is required", ErrInvalidCommand))
	case !validName(cmd.Name, maxIntegrationName):
		return refuse(fmt.Errorf("create integration: %w: the name must be 1 to %d printable characters without surrounding spaces", ErrInvalidCommand, maxIntegrationName))
	case len(cmd.SealedSecret) == 0:
		return refuse(fmt.Errorf("create integration: %w: a sealed secret key is required", ErrInvalidCommand))
	}
	return accept(IntegrationCreated{Key: cmd.Key, Name: cmd.Name, SealedSecret: slices.Clone(cmd.SealedSecret), NumberMatching: cmd.NumberMatching, LegacyV1: cmd.LegacyV1, At: now})
}

// RotateSecret decides RotateIntegrationSecret; a disabled integration keeps its old key.
func (i *Integration) RotateSecret(cmd RotateIntegrationSecret, now time.Time) Decision {
	switch {
	case !i.Exists():
		return refuse(ErrIntegrationNotFound)
	case i.disabled:
		return refuse(ErrIntegrationDisabled)
	case len(cmd.SealedSecret) == 0:
		return refuse(fmt.Errorf("rotate integration secret: %w: a sealed secret key is required", ErrInvalidCommand))
	}
	return accept(IntegrationSecretRotated{Key: i.key, SealedSecret: slices.Clone(cmd.SealedSecret), At: now})
}

// Disable decides DisableIntegration; disabling twice is refused, so that the log records the
// moment it was turned off once.
func (i *Integration) Disable(_ DisableIntegration, now time.Time) Decision {
	switch {
	case !i.Exists():
		return refuse(ErrIntegrationNotFound)
	case i.disabled:
		return refuse(ErrIntegrationDisabled)
	}
	return accept(IntegrationDisabled{Key: i.key, At: now})
}

// Bounds of an integration's login context, in bytes.
const (
	maxContextText    = 256
	maxPushInfoItems  = 20
	maxPushInfoLength = 1024
)

// validateIntegration checks the fields an integration adds to a login context.
func (c LoginContext) validateIntegration() error {
	for _, f := range [...][2]string{{"app", c.App}, {"type", c.Type}, {"display name", c.DisplayName}} {
		if len(f[1]) > maxContextText || !utf8.ValidString(f[1]) {
			return fmt.Errorf("%w: %s must be valid UTF-8 of at most %d bytes", ErrInvalidCommand, f[0], maxContextText)
		}
	}
	if len(c.PushInfo) > maxPushInfoItems {
		return fmt.Errorf("%w: at most %d push info pairs", ErrInvalidCommand, maxPushInfoItems)
	}
	for _, p := range c.PushInfo {
		if p.Key == "" || len(p.Key)+len(p.Value) > maxPushInfoLength || !utf8.ValidString(p.Key) || !utf8.ValidString(p.Value) {
			return fmt.Errorf("%w: each push info pair needs a key and at most %d bytes of valid UTF-8", ErrInvalidCommand, maxPushInfoLength)
		}
	}
	return nil
}

// IntegrationUserCreated: a user of an integration came into being (through the Auth API's
// enroll or preauth). It is the first event of an account stream, in place of
// account.registered: the user has no email and no password in Assent; the application checks
// the first factor itself. Everything else about the account (linked devices, TOTP secrets,
// backup codes, challenges, failures and lockouts) is an account's.
type IntegrationUserCreated struct {
	AccountID   uuid.UUID      `json:"account_id" assent:"owner"`
	Integration IntegrationKey `json:"integration_key"`
	Username    string         `json:"username" assent:"personal"`
	At          time.Time      `json:"at"`
}

func (IntegrationUserCreated) EventType() string       { return "account.integration_user.created" }
func (e IntegrationUserCreated) OccurredAt() time.Time { return e.At }

// CreateIntegrationUser creates the user Username of an integration, with the account ID the
// caller derived from both (so that one name is one account: the stream's "no stream"
// expectation refuses a second).
type CreateIntegrationUser struct {
	AccountID   uuid.UUID
	Integration IntegrationKey
	Username    string
}

// maxUsername bounds an integration user's name, in characters.
const maxUsername = 100

// ValidUsername reports whether s can name a user of an integration: 1 to 100 printable
// characters without surrounding spaces.
func ValidUsername(s string) bool { return validName(s, maxUsername) }

// CreateIntegrationUser decides CreateIntegrationUser.
func (a *Account) CreateIntegrationUser(cmd CreateIntegrationUser, now time.Time) Decision {
	switch {
	case a.Exists():
		return refuse(ErrAccountExists)
	case cmd.AccountID == uuid.Nil || cmd.Integration.IsZero():
		return refuse(fmt.Errorf("create integration user: %w: account ID and integration key are required", ErrInvalidCommand))
	case !ValidUsername(cmd.Username):
		return refuse(fmt.Errorf("create integration user: %w: the username must be 1 to %d printable characters without surrounding spaces", ErrInvalidCommand, maxUsername))
	}
	return accept(IntegrationUserCreated{AccountID: cmd.AccountID, Integration: cmd.Integration, Username: cmd.Username, At: now})
}

// Integration returns the integration the account is a user of, or the zero key for an
// account of Assent's own.
func (a *Account) Integration() IntegrationKey { return a.integration }

// Username returns an integration user's name, or "" for an account of Assent's own.
func (a *Account) Username() string { return a.username }

// TOTPAppRef names a confirmed TOTP app of an account: what the Auth API lists among an
// integration user's devices as a token.
type TOTPAppRef struct {
	AppID uuid.UUID
	Name  string
}

// ConfirmedTOTPApps returns the account's confirmed TOTP apps, in the order they were added.
func (a *Account) ConfirmedTOTPApps() []TOTPAppRef {
	var out []TOTPAppRef
	for _, app := range a.apps {
		if app.confirmed {
			out = append(out, TOTPAppRef{AppID: app.id, Name: app.name})
		}
	}
	return out
}
