package secrets

import (
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings of every Assent secret: what authenticator apps read from the URI.
const (
	TOTPIssuer = "Assent"
	// TOTPPeriod is the length of a time step.
	TOTPPeriod = 30 * time.Second
	// TOTPDigits is the number of digits in a code.
	TOTPDigits = 6
	// TOTPSkew is the number of steps before and after the current one that a code may match.
	TOTPSkew = 1
	// totpSecretSize is the size of a new secret: 160 bits, as RFC 4226 recommends for SHA-1.
	totpSecretSize = 20
)

var (
	b32       = base32.StdEncoding.WithPadding(base32.NoPadding)
	hotpOpts  = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	totpCheck = totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
)

// TOTPSecret is a shared TOTP secret (SHA-1, 6 digits, 30-second steps). String and
// LogValue redact it; Bytes gives the raw secret to seal before it enters an event.
type TOTPSecret struct{ b []byte }

// NewTOTPSecret returns a new 160-bit secret read from rand (crypto/rand when nil).
func NewTOTPSecret(rand io.Reader) (TOTPSecret, error) {
	b := make([]byte, totpSecretSize)
	if _, err := io.ReadFull(reader(rand), b); err != nil {
		return TOTPSecret{}, fmt.Errorf("totp secret: %w", err)
	}
	return TOTPSecret{b: b}, nil
}

// TOTPSecretFromBytes rebuilds a secret from its raw bytes, as opened from a sealed event.
func TOTPSecretFromBytes(b []byte) (TOTPSecret, error) {
	if len(b) < 10 || len(b) > 64 {
		return TOTPSecret{}, fmt.Errorf("%w: must be 10 to 64 bytes but it's %d", ErrInvalidTOTPSecret, len(b))
	}
	return TOTPSecret{b: append([]byte(nil), b...)}, nil
}

// Bytes returns a copy of the raw secret.
func (s TOTPSecret) Bytes() []byte { return append([]byte(nil), s.b...) }

// Base32 returns the secret as authenticator apps take it when typed by hand.
func (s TOTPSecret) Base32() string { return b32.EncodeToString(s.b) }

// String redacts the secret so that it cannot be logged by mistake.
func (s TOTPSecret) String() string { return "totp-secret(redacted)" }

// LogValue redacts the secret in log/slog output.
func (s TOTPSecret) LogValue() slog.Value { return slog.StringValue("totp-secret(redacted)") }

// URI returns the otpauth:// URI of the secret for accountName (usually the email), with
// issuer Assent, SHA1, 6 digits and a 30-second period, as QR codes carry it.
func (s TOTPSecret) URI(accountName string) (string, error) {
	if len(s.b) == 0 {
		return "", fmt.Errorf("%w: empty", ErrInvalidTOTPSecret)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: TOTPIssuer, AccountName: accountName, Period: uint(TOTPPeriod / time.Second),
		Secret: s.b, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", fmt.Errorf("totp uri: %w", err)
	}
	return key.URL(), nil
}

// TOTPStep returns the time step (the HOTP counter) that t falls in.
func TOTPStep(t time.Time) uint64 {
	return uint64(t.Unix()) / uint64(TOTPPeriod/time.Second)
}

// Code returns the code of the step that t falls in.
func (s TOTPSecret) Code(t time.Time) (string, error) {
	if len(s.b) == 0 {
		return "", fmt.Errorf("%w: empty", ErrInvalidTOTPSecret)
	}
	code, err := totp.GenerateCodeCustom(s.Base32(), t, totpCheck)
	if err != nil {
		return "", fmt.Errorf("totp code: %w", err)
	}
	return code, nil
}

// Match reports which time step a typed code belongs to, looking TOTPSkew steps either
// side of the step of t, and false when it matches none. Spaces in the code are ignored.
// It does not know which steps were already used: the domain refuses a step that is not
// newer than the last one accepted for the secret.
func (s TOTPSecret) Match(code string, t time.Time) (uint64, bool) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != TOTPDigits || len(s.b) == 0 || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	now := TOTPStep(t)
	var step uint64
	found := 0
	for d := -TOTPSkew; d <= TOTPSkew; d++ {
		if d < 0 && now < uint64(-d) {
			continue
		}
		c := uint64(int64(now) + int64(d))
		want, err := hotp.GenerateCodeCustom(s.Base32(), c, hotpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && found == 0 {
			step, found = c, 1
		}
	}
	return step, found == 1
}
