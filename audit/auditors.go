package audit

import (
	"context"
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

	"github.com/assent-dev/assent/eventstore"
)

// AuditorsFile is the file, in the data directory, of auditor credentials that
// `assent audit token create` writes: names and SHA-256 hashes of tokens, never a token.
const AuditorsFile = "auditors.json"

// TokenPrefix starts every auditor token, so that one is recognised in a leaked text.
const TokenPrefix = "asa_"

var auditorName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Auditors holds the auditor credentials: each a name and the SHA-256 of a bearer token. A
// token is high-entropy (32 random bytes), so an unsalted hash is enough to keep it unusable
// if the list leaks. Safe for concurrent use once built.
type Auditors struct {
	byHash map[[sha256.Size]byte]string
}

type auditorsFile struct {
	Auditors []auditorEntry `json:"auditors"`
}

type auditorEntry struct {
	Name      string    `json:"name"`
	SHA256    string    `json:"sha256"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// ParseAuditors reads the ASSENT_AUDITOR_TOKENS form: comma-separated "name:sha256hex"
// entries (the hex SHA-256 of each token, as `assent audit token hash` prints it), and adds
// the entries of the file at path when it exists. Every problem is reported at once.
func ParseAuditors(configured, path string) (*Auditors, error) {
	a := &Auditors{byHash: map[[sha256.Size]byte]string{}}
	var errs []error
	for _, spec := range strings.Split(configured, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		name, hash, _ := strings.Cut(spec, ":")
		if err := a.add(name, hash); err != nil {
			errs = append(errs, fmt.Errorf("audit: option 'auditor-tokens' must hold entries 'name:sha256hex' but %w", err))
		}
	}
	if path != "" {
		f, err := readAuditorsFile(path)
		if err != nil {
			errs = append(errs, err)
		}
		for _, e := range f.Auditors {
			if err := a.add(e.Name, e.SHA256); err != nil {
				errs = append(errs, fmt.Errorf("audit: file '%s': %w", path, err))
			}
		}
	}
	return a, errors.Join(errs...)
}

func (a *Auditors) add(name, hash string) error {
	if !auditorName.MatchString(name) {
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
func (a *Auditors) Len() int { return len(a.byHash) }

// Authenticate returns the name of the auditor whose token this is, or ErrUnknownAuditor.
func (a *Auditors) Authenticate(token string) (string, error) {
	if a == nil || !strings.HasPrefix(token, TokenPrefix) {
		return "", ErrUnknownAuditor
	}
	sum := sha256.Sum256([]byte(token))
	name, ok := a.byHash[sum]
	if !ok {
		return "", ErrUnknownAuditor
	}
	// The lookup is keyed by the SHA-256 of a 256-bit random token: its timing tells nothing
	// usable about any token.
	return name, nil
}

// IsToken reports whether s has the form of an auditor token (whether or not it is valid).
func IsToken(s string) bool { return strings.HasPrefix(s, TokenPrefix) }

// NewToken returns a new random auditor token and its hex SHA-256.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("audit token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken is the hex SHA-256 of a token, the form the server keeps.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

var fileMu sync.Mutex

// AddAuditor creates a token for name, adds its hash to the file at path (mode 0600) and
// returns the token, which is shown once and kept nowhere.
func AddAuditor(path, name string, now time.Time) (string, error) {
	if !auditorName.MatchString(name) {
		return "", fmt.Errorf("audit token: the name '%s' is not lower-case letters, digits, '.', '_' or '-'", name)
	}
	fileMu.Lock()
	defer fileMu.Unlock()
	f, err := readAuditorsFile(path)
	if err != nil {
		return "", err
	}
	token, hash, err := NewToken()
	if err != nil {
		return "", err
	}
	f.Auditors = append(f.Auditors, auditorEntry{Name: name, SHA256: hash, CreatedAt: now.UTC()})
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", fmt.Errorf("audit token: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("audit token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("audit token: %w", err)
	}
	return token, nil
}

func readAuditorsFile(path string) (auditorsFile, error) {
	var f auditorsFile
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("audit: %w", err)
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, fmt.Errorf("audit: file '%s' is not valid JSON of the form {\"auditors\": [{\"name\", \"sha256\"}]}", path)
	}
	return f, nil
}

// Recorder appends the record of audit reads to ReadsStream.
type Recorder struct {
	Appender Appender
	Now      func() time.Time
}

// Record appends that auditor read target through operation. It returns once the record is
// durable, so that no audit read goes unrecorded.
func (r *Recorder) Record(ctx context.Context, auditor, operation, target string) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	ev, err := encodeEvent(TypeReadRecorded, ReadRecorded{Auditor: auditor, Operation: operation, Target: target, At: now().UTC()}, "auditor:"+auditor)
	if err != nil {
		return err
	}
	if _, err := r.Appender.Append(ctx, ReadsStream, eventstore.Any(), ev); err != nil {
		return fmt.Errorf("audit record read: %w", err)
	}
	return nil
}
