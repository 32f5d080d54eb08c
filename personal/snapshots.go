package personal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/snapshots"
)

// SnapshotStore keeps snapshots of streams (app.Snapshots).
type SnapshotStore interface {
	Snapshot(ctx context.Context, stream string) (snapshots.Snapshot, bool, error)
	SaveSnapshot(ctx context.Context, stream string, s snapshots.Snapshot) error
}

// sealedSnapshots seals the snapshots of account streams, which hold what the account's events
// hold (its email, its devices' names), under the account's key: every node's copy becomes
// unreadable when the account is erased, as its events do.
type sealedSnapshots struct {
	inner SnapshotStore
	keys  *Keys
}

// SealSnapshots returns inner with the snapshots of account streams sealed under each
// account's key. With keys that keep nothing (no SubjectKeys), it returns inner.
func SealSnapshots(inner SnapshotStore, keys *Keys) SnapshotStore {
	if !keys.Enabled() {
		return inner
	}
	return sealedSnapshots{inner: inner, keys: keys}
}

func accountOfStream(stream string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(stream, "account-")
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil
}

func snapshotAD(stream string, version uint64) []byte {
	return fmt.Appendf(nil, "assent.personal.snapshot|%s|%d", stream, version)
}

// Snapshot returns the stream's snapshot, opened; an account's snapshot that no longer opens
// (the account was erased) is no snapshot: the caller folds the stream.
func (s sealedSnapshots) Snapshot(ctx context.Context, stream string) (snapshots.Snapshot, bool, error) {
	snap, ok, err := s.inner.Snapshot(ctx, stream)
	owner, isAccount := accountOfStream(stream)
	if err != nil || !ok || !isAccount {
		return snap, ok, err
	}
	kr, destroyed, err := s.keys.forOpen(ctx, owner, len(snap.Data) > 0 && snap.Data[0] != '{')
	switch {
	case err != nil:
		return snapshots.Snapshot{}, false, err
	case destroyed || kr == nil:
		return snapshots.Snapshot{}, false, nil
	case len(snap.Data) > 0 && snap.Data[0] == '{':
		return snap, true, nil // saved before snapshots were sealed
	}
	plain, err := kr.Open(snap.Data, snapshotAD(stream, snap.Version))
	if err != nil {
		return snapshots.Snapshot{}, false, nil // a hint that does not open is no hint
	}
	snap.Data = plain
	return snap, true, nil
}

// SaveSnapshot seals an account's snapshot and saves it; an erased account's is not saved.
func (s sealedSnapshots) SaveSnapshot(ctx context.Context, stream string, snap snapshots.Snapshot) error {
	owner, isAccount := accountOfStream(stream)
	if !isAccount {
		return s.inner.SaveSnapshot(ctx, stream, snap)
	}
	kr, err := s.keys.forSeal(ctx, owner)
	if errors.Is(err, ErrErased) {
		// The erased account's own snapshot holds nothing personal: saved as it is, it takes
		// the place of the one saved before the erasure.
		if a, uerr := domain.UnmarshalAccountSnapshot(snap.Schema, snap.Data); uerr == nil && a.Erased() {
			return s.inner.SaveSnapshot(ctx, stream, snap)
		}
	}
	if err != nil {
		return fmt.Errorf("seal snapshot of %s: %w", stream, err)
	}
	sealed, err := kr.Seal(snap.Data, snapshotAD(stream, snap.Version))
	if err != nil {
		return fmt.Errorf("seal snapshot of %s: %w", stream, err)
	}
	snap.Data = sealed
	return s.inner.SaveSnapshot(ctx, stream, snap)
}
