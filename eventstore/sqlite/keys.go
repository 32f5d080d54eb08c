package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/assent-dev/assent/eventstore"
)

var (
	_ eventstore.SubjectKeys       = (*Store)(nil)
	_ eventstore.SubjectKeysReader = (*Store)(nil)
)

// subjectKeysSQL is the table of subject keys (eventstore.SubjectKeys). It is not part of the
// log and its rows are not chained: a key is deleted for good, by overwriting its bytes
// (secure_delete) and checkpointing the WAL so that no copy stays in it. A destroyed key
// leaves its row with no key.
const subjectKeysSQL = `CREATE TABLE IF NOT EXISTS subject_keys (
	subject      TEXT    PRIMARY KEY,
	wrapped      BLOB,
	destroyed_at INTEGER
) WITHOUT ROWID`

// createSubjectKeys adds the table to a store opened for writing; a file of an earlier build
// gets it at its first opening for writing.
func createSubjectKeys(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, subjectKeysSQL); err != nil {
		return fmt.Errorf("sqlite create subject keys: %w", err)
	}
	return nil
}

// CreateSubjectKey implements eventstore.SubjectKeys.
func (s *Store) CreateSubjectKey(ctx context.Context, subject string, wrapped []byte) ([]byte, error) {
	if s.wdb == nil {
		return nil, errors.New("sqlite create subject key: the store is open read-only")
	}
	_, err := s.wdb.ExecContext(ctx, `INSERT INTO subject_keys (subject, wrapped) VALUES (?, ?) ON CONFLICT (subject) DO NOTHING`, subject, wrapped)
	s.noteWrite(classify(err)) // a full disk shows in Health as an append's failure does
	if err != nil {
		return nil, fmt.Errorf("sqlite create subject key: %w", classify(err))
	}
	return s.subjectKey(ctx, s.wdb, subject)
}

// SubjectKey implements eventstore.SubjectKeys.
func (s *Store) SubjectKey(ctx context.Context, subject string) ([]byte, error) {
	return s.subjectKey(ctx, s.rdb, subject)
}

func (s *Store) subjectKey(ctx context.Context, db *sql.DB, subject string) ([]byte, error) {
	var wrapped []byte
	err := db.QueryRowContext(ctx, `SELECT wrapped FROM subject_keys WHERE subject = ?`, subject).Scan(&wrapped)
	switch {
	case errors.Is(err, sql.ErrNoRows), err != nil && strings.Contains(err.Error(), "no such table"):
		// A file no build with keys has opened for writing has no table, and no keys.
		return nil, eventstore.ErrKeyNotFound
	case err != nil:
		return nil, fmt.Errorf("sqlite read subject key: %w", classify(err))
	case wrapped == nil:
		return nil, eventstore.ErrKeyDestroyed
	}
	return wrapped, nil
}

// subjectsAtOnce is the most subjects SubjectKeysOf asks for in one statement.
const subjectsAtOnce = 500

// SubjectKeysOf implements eventstore.SubjectKeysReader, in statements of up to
// subjectsAtOnce subjects.
func (s *Store) SubjectKeysOf(ctx context.Context, subjects []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(subjects))
	for len(subjects) > 0 {
		part := subjects[:min(len(subjects), subjectsAtOnce)]
		subjects = subjects[len(part):]
		args := make([]any, len(part))
		for i, sub := range part {
			args[i] = sub
		}
		query := `SELECT subject, wrapped FROM subject_keys WHERE subject IN (?` + strings.Repeat(", ?", len(part)-1) + `)`
		rows, err := s.rdb.QueryContext(ctx, query, args...)
		if err != nil && strings.Contains(err.Error(), "no such table") {
			return out, nil // a file no build with keys has opened for writing: no keys
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite read subject keys: %w", classify(err))
		}
		for rows.Next() {
			var sub string
			var wrapped []byte
			if err := rows.Scan(&sub, &wrapped); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite read subject keys: %w", classify(err))
			}
			out[sub] = wrapped // nil: destroyed
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite read subject keys: %w", classify(err))
		}
	}
	return out, nil
}

// DestroySubjectKey implements eventstore.SubjectKeys. The key's bytes are overwritten in the
// database file and the WAL is checkpointed and truncated, so that the live files no longer
// hold them once it returns.
func (s *Store) DestroySubjectKey(ctx context.Context, subject string) error {
	if s.wdb == nil {
		return errors.New("sqlite destroy subject key: the store is open read-only")
	}
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite destroy subject key: %w", classify(err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("sqlite destroy subject key: %w", classify(err))
	}
	// Appends free no content: the writer's connection goes back to the default after.
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
	if _, err := conn.ExecContext(ctx, `INSERT INTO subject_keys (subject, wrapped, destroyed_at) VALUES (?, NULL, unixepoch())
		ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, destroyed_at = coalesce(destroyed_at, unixepoch())`, subject); err != nil {
		return fmt.Errorf("sqlite destroy subject key: %w", classify(err))
	}
	// The WAL still holds the page as it was when the key was written: copy the new pages
	// back and empty it. A reader in the middle of a read may keep the checkpoint from
	// finishing; the writer's next checkpoints then complete it.
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("sqlite destroy subject key: checkpoint: %w", err)
	}
	return nil
}

// RewrapSubjectKey implements eventstore.SubjectKeys.
func (s *Store) RewrapSubjectKey(ctx context.Context, subject string, old, wrapped []byte) error {
	if s.wdb == nil {
		return errors.New("sqlite rewrap subject key: the store is open read-only")
	}
	if _, err := s.wdb.ExecContext(ctx, `UPDATE subject_keys SET wrapped = ? WHERE subject = ? AND wrapped = ?`, wrapped, subject, old); err != nil {
		return fmt.Errorf("sqlite rewrap subject key: %w", classify(err))
	}
	return nil
}
