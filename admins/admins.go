// Package admins holds the help desk's credentials: each administrator a name and the SHA-256
// of a bearer token. They are separate from the auditors' read-only credentials (package
// auditors): a token of one kind is never accepted as the other (package bearer).
package admins

import (
	"errors"
	"time"

	"github.com/assent-dev/assent/bearer"
)

// File is the file, in the data directory, of administrator credentials that
// `assent admin token create` writes: names and SHA-256 hashes of tokens, never a token.
const File = "admins.json"

// TokenPrefix starts every administrator token, so that one is recognised in a leaked text
// and told apart from an auditor's (asa_).
const TokenPrefix = "asadm_"

// ErrUnknown is a token that is not an administrator's.
var ErrUnknown = errors.New("unknown administrator token")

var kind = bearer.Kind{Prefix: TokenPrefix, List: "admins", Option: "admin-tokens", Scope: "admins", Token: "admin token"}

// ValidName reports whether name is an administrator's name: lower-case letters, digits, '.',
// '_' or '-', 1 to 63 of them, starting with a letter or digit.
func ValidName(name string) bool { return bearer.ValidName(name) }

// Admins is the set of administrator credentials. Safe for concurrent use once built.
type Admins struct{ set *bearer.Set }

// Parse reads the ASSENT_ADMIN_TOKENS form: comma-separated "name:sha256hex" entries, and adds
// the entries of the file at path when it exists. Every problem is reported at once.
func Parse(configured, path string) (*Admins, error) {
	set, err := kind.Parse(configured, path)
	return &Admins{set: set}, err
}

// Len is the number of credentials.
func (a *Admins) Len() int {
	if a == nil {
		return 0
	}
	return a.set.Len()
}

// Authenticate returns the name of the administrator whose token this is, or ErrUnknown.
func (a *Admins) Authenticate(token string) (string, error) {
	if a == nil {
		return "", ErrUnknown
	}
	name, ok := a.set.Authenticate(token)
	if !ok {
		return "", ErrUnknown
	}
	return name, nil
}

// NewToken returns a new random administrator token and its hex SHA-256.
func NewToken() (token, hash string, err error) { return kind.NewToken() }

// Add creates a token for name, adds its hash to the file at path (mode 0600) and returns the
// token, which is shown once and kept nowhere.
func Add(path, name string, now time.Time) (string, error) { return kind.Add(path, name, now) }
