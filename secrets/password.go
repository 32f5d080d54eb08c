package secrets

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Bounds of argon2id parameters. The minimum cost is OWASP's (m=19 MiB, t=2, p=1); the
// maximums keep a forged hash from making Verify allocate or loop without limit.
const (
	minMemoryKiB  = 19 * 1024
	maxMemoryKiB  = 4 * 1024 * 1024
	minCost       = minMemoryKiB * 2
	maxIterations = 64
	maxThreads    = 64
	minSaltLen    = 16
	minKeyLen     = 16
	maxSaltKeyLen = 1024
	// MaxPasswordLen bounds the passwords Hash and Verify accept, in bytes.
	MaxPasswordLen = 1024
)

// Argon2Params are the argon2id parameters of new password hashes. Verify reads the
// parameters of an existing hash from the hash itself, so changing them does not lock
// anyone out; NeedsRehash says when a stored hash is weaker than the current parameters.
type Argon2Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Iterations is the time cost.
	Iterations uint32
	// Parallelism is the number of lanes.
	Parallelism uint8
	// SaltLength and KeyLength are in bytes.
	SaltLength uint32
	KeyLength  uint32
}

// DefaultArgon2Params returns OWASP's minimum recommendation: m=19 MiB, t=2, p=1, with a
// 16-byte salt and a 32-byte key.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Memory: minMemoryKiB, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Validate reports every problem with the parameters at once, joined with ErrInvalidParams.
func (p Argon2Params) Validate() error {
	var errs []error
	if p.Memory < minMemoryKiB || p.Memory > maxMemoryKiB {
		errs = append(errs, fmt.Errorf("argon2: option 'memory' must be between %d and %d but it's configured as '%d'", minMemoryKiB, maxMemoryKiB, p.Memory))
	}
	if p.Iterations < 1 || p.Iterations > maxIterations {
		errs = append(errs, fmt.Errorf("argon2: option 'iterations' must be between 1 and %d but it's configured as '%d'", maxIterations, p.Iterations))
	}
	if uint64(p.Memory)*uint64(p.Iterations) < minCost {
		errs = append(errs, fmt.Errorf("argon2: options 'memory' times 'iterations' must be at least %d but it's configured as '%d'", minCost, uint64(p.Memory)*uint64(p.Iterations)))
	}
	if p.Parallelism < 1 || p.Parallelism > maxThreads {
		errs = append(errs, fmt.Errorf("argon2: option 'parallelism' must be between 1 and %d but it's configured as '%d'", maxThreads, p.Parallelism))
	}
	if p.SaltLength < minSaltLen || p.SaltLength > maxSaltKeyLen {
		errs = append(errs, fmt.Errorf("argon2: option 'salt_length' must be between %d and %d but it's configured as '%d'", minSaltLen, maxSaltKeyLen, p.SaltLength))
	}
	if p.KeyLength < minKeyLen || p.KeyLength > maxSaltKeyLen {
		errs = append(errs, fmt.Errorf("argon2: option 'key_length' must be between %d and %d but it's configured as '%d'", minKeyLen, maxSaltKeyLen, p.KeyLength))
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(append([]error{ErrInvalidParams}, errs...)...)
}

// KeyFunc derives the argon2id key of password with salt, using p's memory, iterations,
// parallelism and key length: IDKey in this process, or another that computes it elsewhere
// (hashworker). It must be safe for concurrent use.
type KeyFunc func(ctx context.Context, password, salt []byte, p Argon2Params) ([]byte, error)

// IDKey is the KeyFunc that computes the key in this process.
func IDKey(_ context.Context, password, salt []byte, p Argon2Params) ([]byte, error) {
	return argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength), nil
}

// Hash returns the argon2id hash of password in PHC format,
// $argon2id$v=19$m=<memory>,t=<iterations>,p=<parallelism>$<salt>$<hash> (unpadded base64).
// The salt is read from rand (crypto/rand when nil).
func (p Argon2Params) Hash(password string, rand io.Reader) (string, error) {
	return p.HashWith(context.Background(), password, rand, IDKey)
}

// HashWith is Hash with the key derived by key; its error is returned as it is.
func (p Argon2Params) HashWith(ctx context.Context, password string, rand io.Reader, key KeyFunc) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("password hash: password longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, p.SaltLength)
	if _, err := io.ReadFull(reader(rand), salt); err != nil {
		return "", fmt.Errorf("password hash: salt: %w", err)
	}
	k, err := key(ctx, []byte(password), salt, p)
	if err != nil {
		return "", err
	}
	return encodePHC(p, salt, k), nil
}

// VerifyPassword reports, in constant time with respect to the hash, whether password
// matches an argon2id PHC hash. A hash that cannot be parsed returns ErrInvalidHash.
func VerifyPassword(password, encoded string) (bool, error) {
	return VerifyPasswordWith(context.Background(), password, encoded, IDKey)
}

// VerifyPasswordWith is VerifyPassword with the key derived by key; its error is returned as
// it is.
func VerifyPasswordWith(ctx context.Context, password, encoded string, key KeyFunc) (bool, error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	got, err := key(ctx, []byte(password), salt, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether an encoded hash was made with parameters other than p, so
// that the application can rehash after the next successful sign-in.
func NeedsRehash(encoded string, p Argon2Params) bool {
	hp, salt, key, err := parsePHC(encoded)
	if err != nil {
		return true
	}
	return hp.Memory != p.Memory || hp.Iterations != p.Iterations || hp.Parallelism != p.Parallelism ||
		uint32(len(salt)) != p.SaltLength || uint32(len(key)) != p.KeyLength
}

// IsPasswordHash reports whether s parses as an argon2id PHC hash.
func IsPasswordHash(s string) bool {
	_, _, _, err := parsePHC(s)
	return err == nil
}

var b64 = base64.RawStdEncoding

func encodePHC(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parsePHC parses and bounds-checks a PHC string. It never echoes the input in errors.
func parsePHC(s string) (Argon2Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w: not an argon2id PHC string", ErrInvalidHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w: unsupported argon2 version", ErrInvalidHash)
	}
	var p Argon2Params
	for i, kv := range strings.Split(parts[3], ",") {
		name, value, ok := strings.Cut(kv, "=")
		want := [...]string{"m", "t", "p"}
		if !ok || i >= len(want) || name != want[i] {
			return Argon2Params{}, nil, nil, fmt.Errorf("%w: parameters must be m=,t=,p=", ErrInvalidHash)
		}
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return Argon2Params{}, nil, nil, fmt.Errorf("%w: parameter %s is not a number", ErrInvalidHash, name)
		}
		switch name {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Iterations = uint32(n)
		case "p":
			if n > 255 {
				return Argon2Params{}, nil, nil, fmt.Errorf("%w: parameter p out of range", ErrInvalidHash)
			}
			p.Parallelism = uint8(n)
		}
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w: salt is not base64", ErrInvalidHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w: hash is not base64", ErrInvalidHash)
	}
	p.SaltLength, p.KeyLength = uint32(len(salt)), uint32(len(key))
	if err := p.Validate(); err != nil {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w: parameters out of bounds", ErrInvalidHash)
	}
	return p, salt, key, nil
}
