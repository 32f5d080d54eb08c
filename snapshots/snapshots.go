// Package snapshots keeps the latest snapshot of each aggregate stream in the node's own
// database (localdb, table snap_streams), so that loading a long stream reads only the events
// after its snapshot. A snapshot is a hint: whoever reads one checks it against the stream.
package snapshots

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/localdb"
)

// Snapshot is the folded state of a stream up to and including the event at Version, whose
// ID is LastID, encoded in Schema (for an account, domain.AccountSnapshotSchema).
type Snapshot struct {
	Version uint64
	LastID  uuid.UUID
	Schema  int
	Data    []byte
}

// Store keeps snapshots in a local database. It is safe for concurrent use.
type Store struct {
	db *localdb.DB
}

const schema = `CREATE TABLE IF NOT EXISTS snap_streams (
	stream   TEXT    PRIMARY KEY,
	version  INTEGER NOT NULL,
	last_id  BLOB    NOT NULL,
	schema   INTEGER NOT NULL,
	data     BLOB    NOT NULL,
	saved_at INTEGER NOT NULL DEFAULT (unixepoch())
)`

// Open creates the snapshot table in db if it is not there, and returns a Store on it. The
// caller keeps db and closes it after the last use of the Store.
func Open(ctx context.Context, db *localdb.DB) (*Store, error) {
	if _, err := db.Writer.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("snapshots: create table: %w", err)
	}
	return &Store{db: db}, nil
}

// Snapshot returns the saved snapshot of stream; ok is false when there is none.
func (s *Store) Snapshot(ctx context.Context, stream string) (Snapshot, bool, error) {
	var snap Snapshot
	var id []byte
	err := s.db.Reader.QueryRowContext(ctx, `SELECT version, last_id, schema, data FROM snap_streams WHERE stream = ?`, stream).
		Scan(&snap.Version, &id, &snap.Schema, &snap.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return Snapshot{}, false, nil
	}
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("snapshots: read %s: %w", stream, err)
	}
	if snap.LastID, err = uuid.FromBytes(id); err != nil {
		return Snapshot{}, false, fmt.Errorf("snapshots: read %s: last event ID: %w", stream, err)
	}
	return snap, true, nil
}

// SaveSnapshot makes snap the saved snapshot of stream, in place of any other: the newest
// save wins, so that a snapshot the stream does not match (a log restored from an older
// backup) is replaced by the next one saved.
func (s *Store) SaveSnapshot(ctx context.Context, stream string, snap Snapshot) error {
	_, err := s.db.Writer.ExecContext(ctx, `INSERT INTO snap_streams (stream, version, last_id, schema, data) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (stream) DO UPDATE SET version = excluded.version, last_id = excluded.last_id,
			schema = excluded.schema, data = excluded.data, saved_at = excluded.saved_at`,
		stream, int64(snap.Version), snap.LastID[:], snap.Schema, snap.Data)
	if err != nil {
		return fmt.Errorf("snapshots: save %s at version %d: %w", stream, snap.Version, err)
	}
	return nil
}
