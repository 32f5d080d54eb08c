package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"
)

// sealVersion is the first byte of every sealed secret. A new format gets a new version.
const sealVersion byte = 1

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

// maxKeyIDLen bounds a key ID so that it fits the one-byte length of the sealed format.
const maxKeyIDLen = 64

// Key is an AES-256 key and the ID under which ciphertexts name it.
type Key struct {
	id       string
	material []byte
}

// NewKey returns a key. The ID must be 1 to 64 characters of [A-Za-z0-9._-] and the
// material exactly 32 bytes; the material is copied.
func NewKey(id string, material []byte) (Key, error) {
	if err := validateKeyID(id); err != nil {
		return Key{}, err
	}
	if len(material) != KeySize {
		return Key{}, fmt.Errorf("%w: key %q must be %d bytes but it's %d", ErrInvalidKey, id, KeySize, len(material))
	}
	return Key{id: id, material: append([]byte(nil), material...)}, nil
}

// ParseKey parses a key from configuration in the form "id:base64key", where the key is
// standard or URL-safe base64, padded or not, of 32 bytes.
func ParseKey(spec string) (Key, error) {
	id, encoded, ok := strings.Cut(strings.TrimSpace(spec), ":")
	if !ok {
		return Key{}, fmt.Errorf("%w: must be in the form 'id:base64key'", ErrInvalidKey)
	}
	material, err := decodeBase64(encoded)
	if err != nil {
		return Key{}, fmt.Errorf("%w: key %q is not valid base64", ErrInvalidKey, id)
	}
	return NewKey(id, material)
}

// ID returns the key's ID.
func (k Key) ID() string { return k.id }

// String names the key without revealing it.
func (k Key) String() string { return "key(" + k.id + ")" }

func validateKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("%w: key ID must have 1 to %d characters but it has %d", ErrInvalidKey, maxKeyIDLen, len(id))
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: key ID %q may hold only letters, digits, '.', '_' and '-'", ErrInvalidKey, id)
		}
	}
	return nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// Keyring seals secrets with its primary key and opens them with whichever of its keys the
// ciphertext names, so that keys can rotate: add a new primary, keep the old keys to open
// what they sealed. A Keyring is immutable and safe for concurrent use.
//
// The sealed format is: version byte (1), key ID length (1 byte), key ID, 12-byte nonce,
// AES-256-GCM ciphertext and tag. The version, key ID and the caller's associated data are
// authenticated, so a ciphertext cannot be moved to another key ID or another context.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
	keys    map[string]Key
	rand    io.Reader
}

// NewKeyring returns a keyring whose primary key is the first one given. Key IDs must be
// unique. Nonces come from crypto/rand unless WithRand says otherwise.
func NewKeyring(primary Key, others ...Key) (*Keyring, error) {
	kr := &Keyring{primary: primary.id, aeads: map[string]cipher.AEAD{}, keys: map[string]Key{}}
	for _, k := range append([]Key{primary}, others...) {
		if err := validateKeyID(k.id); err != nil {
			return nil, err
		}
		if len(k.material) != KeySize {
			return nil, fmt.Errorf("%w: key %q is not initialised", ErrInvalidKey, k.id)
		}
		if _, dup := kr.aeads[k.id]; dup {
			return nil, fmt.Errorf("%w: key ID %q appears twice", ErrInvalidKey, k.id)
		}
		block, err := aes.NewCipher(k.material)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		kr.aeads[k.id] = aead
		kr.keys[k.id] = k
	}
	return kr, nil
}

