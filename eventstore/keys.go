package eventstore

import (
	"context"
	"errors"
)

// Errors of SubjectKeys. Check them with errors.Is.
var (
	// ErrKeyNotFound: the subject never had a key.
	ErrKeyNotFound = errors.New("eventstore: no key for the subject")
	// ErrKeyDestroyed: the subject's key was destroyed; it cannot have another.
	ErrKeyDestroyed = errors.New("eventstore: the subject's key was destroyed")
)

// SubjectKeys is implemented by a store that keeps one small key per subject beside its log,
// in a place from which a key can truly be deleted, unlike the log itself (the SQLite and
// PostgreSQL backends: a table of the store's database). The store does not know what the keys
// are for; the caller keeps them wrapped (encrypted) under its own keys. A destroyed key leaves
// a mark, so that a subject whose key was destroyed is told apart from one that never had one
// and never gets a new key.
type SubjectKeys interface {
	// CreateSubjectKey makes wrapped the subject's key unless it already has one, and returns
	// the key the subject has then: wrapped, or the key another caller created first. It
	// returns ErrKeyDestroyed for a subject whose key was destroyed. The key is durable when it
	// returns.
	CreateSubjectKey(ctx context.Context, subject string, wrapped []byte) ([]byte, error)
	// SubjectKey returns the subject's key, ErrKeyNotFound or ErrKeyDestroyed.
	SubjectKey(ctx context.Context, subject string) ([]byte, error)
	// DestroySubjectKey deletes the subject's key and leaves the mark that it was destroyed
	// (also for a subject that had no key); destroying again is no error. When it returns, the
	// key's bytes are gone from the live database; backups taken before still hold them.
	DestroySubjectKey(ctx context.Context, subject string) error
	// RewrapSubjectKey replaces the subject's key old by wrapped (the same key wrapped anew,
	// after its wrapping key rotated); it does nothing when the subject no longer holds old (it
	// was destroyed, or another caller rewrapped it first).
	RewrapSubjectKey(ctx context.Context, subject string, old, wrapped []byte) error
}

// SubjectKeysReader is implemented by a SubjectKeys store that reads the keys of many subjects
// in one query (the SQLite backend): a reader of the log opens a page of events with one
// lookup of their owners' keys instead of one per owner.
type SubjectKeysReader interface {
	// SubjectKeysOf returns what the store holds for each of subjects: the key of a subject
	// that has one, nil for a subject whose key was destroyed; a subject that never had a key
	// is absent from the map.
	SubjectKeysOf(ctx context.Context, subjects []string) (map[string][]byte, error)
}
