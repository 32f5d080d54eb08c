// Package personal seals the personal fields of events (the fields the domain tags
// `assent:"personal"`) under a key per owner, an account or a device, before they enter the
// log, and opens them when they are read. Destroying an owner's key erases its personal
// fields everywhere at once, in the log, in its copies and in its backups, without changing a
// stored byte (crypto-shredding); hash chains and signed checkpoints still verify.
//
// Each owner's key is an AES-256 key of its own, wrapped by the deployment keyring and kept
// outside the log, in the store's eventstore.SubjectKeys, from which it can truly be deleted.
package personal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/secrets"
)

// Errors. Check them with errors.Is.
var (
	// ErrErased is returned for a write of personal data under an owner whose key was destroyed.
	ErrErased = errors.New("personal: the owner was erased")
	// ErrNoKeyStore is returned by Erase on a store that keeps no keys.
	ErrNoKeyStore = errors.New("personal: the event store keeps no owner keys")
)

// cachedKeys bounds the unwrapped owner keys kept in memory.
const cachedKeys = 10_000

// Keys creates, finds and destroys owners' keys. It is safe for concurrent use.
type Keys struct {
	store   eventstore.SubjectKeys
	keyring *secrets.Keyring
	rand    io.Reader
	cache   *lru.Cache[uuid.UUID, ownerKey]
}

// ownerKey is what is known of an owner's key: the key, that it was destroyed, or (both
// zero) that the owner had none when last asked.
type ownerKey struct {
	kr        *secrets.Keyring
	destroyed bool
}

// NewKeys returns the keys kept in store, wrapped by keyring (the deployment keyring, which
// also seals TOTP secrets). A nil store keeps no keys: personal fields are then written in
// the clear, as before keys existed, and Erase fails with ErrNoKeyStore.
func NewKeys(store eventstore.SubjectKeys, keyring *secrets.Keyring) *Keys {
	c, _ := lru.New[uuid.UUID, ownerKey](cachedKeys)
	return &Keys{store: store, keyring: keyring, rand: rand.Reader, cache: c}
}

// Enabled reports whether personal fields are sealed.
func (k *Keys) Enabled() bool { return k != nil && k.store != nil }

func subject(owner uuid.UUID) string { return "owner-" + owner.String() }

func wrapAD(owner uuid.UUID) []byte { return []byte("assent.personal.key|" + owner.String()) }

// forSeal returns the owner's key, creating it on first use; ErrErased once it was destroyed.
func (k *Keys) forSeal(ctx context.Context, owner uuid.UUID) (*secrets.Keyring, error) {
	if c, ok := k.cache.Get(owner); ok && (c.kr != nil || c.destroyed) {
		if c.destroyed {
			return nil, ErrErased
		}
		return c.kr, nil
	}
	wrapped, err := k.store.SubjectKey(ctx, subject(owner))
	if errors.Is(err, eventstore.ErrKeyNotFound) {
		material := make([]byte, secrets.KeySize)
		if _, err := io.ReadFull(k.rand, material); err != nil {
			return nil, fmt.Errorf("personal key: %w", err)
		}
		fresh, serr := k.keyring.Seal(material, wrapAD(owner))
		if serr != nil {
			return nil, fmt.Errorf("personal key: %w", serr)
		}
		wrapped, err = k.store.CreateSubjectKey(ctx, subject(owner), fresh)
	}
	return k.remember(ctx, owner, wrapped, err)
}

// forOpen returns the owner's key, or nil with destroyed true once it was destroyed, or nil
// and false for an owner that has none. That an owner has none is remembered (the events of an
// old log's accounts are read without a query each), unless needKey says that the caller holds
// something sealed under a key: another node created it since.
func (k *Keys) forOpen(ctx context.Context, owner uuid.UUID, needKey bool) (kr *secrets.Keyring, destroyed bool, err error) {
	if c, ok := k.cache.Get(owner); ok && (c.kr != nil || c.destroyed || !needKey) {
		return c.kr, c.destroyed, nil
	}
	wrapped, err := k.store.SubjectKey(ctx, subject(owner))
	if errors.Is(err, eventstore.ErrKeyNotFound) {
		k.cache.Add(owner, ownerKey{})
		return nil, false, nil
	}
	kr, err = k.remember(ctx, owner, wrapped, err)
	if errors.Is(err, ErrErased) {
		return nil, true, nil
	}
	return kr, false, err
}

// forOpenKnown is forOpen that first consults known, the keys looked up for a page (lookUp).
func (k *Keys) forOpenKnown(ctx context.Context, owner uuid.UUID, needKey bool, known map[uuid.UUID]ownerKey) (*secrets.Keyring, bool, error) {
	if c, ok := known[owner]; ok && (c.kr != nil || c.destroyed || !needKey) {
		return c.kr, c.destroyed, nil
	}
	return k.forOpen(ctx, owner, needKey)
}

// holds reports whether the cache knows owner's key, or that it has none or a destroyed one.
func (k *Keys) holds(owner uuid.UUID) bool { return k.cache.Contains(owner) }

