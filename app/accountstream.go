package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/snapshots"
)

// snapshotEvery is how many events an account stream grows past its last snapshot before the
// next one is saved: a load without a cached entry reads at most about this many events.
const snapshotEvery = 16

// Snapshots keeps the latest snapshot of each account stream (package snapshots, in the
// node's local database), so that a load reads only the events after it, whatever the
// stream's length. A snapshot is a hint, never the answer:
// a load uses it only when the store still holds its last event at its version, and reads
// what follows from the store. Methods must be safe for concurrent use.
type Snapshots interface {
	// Snapshot returns the saved snapshot of stream; ok is false when there is none.
	Snapshot(ctx context.Context, stream string) (s snapshots.Snapshot, ok bool, err error)
	// SaveSnapshot makes s the snapshot of stream, in place of the one saved before.
	SaveSnapshot(ctx context.Context, stream string, s snapshots.Snapshot) error
}

// loadAccountStream returns the account folded from its stream and the version to expect
// after it; a stream that does not exist gives an account that does not exist and NoStream.
// The account is shared with the stream cache: a caller must not change it (Fold copies).
//
// The cached entry is used as load uses one (known heads, else a read from its last event).
// Without one, the saved snapshot is restored and the events after it are read, the read
// starting at the snapshot's own last event, which must still be there (same version, same
// ID); a snapshot that does not restore or does not match is ignored. Only then is the whole
// stream read. Every snapshotEvery events, the account is saved as a snapshot again.
func (s *Service) loadAccountStream(ctx context.Context, id uuid.UUID) (*domain.Account, eventstore.ExpectedVersion, error) {
	stream := domain.AccountStream(id)
	c := s.streams.get(stream)
	if c != nil && c.account != nil {
		if s.heads != nil {
			if v, id, ok := s.heads.KnownHead(stream); ok && v == c.version && id == c.lastID {
				return c.account, eventstore.Exact(c.version), nil
			}
		}
		cur, err := s.loadCached(ctx, stream, c)
		if err != nil {
			return nil, eventstore.ExpectedVersion{}, err
		}
		if cur != nil {
			s.saveSnapshot(ctx, stream, cur)
			return cur.account, eventstore.Exact(cur.version), nil
		}
		s.streams.drop(stream, c)
	}
	if base := s.restoreSnapshot(ctx, stream); base != nil {
		cur, err := s.loadCached(ctx, stream, base)
		if err != nil {
			return nil, eventstore.ExpectedVersion{}, err
		}
		if cur != nil {
			s.streams.put(stream, cur) // loadCached puts only an entry it extended
			s.saveSnapshot(ctx, stream, cur)
			return cur.account, eventstore.Exact(cur.version), nil
		}
	}
	recs, err := s.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		a, err := domain.LoadAccount(nil)
		return a, eventstore.NoStream(), err
	}
	if err != nil {
		return nil, eventstore.ExpectedVersion{}, fmt.Errorf("read %s: %w", stream, err)
	}
	if len(recs) == 0 {
		return nil, eventstore.ExpectedVersion{}, fmt.Errorf("read %s: the store returned no event and no error", stream)
	}
	events, _, err := decodeRecords(stream, recs)
	if err != nil {
		return nil, eventstore.ExpectedVersion{}, err
	}
	a, err := domain.LoadAccount(events)
	if err != nil {
		return nil, eventstore.ExpectedVersion{}, fmt.Errorf("read %s: %w", stream, err)
	}
	last := recs[len(recs)-1]
	cur := &cachedStream{account: a, version: last.Version, lastID: last.ID, bytes: entryOverhead + a.SizeHint()}
	s.streams.put(stream, cur)
	s.saveSnapshot(ctx, stream, cur)
	return a, eventstore.Exact(last.Version), nil
}

// restoreSnapshot returns the saved snapshot of an account stream as an entry, or nil when
// there is none or it does not restore (another schema, another encoding): then the stream is
// read whole, and the snapshot saved again.
func (s *Service) restoreSnapshot(ctx context.Context, stream string) *cachedStream {
	if s.snapshots == nil {
		return nil
	}
	snap, ok, err := s.snapshots.Snapshot(ctx, stream)
	if err != nil {
		slog.WarnContext(ctx, "snapshot not read; reading the whole stream", "stream", stream, "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	a, err := domain.UnmarshalAccountSnapshot(snap.Schema, snap.Data)
	if err != nil {
		return nil
	}
	return &cachedStream{account: a, version: snap.Version, lastID: snap.LastID, bytes: entryOverhead + a.SizeHint(), snapshot: snap.Version}
}

// saveSnapshot saves the account of c as the stream's snapshot when it is snapshotEvery
// events past the last one saved, and notes it in the cached entry. A snapshot that cannot be
// saved is only a hint lost: the load still returns the account, and the next load reads more.
func (s *Service) saveSnapshot(ctx context.Context, stream string, c *cachedStream) {
	if s.snapshots == nil || c.account == nil || c.version+1 < c.snapshot+snapshotEvery {
		return
	}
	data, err := c.account.MarshalSnapshot()
	if err == nil {
		err = s.snapshots.SaveSnapshot(context.WithoutCancel(ctx), stream, snapshots.Snapshot{Version: c.version, LastID: c.lastID, Schema: domain.AccountSnapshotSchema, Data: data})
	}
	if err != nil {
		slog.WarnContext(ctx, "snapshot not saved", "stream", stream, "version", c.version, "err", err)
		return
	}
	noted := *c
	noted.snapshot = c.version
	s.streams.put(stream, &noted)
}

var _ Snapshots = (*snapshots.Store)(nil)
