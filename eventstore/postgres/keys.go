package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/assent-dev/assent/eventstore"
)

var (
	_ eventstore.SubjectKeys       = (*Store)(nil)
	_ eventstore.SubjectKeysReader = (*Store)(nil)
)

// CreateSubjectKey implements eventstore.SubjectKeys with the table subject_keys, which is
// not part of the log (no position, no chain). Every node shares it.
func (s *Store) CreateSubjectKey(ctx context.Context, subject string, wrapped []byte) ([]byte, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO subject_keys (subject, wrapped) VALUES ($1, $2) ON CONFLICT (subject) DO NOTHING`, subject, wrapped); err != nil {
		return nil, fmt.Errorf("postgres create subject key: %w", err)
	}
	return s.SubjectKey(ctx, subject)
}

// SubjectKey implements eventstore.SubjectKeys.
func (s *Store) SubjectKey(ctx context.Context, subject string) ([]byte, error) {
	var wrapped []byte
	err := s.pool.QueryRow(ctx, `SELECT wrapped FROM subject_keys WHERE subject = $1`, subject).Scan(&wrapped)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, eventstore.ErrKeyNotFound
	case err != nil:
		return nil, fmt.Errorf("postgres read subject key: %w", err)
	case wrapped == nil:
		return nil, eventstore.ErrKeyDestroyed
	}
	return wrapped, nil
}

// SubjectKeysOf implements eventstore.SubjectKeysReader in one query (the subjects as an
// array).
func (s *Store) SubjectKeysOf(ctx context.Context, subjects []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(subjects))
	rows, err := s.pool.Query(ctx, `SELECT subject, wrapped FROM subject_keys WHERE subject = ANY($1)`, subjects)
	if err != nil {
		return nil, fmt.Errorf("postgres read subject keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sub string
		var wrapped []byte
		if err := rows.Scan(&sub, &wrapped); err != nil {
			return nil, fmt.Errorf("postgres read subject keys: %w", err)
		}
		out[sub] = wrapped // nil: destroyed
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres read subject keys: %w", err)
	}
	return out, nil
}

// DestroySubjectKey implements eventstore.SubjectKeys. PostgreSQL keeps the old row version
// until VACUUM reclaims it, and its write-ahead log and base backups keep copies for as long
// as they are kept: docs/erasure.md says what an operator does about them.
func (s *Store) DestroySubjectKey(ctx context.Context, subject string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO subject_keys (subject, wrapped, destroyed_at) VALUES ($1, NULL, now())
		ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, destroyed_at = coalesce(subject_keys.destroyed_at, now())`, subject)
	if err != nil {
		return fmt.Errorf("postgres destroy subject key: %w", err)
	}
	return nil
}

// RewrapSubjectKey implements eventstore.SubjectKeys.
func (s *Store) RewrapSubjectKey(ctx context.Context, subject string, old, wrapped []byte) error {
	if _, err := s.pool.Exec(ctx, `UPDATE subject_keys SET wrapped = $3 WHERE subject = $1 AND wrapped = $2`, subject, old, wrapped); err != nil {
		return fmt.Errorf("postgres rewrap subject key: %w", err)
	}
	return nil
}