// lookUp reads the keys of owners in one query and remembers them, as forOpen does one.
func (k *Keys) lookUp(ctx context.Context, r eventstore.SubjectKeysReader, owners []uuid.UUID) (map[uuid.UUID]ownerKey, error) {
	subjects := make([]string, len(owners))
	for i, o := range owners {
		subjects[i] = subject(o)
	}
	found, err := r.SubjectKeysOf(ctx, subjects)
	if err != nil {
		return nil, fmt.Errorf("personal keys: %w", err)
	}
	out := make(map[uuid.UUID]ownerKey, len(owners))
	for i, o := range owners {
		wrapped, ok := found[subjects[i]]
		switch {
		case !ok:
			out[o] = ownerKey{}
			k.cache.Add(o, ownerKey{})
		case wrapped == nil:
			out[o] = ownerKey{destroyed: true}
			k.cache.Add(o, ownerKey{destroyed: true})
		default:
			kr, err := k.remember(ctx, o, wrapped, nil)
			if err != nil {
				return nil, err
			}
			out[o] = ownerKey{kr: kr}
		}
	}
	return out, nil
}

func (k *Keys) remember(ctx context.Context, owner uuid.UUID, wrapped []byte, err error) (*secrets.Keyring, error) {
	if errors.Is(err, eventstore.ErrKeyDestroyed) {
		k.cache.Add(owner, ownerKey{destroyed: true})
		return nil, ErrErased
	}
	if err != nil {
		return nil, fmt.Errorf("personal key: %w", err)
	}
	material, err := k.keyring.Open(wrapped, wrapAD(owner))
	if err != nil {
		return nil, fmt.Errorf("personal key of %s: %w", owner, err)
	}
	// A key wrapped under an older keyring key is wrapped anew under the primary, so that the
	// older key can leave the keyring once every account in use has been read.
	if id, _ := secrets.SealedKeyID(wrapped); id != k.keyring.PrimaryKeyID() {
		if fresh, err := k.keyring.Seal(material, wrapAD(owner)); err == nil {
			_ = k.store.RewrapSubjectKey(context.WithoutCancel(ctx), subject(owner), wrapped, fresh) // retried at the next read
		}
	}
	key, err := secrets.NewKey("personal", material)
	if err != nil {
		return nil, fmt.Errorf("personal key of %s: %w", owner, err)
	}
	kr, err := secrets.NewKeyring(key)
	if err != nil {
		return nil, fmt.Errorf("personal key of %s: %w", owner, err)
	}
	k.cache.Add(owner, ownerKey{kr: kr})
	return kr, nil
}

// Erase destroys the owner's key for good: every personal field sealed under it becomes
// unreadable, on every node (each forgets the key when it reads the account.erased that
// follows). Erasing an owner with no key marks it erased all the same.
func (k *Keys) Erase(ctx context.Context, owner uuid.UUID) error {
	if !k.Enabled() {
		return ErrNoKeyStore
	}
	if err := k.store.DestroySubjectKey(ctx, subject(owner)); err != nil {
		return fmt.Errorf("personal erase: %w", err)
	}
	k.cache.Add(owner, ownerKey{destroyed: true})
	return nil
}

// Erased reports whether the owner's key was destroyed.
func (k *Keys) Erased(ctx context.Context, owner uuid.UUID) (bool, error) {
	if !k.Enabled() {
		return false, nil
	}
	_, destroyed, err := k.forOpen(ctx, owner, false)
	return destroyed, err
}

// forget drops what is cached of the owner's key, so that the next use asks the store.
func (k *Keys) forget(owner uuid.UUID) { k.cache.Remove(owner) }

// IndexKey returns the deployment's key named name (for example the key of email lookups),
// kept beside the owners' keys, wrapped by the keyring, and created on first use. Unlike a key
// derived from the keyring, it survives rotations: read under an older keyring key, it is
// wrapped anew under the primary. With no key store it returns nil.
func (k *Keys) IndexKey(ctx context.Context, name string) ([]byte, error) {
	if !k.Enabled() {
		return nil, nil
	}
	subj := "index-" + name
	ad := []byte("assent.index.key|" + name)
	wrapped, err := k.store.SubjectKey(ctx, subj)
	if errors.Is(err, eventstore.ErrKeyNotFound) {
		material := make([]byte, secrets.KeySize)
		if _, err := io.ReadFull(k.rand, material); err != nil {
			return nil, fmt.Errorf("index key: %w", err)
		}
		fresh, serr := k.keyring.Seal(material, ad)
		if serr != nil {
			return nil, fmt.Errorf("index key: %w", serr)
		}
		wrapped, err = k.store.CreateSubjectKey(ctx, subj, fresh)
	}
	if err != nil {
		return nil, fmt.Errorf("index key %s: %w", name, err)
	}
	material, err := k.keyring.Open(wrapped, ad)
	if err != nil {
		return nil, fmt.Errorf("index key %s: %w", name, err)
	}
	if id, _ := secrets.SealedKeyID(wrapped); id != k.keyring.PrimaryKeyID() {
		if fresh, err := k.keyring.Seal(material, ad); err == nil {
			_ = k.store.RewrapSubjectKey(context.WithoutCancel(ctx), subj, wrapped, fresh)
		}
	}
	return material, nil
}
