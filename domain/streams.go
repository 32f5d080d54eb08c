package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/google/uuid"
)

// Stream names. Each aggregate lives in one stream; the prefix names the aggregate.

// AccountStream is the stream of an account: "account-<uuid>".
func AccountStream(id uuid.UUID) string { return "account-" + id.String() }

// DeviceStream is the stream of a device: "device-<uuid>".
func DeviceStream(id uuid.UUID) string { return "device-" + id.String() }

// EnrollmentStream is the stream of an enrollment: "enrollment-<token id>".
func EnrollmentStream(id EnrollmentTokenID) string { return "enrollment-" + id.String() }

// ChallengeStream is the stream of a challenge: "challenge-<uuid>".
func ChallengeStream(id uuid.UUID) string { return "challenge-" + id.String() }

// KeyedEmailStream is the uniqueness stream of an email: "email-<hex HMAC-SHA256 of the
// normalized email under key>", key being a deployment secret. Registration appends to it with
// expected version "no stream", so that two registrations of one email cannot both succeed on
// any backend. The keyed hash keeps the address out of the log: without the key, an address
// cannot be tested against the stream names, also after the account was erased.
func KeyedEmailStream(e Email, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(e.String()))
	return "email-" + hex.EncodeToString(m.Sum(nil))
}

// EmailStream is the uniqueness stream of an email as earlier versions named it, by the
// unkeyed SHA-256 of the normalized email. Claims under it are still read; new ones are
// written under KeyedEmailStream.
func EmailStream(e Email) string {
	sum := sha256.Sum256([]byte(e.String()))
	return "email-" + hex.EncodeToString(sum[:])
}

// IsAccountStream reports whether stream is an account's stream (AccountStream).
func IsAccountStream(stream string) bool { return strings.HasPrefix(stream, "account-") }
