package domain

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"strings"
)

// maxEmailLen is the longest address SMTP can carry (RFC 5321 path limit less the brackets).
const maxEmailLen = 254

// Email is a normalized email address: trimmed and lower-cased, so that uniqueness is
// case-insensitive. Build one with ParseEmail.
type Email struct{ s string }

// ParseEmail trims and lower-cases s and checks that it is a bare address (no display
// name) of at most 254 characters with a local part and a domain.
func ParseEmail(s string) (Email, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > maxEmailLen {
		return Email{}, fmt.Errorf("%w: must have 1 to %d characters", ErrInvalidEmail, maxEmailLen)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return Email{}, fmt.Errorf("%w: not a plain address like name@example.com", ErrInvalidEmail)
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(s, " \t\r\n") {
		return Email{}, fmt.Errorf("%w: not a plain address like name@example.com", ErrInvalidEmail)
	}
	return Email{s: s}, nil
}

// String returns the normalized address.
func (e Email) String() string { return e.s }

// IsZero reports whether e is the zero Email.
func (e Email) IsZero() bool { return e.s == "" }

// MarshalText encodes the address.
func (e Email) MarshalText() ([]byte, error) { return []byte(e.s), nil }

// UnmarshalText parses and normalizes an address.
func (e *Email) UnmarshalText(b []byte) error {
	v, err := ParseEmail(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// MatchNumber is the two-digit number (10 to 99) that the login page shows and the person
// types on the device.
type MatchNumber uint8

// Bounds of a MatchNumber.
const (
	MinMatchNumber MatchNumber = 10
	MaxMatchNumber MatchNumber = 99
)

// NewMatchNumber draws a uniform number from 10 to 99 from r (use crypto/rand in
// production; tests pass a fixed reader).
func NewMatchNumber(r io.Reader) (MatchNumber, error) {
	var b [1]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, fmt.Errorf("match number: %w", err)
		}
		if b[0] < 180 { // 180 = 2 × 90: rejection keeps the draw uniform
			return MinMatchNumber + MatchNumber(b[0]%90), nil
		}
	}
}

// ParseMatchNumber parses a typed number: exactly two ASCII digits, 10 to 99, surrounding
// spaces ignored.
func ParseMatchNumber(s string) (MatchNumber, error) {
	s = strings.TrimSpace(s)
	if len(s) != 2 || s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, fmt.Errorf("%w: must be two digits from 10 to 99", ErrInvalidNumber)
	}
	return MatchNumber((s[0]-'0')*10 + s[1] - '0'), nil
}

// Valid reports whether n is between 10 and 99.
func (n MatchNumber) Valid() bool { return n >= MinMatchNumber && n <= MaxMatchNumber }

// String returns the two digits, or "00" for the zero value that deny and fraud answers sign.
func (n MatchNumber) String() string { return fmt.Sprintf("%02d", uint8(n)%100) }

// enrollmentTokenLen is the size of an enrollment token: 256 bits.
const enrollmentTokenLen = 32

// EnrollmentToken is the one-time bearer token that an enrollment QR code carries. It never
// enters an event: its enrollment stream is named after ID, a hash of it. String redacts it;
// Reveal gives the form to put in the QR code.
type EnrollmentToken struct{ b [enrollmentTokenLen]byte }

// EnrollmentTokenID identifies an enrollment: the first 16 bytes of SHA-256 of its token.
type EnrollmentTokenID [16]byte

// NewEnrollmentToken draws a token from r (use crypto/rand in production).
func NewEnrollmentToken(r io.Reader) (EnrollmentToken, error) {
	var t EnrollmentToken
	if _, err := io.ReadFull(r, t.b[:]); err != nil {
		return EnrollmentToken{}, fmt.Errorf("enrollment token: %w", err)
	}
	return t, nil
}

// ParseEnrollmentToken parses the Reveal form: 43 characters of unpadded URL-safe base64.
func ParseEnrollmentToken(s string) (EnrollmentToken, error) {
	s = strings.TrimSpace(s)
	if len(s) != base64.RawURLEncoding.EncodedLen(enrollmentTokenLen) {
		return EnrollmentToken{}, fmt.Errorf("%w: must have %d characters", ErrInvalidEnrollmentToken, base64.RawURLEncoding.EncodedLen(enrollmentTokenLen))
	}
	var t EnrollmentToken
	n, err := base64.RawURLEncoding.Strict().Decode(t.b[:], []byte(s))
	if err != nil || n != enrollmentTokenLen {
		return EnrollmentToken{}, fmt.Errorf("%w: not URL-safe base64", ErrInvalidEnrollmentToken)
	}
	return t, nil
}

// Reveal returns the token to put in the enrollment link.
func (t EnrollmentToken) Reveal() string { return base64.RawURLEncoding.EncodeToString(t.b[:]) }

// String redacts the token so that it cannot be logged by mistake.
func (t EnrollmentToken) String() string { return "enrollment-token(redacted)" }

// ID returns the ID of the enrollment the token opens.
func (t EnrollmentToken) ID() EnrollmentTokenID {
	sum := sha256.Sum256(t.b[:])
	var id EnrollmentTokenID
	copy(id[:], sum[:])
	return id
}

// ParseEnrollmentTokenID parses the 32 lower-case hex digits of an enrollment ID.
func ParseEnrollmentTokenID(s string) (EnrollmentTokenID, error) {
	var id EnrollmentTokenID
	if len(s) != 2*len(id) || strings.ToLower(s) != s {
		return id, fmt.Errorf("%w: ID must be %d lower-case hex digits", ErrInvalidEnrollmentToken, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return EnrollmentTokenID{}, fmt.Errorf("%w: ID must be %d lower-case hex digits", ErrInvalidEnrollmentToken, 2*len(id))
	}
	return id, nil
}

// String returns the ID in hex.
func (id EnrollmentTokenID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID.
func (id EnrollmentTokenID) IsZero() bool { return id == EnrollmentTokenID{} }

// MarshalText encodes the ID in hex.
func (id EnrollmentTokenID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses an ID in hex.
func (id *EnrollmentTokenID) UnmarshalText(b []byte) error {
	v, err := ParseEnrollmentTokenID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
