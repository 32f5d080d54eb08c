// Package admins holds the help desk's credentials: each administrator a name and the SHA-256
// of a bearer token. They are separate from the auditors' read-only credentials (package
// audit): a token of one kind is never accepted as the other.
package admins

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

// File is the file, in the data directory, of administrator credentials that
// `assent admin token create` writes: names and SHA-256 hashes of tokens, never a token.
const File = "admins.json"

// TokenPrefix starts every administrator token, so that one is recognised in a leaked text
// and told apart from an auditor's (asa_).
const TokenPrefix = "asadm_"

// ErrUnknown is a token that is not an administrator's.
var ErrUnknown = errors.New("unknown administrator token")

var nameRule = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName reports whether name is an administrator's name: lower-case letters, digits, '.',
// '_' or '-', 1 to 63 of them, starting with a letter or digit.
func ValidName(name string) bool { return nameRule.MatchString(name) }

// Admins is the set of administrator credentials. A token is 32 random bytes, so an unsalted
// hash is enough to keep it unusable if the list leaks. Safe for concurrent use once built.
type Admins struct {
	byHash map[[sha256.Size]byte]string
}

type file struct {
	Admins []entry `json:"admins"`
}

type entry struct {
	Name      string    `json:"name"`
	SHA256    string    `json:"sha256"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// Parse reads the ASSENT_ADMIN_TOKENS form: comma-separated "name:sha256hex" entries, and adds
// the entries of the file at path when it exists. Every problem is reported at once.
func Parse(configured, path string) (*Admins, error) {
	a := &Admins{byHash: map[[sha256.Size]byte]string{}}
	var errs []error
	for _, spec := range strings.Split(configured, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		name, hash, _ := strings.Cut(spec, ":")
		if err := a.add(name, hash); err != nil {
			errs = append(errs, fmt.Errorf("admins: option 'admin-tokens' must hold entries 'name:sha256hex' but %w", err))
		}
	}
	if path != "" {
		f, err := readFile(path)
		if err != nil {
			errs = append(errs, err)
		}
		for _, e := range f.Admins {
			if err := a.add(e.Name, e.SHA256); err != nil {
				errs = append(errs, fmt.Errorf("admins: file '%s': %w", path, err))
			}
		}
	}
	return a, errors.Join(errs...)
}

func (a *Admins) add(name, hash string) error {
	if !ValidName(name) {
		return fmt.Errorf("the name '%s' is not lower-case letters, digits, '.', '_' or '-'", name)
	}
	raw, err := hex.DecodeString(hash)
	if err != nil || len(raw) != sha256.Size {
		return fmt.Errorf("the hash of '%s' is not 64 hex digits", name)
	}
	a.byHash[[sha256.Size]byte(raw)] = name
	return nil
}

// Len is the number of credentials.
func (a *Admins) Len() int {
	if a == nil {
		return 0
	}
	return len(a.byHash)
}

// Authenticate returns the name of the administrator whose token this is, or ErrUnknown.
func (a *Admins) Authenticate(token string) (string, error) {
	if a == nil || !strings.HasPrefix(token, TokenPrefix) {
		return "", ErrUnknown
	}
	// The lookup is keyed by the SHA-256 of a 256-bit random token: its timing tells nothing
	// usable about any token.
	name, ok := a.byHash[sha256.Sum256([]byte(token))]
	if !ok {
		return "", ErrUnknown
	}
	return name, nil
}

// NewToken returns a new random administrator token and its hex SHA-256.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(sum[:]), nil
}

var fileMu sync.Mutex

// Add creates a token for name, adds its hash to the file at path (mode 0600) and returns the
// token, which is shown once and kept nowhere.
func Add(path, name string, now time.Time) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("admin token: the name '%s' is not lower-case letters, digits, '.', '_' or '-'", name)
	}
	fileMu.Lock()
	defer fileMu.Unlock()
	f, err := readFile(path)
	if err != nil {
		return "", err
	}
	token, hash, err := NewToken()
	if err != nil {
		return "", err
	}
	f.Admins = append(f.Admins, entry{Name: name, SHA256: hash, CreatedAt: now.UTC()})
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return token, nil
}

func readFile(path string) (file, error) {
	var f file
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("admins: %w", err)
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, fmt.Errorf("admins: file '%s' is not valid JSON of the form {\"admins\": [{\"name\", \"sha256\"}]}", path)
	}
	return f, nil
}
