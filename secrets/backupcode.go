package secrets

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

const (
	// BackupCodesPerSet is the number of codes in one set.
	BackupCodesPerSet = 10
	// backupCodeLen is the number of Crockford base32 characters in a code: 12 × 5 = 60 bits.
	backupCodeLen = 12
	// crockford is Crockford's base32 alphabet, lower-cased: no i, l, o or u.
	crockford = "0123456789abcdefghjkmnpqrstvwxyz"
	// codeHashInfo separates the backup-code HMAC keys from every other use of keyring keys.
	codeHashInfo = "assent/backup-code/hmac-sha256/v1"
)

// BackupCode is a normalized backup code: 12 lower-case Crockford base32 characters
// (60 bits). String and LogValue redact it; Reveal returns the grouped form to show once.
type BackupCode struct{ v string }

// Reveal returns the code grouped by four, like "abcd-efgh-jkmn", to show to its holder.
func (c BackupCode) Reveal() string {
	if len(c.v) != backupCodeLen {
		return ""
	}
	return c.v[0:4] + "-" + c.v[4:8] + "-" + c.v[8:12]
}

// String redacts the code so that it cannot be logged by mistake.
func (c BackupCode) String() string { return "backup-code(redacted)" }

// LogValue redacts the code in log/slog output.
func (c BackupCode) LogValue() slog.Value { return slog.StringValue("backup-code(redacted)") }

// IsZero reports whether c is the zero BackupCode.
func (c BackupCode) IsZero() bool { return c.v == "" }

// GenerateBackupCodes returns a set of BackupCodesPerSet distinct codes read from rand
// (crypto/rand when nil).
func GenerateBackupCodes(rand io.Reader) ([]BackupCode, error) {
	r := reader(rand)
	codes := make([]BackupCode, 0, BackupCodesPerSet)
	seen := make(map[string]bool, BackupCodesPerSet)
	var buf [8]byte
	for len(codes) < BackupCodesPerSet {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return nil, fmt.Errorf("backup codes: %w", err)
		}
		n := binary.BigEndian.Uint64(buf[:])
		var b [backupCodeLen]byte
		for i := range b {
			b[i] = crockford[n&31]
			n >>= 5
		}
		if s := string(b[:]); !seen[s] {
			seen[s] = true
			codes = append(codes, BackupCode{v: s})
		}
	}
	return codes, nil
}

// ParseBackupCode normalizes what a person typed: case is ignored, dashes and white space
// are dropped, and Crockford's look-alikes are mapped (o to 0, i and l to 1). It returns an
// error wrapping ErrInvalidBackupCode, which never repeats the input.
func ParseBackupCode(s string) (BackupCode, error) {
	if len(s) > 64 {
		return BackupCode{}, fmt.Errorf("%w: too long", ErrInvalidBackupCode)
	}
	var b strings.Builder
	for i, c := range strings.ToLower(s) {
		switch {
		case c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		case c == 'o':
			c = '0'
		case c == 'i' || c == 'l':
			c = '1'
		case c > 0x7f || !strings.ContainsRune(crockford, c):
			return BackupCode{}, fmt.Errorf("%w: character at position %d is not allowed", ErrInvalidBackupCode, i+1)
		}
		b.WriteRune(c)
	}
	if b.Len() != backupCodeLen {
		return BackupCode{}, fmt.Errorf("%w: must have %d letters and digits but it has %d", ErrInvalidBackupCode, backupCodeLen, b.Len())
	}
	return BackupCode{v: b.String()}, nil
}

// CodeHasher computes keyed hashes (HMAC-SHA256) of backup codes. Each keyring key yields
// its own HMAC key through HKDF, and a hash names the key that made it, as "keyID:mac"
// (mac in unpadded URL-safe base64), so keys can rotate like sealed secrets.
type CodeHasher struct {
	primary string
	keys    map[string][]byte
	order   []string
}

// CodeHasher returns the backup-code hasher derived from the keyring's keys.
func (kr *Keyring) CodeHasher() *CodeHasher {
	h := &CodeHasher{primary: kr.primary, keys: make(map[string][]byte, len(kr.keys))}
	h.order = append(h.order, kr.primary)
	for id, k := range kr.keys {
		derived, err := hkdf.Key(sha256.New, k.material, nil, codeHashInfo, sha256.Size)
		if err != nil {
			panic("secrets: hkdf: " + err.Error()) // cannot happen: 32 bytes is far below HKDF's limit
		}
		h.keys[id] = derived
		if id != kr.primary {
			h.order = append(h.order, id)
		}
	}
	return h
}

// Hash returns the keyed hash of code under the primary key, as stored in events.
func (h *CodeHasher) Hash(code BackupCode) string { return h.hashWith(h.primary, code) }

// Candidates returns the hashes of code under every key, primary first: the domain looks
// for a stored hash among them, whichever key made it.
func (h *CodeHasher) Candidates(code BackupCode) []string {
	out := make([]string, 0, len(h.order))
	for _, id := range h.order {
		out = append(out, h.hashWith(id, code))
	}
	return out
}

func (h *CodeHasher) hashWith(id string, code BackupCode) string {
	m := hmac.New(sha256.New, h.keys[id])
	m.Write([]byte(code.v))
	return id + ":" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
