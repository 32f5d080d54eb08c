// Package bearer keeps named bearer credentials: each a name and the SHA-256 of a random token
// that starts with the kind's prefix. Auditors (package auditors) and administrators (package
// admins) are two kinds; a token of one kind is never accepted as the other, because each kind
// checks its own prefix and list.
//
// A token is 32 random bytes, so an unsalted hash is enough to keep it unusable if the list
// leaks, and a lookup keyed by that hash tells nothing usable about any token by its timing.
package bearer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Kind describes one kind of credential.
type Kind struct {
	// Prefix starts every token of the kind ("asa_", "asadm_"), so that one is recognised in
	// a leaked text and told apart from another kind's.
	Prefix string
	// List is the key of the list in the credentials file ({"auditors": [...]}).
	List string
	// Option is the configuration option that lists credentials ("auditor-tokens").
	Option string
	// Scope starts error messages about the list ("audit"), Token those about a token
	// ("audit token").
	Scope, Token string
}

// Entry is one credential in a file: a name and the hex SHA-256 of its token, never a token.
type Entry struct {
	Name      string    `json:"name"`
	SHA256    string    `json:"sha256"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// Set holds the credentials of one kind. Safe for concurrent use once built; a nil Set holds
// none.
type Set struct {
	kind   Kind
	byHash map[[sha256.Size]byte]string
}

var nameRule = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName reports whether name is a credential's name: lower-case letters, digits, '.', '_'
// or '-', 1 to 63 of them, starting with a letter or digit.
func ValidName(name string) bool { return nameRule.MatchString(name) }

// Parse reads the option's form, comma-separated "name:sha256hex" entries, and adds the
// entries of the file at path when it exists. Every problem is reported at once.
func (k Kind) Parse(configured, path string) (*Set, error) {
	s := &Set{kind: k, byHash: map[[sha256.Size]byte]string{}}
	var errs []error
	for _, spec := range strings.Split(configured, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		name, hash, _ := strings.Cut(spec, ":")
		if err := s.add(name, hash); err != nil {
			errs = append(errs, fmt.Errorf("%s: option '%s' must hold entries 'name:sha256hex' but %w", k.Scope, k.Option, err))
		}
	}
	if path != "" {
		entries, err := k.read(path)
		if err != nil {
			errs = append(errs, err)
		}
		for _, e := range entries {
			if err := s.add(e.Name, e.SHA256); err != nil {
				errs = append(errs, fmt.Errorf("%s: file '%s': %w", k.Scope, path, err))
			}
		}
	}
	return s, errors.Join(errs...)
}

func (s *Set) add(name, hash string) error {
	if !ValidName(name) {
		return fmt.Errorf("the name '%s' is not lower-case letters, digits, '.', '_' or '-'", name)
	}
	raw, err := hex.DecodeString(hash)
	if err != nil || len(raw) != sha256.Size {
		return fmt.Errorf("the hash of '%s' is not 64 hex digits", name)
	}
	s.byHash[[sha256.Size]byte(raw)] = name
	return nil
}

// Len is the number of credentials.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.byHash)
}

// Authenticate returns the name whose token this is; ok is false for any other string.
func (s *Set) Authenticate(token string) (name string, ok bool) {
	if s == nil || !strings.HasPrefix(token, s.kind.Prefix) {
		return "", false
	}
	name, ok = s.byHash[sha256.Sum256([]byte(token))]
	return name, ok
}

// HashToken is the hex SHA-256 of a token, the form the server keeps.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a new random token of the kind and its hex SHA-256.
func (k Kind) NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("%s: %w", k.Token, err)
	}
	token = k.Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

var fileMu sync.Mutex

// Add creates a token for name, adds its hash to the file at path (mode 0600, replaced
// atomically) and returns the token, which is shown once and kept nowhere.
func (k Kind) Add(path, name string, now time.Time) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("%s: the name '%s' is not lower-case letters, digits, '.', '_' or '-'", k.Token, name)
	}
	fileMu.Lock()
	defer fileMu.Unlock()
	entries, err := k.read(path)
	if err != nil {
		return "", err
	}
	token, hash, err := k.NewToken()
	if err != nil {
		return "", err
	}
	entries = append(entries, Entry{Name: name, SHA256: hash, CreatedAt: now.UTC()})
	raw, err := json.MarshalIndent(map[string][]Entry{k.List: entries}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("%s: %w", k.Token, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("%s: %w", k.Token, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("%s: %w", k.Token, err)
	}
	return token, nil
}

// read returns the entries of the file at path; none when it does not exist.
func (k Kind) read(path string) ([]Entry, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Scope, err)
	}
	var f map[string][]Entry
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: file '%s' is not valid JSON of the form {\"%s\": [{\"name\", \"sha256\"}]}", k.Scope, path, k.List)
	}
	return f[k.List], nil
}
