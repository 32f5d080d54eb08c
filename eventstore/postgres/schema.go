package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaVersion is the version of the tables below; a database with a higher one is refused.
const schemaVersion = 1

// schemaLock is the advisory lock key that serializes the creation of the schema by nodes that
// start together ("ASNT").
const schemaLock = 0x41534E54

// The data column is bytea, not jsonb: the hash chain covers the exact bytes appended, and jsonb
// would reorder keys and drop whitespace.
const schemaSQL = `
CREATE TABLE IF NOT EXISTS events (
	position       bigint      PRIMARY KEY,
	id             uuid        NOT NULL UNIQUE,
	stream         text        NOT NULL,
	version        bigint      NOT NULL,
	type           text        NOT NULL,
	schema_version integer     NOT NULL,
	data           bytea       NOT NULL,
	correlation_id text        NOT NULL,
	causation_id   text        NOT NULL,
	actor          text        NOT NULL,
	recorded_at    timestamptz NOT NULL,
	prev_hash      bytea       NOT NULL,
	UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS streams (
	stream  text   PRIMARY KEY,
	version bigint NOT NULL,
	hash    bytea  NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
	name       text        PRIMARY KEY,
	position   bigint      NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS subject_keys (
	subject      text        PRIMARY KEY,
	wrapped      bytea,
	destroyed_at timestamptz
);
CREATE TABLE IF NOT EXISTS store_meta (
	name  text   PRIMARY KEY,
	value bigint NOT NULL
);
`

// migrate creates the tables where they are missing and refuses a schema a newer build made.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres open: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLock)); err != nil {
		return fmt.Errorf("postgres create schema: %w", err)
	}
	if _, err := tx.Exec(ctx, schemaSQL); err != nil {
		return fmt.Errorf("postgres create schema: %w", err)
	}
	var version int64
	err = tx.QueryRow(ctx, `INSERT INTO store_meta (name, value) VALUES ('schema_version', $1)
		ON CONFLICT (name) DO UPDATE SET value = store_meta.value RETURNING value`, int64(schemaVersion)).Scan(&version)
	if err != nil {
		return fmt.Errorf("postgres create schema: %w", err)
	}
	if version > schemaVersion {
		return fmt.Errorf("%w: its schema version is %d and this build reads up to %d", ErrNewerSchema, version, schemaVersion)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres create schema: %w", err)
	}
	return nil
}