// ParseKeyring parses keys in the form "id:base64key"; the first is the primary.
func ParseKeyring(specs ...string) (*Keyring, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("%w: at least one key is required", ErrInvalidKey)
	}
	keys := make([]Key, 0, len(specs))
	for _, s := range specs {
		k, err := ParseKey(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return NewKeyring(keys[0], keys[1:]...)
}

// WithRand returns a copy of the keyring that draws nonces from r (crypto/rand when nil).
func (kr *Keyring) WithRand(r io.Reader) *Keyring {
	c := *kr
	c.rand = r
	return &c
}

// PrimaryKeyID returns the ID of the key Seal uses.
func (kr *Keyring) PrimaryKeyID() string { return kr.primary }

// Seal encrypts plaintext with the primary key. associatedData (which may be nil) is
// authenticated but not stored: Open must be given the same bytes.
func (kr *Keyring) Seal(plaintext, associatedData []byte) ([]byte, error) {
	aead := kr.aeads[kr.primary]
	header := make([]byte, 0, 2+len(kr.primary)+aead.NonceSize())
	header = append(header, sealVersion, byte(len(kr.primary)))
	header = append(header, kr.primary...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(reader(kr.rand), nonce); err != nil {
		return nil, fmt.Errorf("keyring seal: nonce: %w", err)
	}
	out := append(header, nonce...)
	return aead.Seal(out, nonce, plaintext, additional(header, associatedData)), nil
}

// Open decrypts a ciphertext made by Seal with the key it names. It returns ErrUnknownKey
// when the keyring lacks that key and ErrTampered when the ciphertext is malformed, was
// altered, or was sealed with other associated data.
func (kr *Keyring) Open(sealed, associatedData []byte) ([]byte, error) {
	keyID, err := SealedKeyID(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := kr.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, keyID)
	}
	headerLen := 2 + len(keyID)
	if len(sealed) < headerLen+aead.NonceSize()+aead.Overhead() {
		return nil, ErrTampered
	}
	header := sealed[:headerLen]
	nonce := sealed[headerLen : headerLen+aead.NonceSize()]
	plaintext, err := aead.Open(nil, nonce, sealed[headerLen+aead.NonceSize():], additional(header, associatedData))
	if err != nil {
		return nil, ErrTampered
	}
	return plaintext, nil
}

// SealedKeyID returns the ID of the key that sealed a ciphertext, without opening it; a
// rotation job uses it to find what to re-seal.
func SealedKeyID(sealed []byte) (string, error) {
	if len(sealed) < 2 || sealed[0] != sealVersion {
		return "", ErrTampered
	}
	n := int(sealed[1])
	if n == 0 || len(sealed) < 2+n {
		return "", ErrTampered
	}
	return string(sealed[2 : 2+n]), nil
}

// additional binds the header to the caller's associated data. The header states its own
// length, so the boundary between the two cannot shift.
func additional(header, associatedData []byte) []byte {
	ad := make([]byte, 0, len(header)+len(associatedData))
	ad = append(ad, header...)
	return append(ad, associatedData...)
}

// DerivedKey is a key for one purpose derived from one keyring key, named by that key's ID.
// What it makes (a signature, a MAC) carries the ID, so that the holder of a keyring picks
// the right key to check it after a rotation.
type DerivedKey struct {
	ID  string
	Key []byte
}

// DeriveKey returns the 32-byte key for one purpose (for example "session") derived with HKDF
// from the primary key: every node with the same keyring derives the same key. A new primary
// changes it, so use it only for what lives no longer than a rotation may cut short; what must
// outlive a rotation names its key and is checked with DeriveKeys.
func (kr *Keyring) DeriveKey(purpose string) []byte { return derive(kr.keys[kr.primary], purpose) }

// DeriveKeys returns the purpose's key derived from every key of the keyring, the primary's
// first: what an old key made keeps checking until that key leaves the keyring.
func (kr *Keyring) DeriveKeys(purpose string) []DerivedKey {
	out := []DerivedKey{{ID: kr.primary, Key: kr.DeriveKey(purpose)}}
	for id, k := range kr.keys {
		if id != kr.primary {
			out = append(out, DerivedKey{ID: id, Key: derive(k, purpose)})
		}
	}
	slices.SortFunc(out[1:], func(a, b DerivedKey) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func derive(k Key, purpose string) []byte {
	d, err := hkdf.Key(sha256.New, k.material, nil, "assent.derived."+purpose, sha256.Size)
	if err != nil {
		panic("secrets: hkdf: " + err.Error()) // cannot happen: 32 bytes is far below HKDF's limit
	}
	return d
}
