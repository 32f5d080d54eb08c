// Package auditors holds the auditors' read-only credentials: each auditor a name and the
// SHA-256 of a bearer token. They are separate from the help desk's credentials (package
// admins): a token of one kind is never accepted as the other (package bearer).
package auditors

import (
	"errors"
	"strings"
	"time"

	"github.com/assent-dev/assent/bearer"
)

// File is the file, in the data directory, of auditor credentials that
// `assent audit token create` writes: names and SHA-256 hashes of tokens, never a token.
const File = "auditors.json"

// TokenPrefix starts every auditor token, so that one is recognised in a leaked text.
const TokenPrefix = "asa_"

// ErrUnknown is returned for a credential that is not an auditor's.
var ErrUnknown = errors.New("audit: unknown auditor credential")

var auditorKind = bearer.Kind{Prefix: TokenPrefix, List: "auditors", Option: "auditor-tokens", Scope: "audit", Token: "audit token"}

// Auditors holds the auditor credentials: each a name and the SHA-256 of a bearer token
// (package bearer). Safe for concurrent use once built.
type Auditors struct{ set *bearer.Set }

// Parse reads the ASSENT_AUDITOR_TOKENS form: comma-separated "name:sha256hex"
// entries (the hex SHA-256 of each token, as `assent audit token hash` prints it), and adds
// the entries of the file at path when it exists. Every problem is reported at once.
func Parse(configured, path string) (*Auditors, error) {
	set, err := auditorKind.Parse(configured, path)
	return &Auditors{set: set}, err
}

// Len is the number of credentials.
func (a *Auditors) Len() int {
	if a == nil {
		return 0
	}
	return a.set.Len()
}

// Authenticate returns the name of the auditor whose token this is, or ErrUnknown.
func (a *Auditors) Authenticate(token string) (string, error) {
	if a == nil {
		return "", ErrUnknown
	}
	name, ok := a.set.Authenticate(token)
	if !ok {
		return "", ErrUnknown
	}
	return name, nil
}

// IsToken reports whether s has the form of an auditor token (whether or not it is valid).
func IsToken(s string) bool { return strings.HasPrefix(s, TokenPrefix) }

// NewToken returns a new random auditor token and its hex SHA-256.
func NewToken() (token, hash string, err error) { return auditorKind.NewToken() }

// HashToken is the hex SHA-256 of a token, the form the server keeps.
func HashToken(token string) string { return bearer.HashToken(token) }

// Add creates a token for name, adds its hash to the file at path (mode 0600) and
// returns the token, which is shown once and kept nowhere.
func Add(path, name string, now time.Time) (string, error) {
	return auditorKind.Add(path, name, now)
}
