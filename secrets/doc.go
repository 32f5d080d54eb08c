// Package secrets holds Assent's infrastructure-free cryptography: a Keyring that seals
// secrets with AES-256-GCM under rotating keys, argon2id password hashes in PHC format,
// keyed hashes and generation of backup codes, and TOTP secrets, codes and step matching.
//
// Nothing here reads a clock, a file or the network: time is passed in and randomness comes
// from an io.Reader (crypto/rand when nil). Secret values redact themselves when printed.
package secrets

import (
	"crypto/rand"
	"errors"
	"io"
)

// Errors returned by this package. Check them with errors.Is; messages never hold a secret.
var (
	// ErrUnknownKey is returned by Open when the ciphertext names a key the keyring lacks.
	ErrUnknownKey = errors.New("secrets: unknown key")
	// ErrTampered is returned by Open when a ciphertext is malformed or fails authentication.
	ErrTampered = errors.New("secrets: ciphertext malformed or tampered")
	// ErrInvalidKey is returned, wrapped with the reason, for a key that cannot be used.
	ErrInvalidKey = errors.New("secrets: invalid key")
	// ErrInvalidHash is returned, wrapped with the reason, for a password hash that cannot be parsed.
	ErrInvalidHash = errors.New("secrets: invalid password hash")
	// ErrInvalidParams is returned, joined with every problem, by Argon2Params.Validate.
	ErrInvalidParams = errors.New("secrets: invalid argon2 parameters")
	// ErrInvalidBackupCode is returned, wrapped with the reason, by ParseBackupCode.
	ErrInvalidBackupCode = errors.New("secrets: invalid backup code")
	// ErrInvalidTOTPSecret is returned, wrapped with the reason, for an unusable TOTP secret.
	ErrInvalidTOTPSecret = errors.New("secrets: invalid TOTP secret")
)

// reader returns r, or crypto/rand's Reader when r is nil.
func reader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
