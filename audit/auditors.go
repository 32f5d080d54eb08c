package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/assent-dev/assent/bearer"
	"github.com/assent-dev/assent/eventstore"
)

// AuditorsFile is the file, in the data directory, of auditor credentials that
// `assent audit token create` writes: names and SHA-256 hashes of tokens, never a token.
const AuditorsFile = "auditors.json"

// TokenPrefix starts every auditor token, so that one is recognised in a leaked text.
const TokenPrefix = "asa_"

var auditorKind = bearer.Kind{Prefix: TokenPrefix, List: "auditors", Option: "auditor-tokens", Scope: "audit", Token: "audit token"}

// Auditors holds the auditor credentials: each a name and the SHA-256 of a bearer token
// (package bearer). Safe for concurrent use once built.
type Auditors struct{ set *bearer.Set }

// ParseAuditors reads the ASSENT_AUDITOR_TOKENS form: comma-separated "name:sha256hex"
// entries (the hex SHA-256 of each token, as `assent audit token hash` prints it), and adds
// the entries of the file at path when it exists. Every problem is reported at once.
func ParseAuditors(configured, path string) (*Auditors, error) {
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

// Authenticate returns the name of the auditor whose token this is, or ErrUnknownAuditor.
func (a *Auditors) Authenticate(token string) (string, error) {
	if a == nil {
		return "", ErrUnknownAuditor
	}
	name, ok := a.set.Authenticate(token)
	if !ok {
		return "", ErrUnknownAuditor
	}
	return name, nil
}

// IsToken reports whether s has the form of an auditor token (whether or not it is valid).
func IsToken(s string) bool { return strings.HasPrefix(s, TokenPrefix) }

// NewToken returns a new random auditor token and its hex SHA-256.
func NewToken() (token, hash string, err error) { return auditorKind.NewToken() }

// HashToken is the hex SHA-256 of a token, the form the server keeps.
func HashToken(token string) string { return bearer.HashToken(token) }

// AddAuditor creates a token for name, adds its hash to the file at path (mode 0600) and
// returns the token, which is shown once and kept nowhere.
func AddAuditor(path, name string, now time.Time) (string, error) {
	return auditorKind.Add(path, name, now)
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
