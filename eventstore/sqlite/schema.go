package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// applicationID marks a SQLite file as an Assent event store ("ASNT").
const applicationID = 0x41534E54

// schemaVersion is the version of the tables below; a file with a higher one is refused.
// Version 2 added prev_hash, the hash chain of each stream; version 3 folded each event into one body column
// (body.go), beside its position and its ID (which carries the uniqueness index), and moved the (stream, version) index into
// stream_index, written in arrears (index.go). Older files are migrated (legacy.go).
const schemaVersion = 3

const schemaSQL = `
CREATE TABLE events (
	position INTEGER PRIMARY KEY,
	id       BLOB    NOT NULL UNIQUE,
	body     BLOB    NOT NULL
);
CREATE TABLE stream_index (
	stream   TEXT    NOT NULL,
	version  INTEGER NOT NULL,
	position INTEGER NOT NULL,
	PRIMARY KEY (stream, version)
) WITHOUT ROWID;
CREATE TABLE store_state (
	name  TEXT    PRIMARY KEY,
	value INTEGER NOT NULL
);
INSERT INTO store_state (name, value) VALUES ('indexed_through', 0);
CREATE TABLE checkpoints (
	name       TEXT    PRIMARY KEY,
	position   INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
`

// migrate creates the schema in an empty file, and refuses a file that is not an Assent store
// or that a newer version wrote.
func migrate(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite open: %w", describeOpenError(err))
	}
	defer conn.Close()
	appID, version, tables, err := inspect(ctx, conn)
	if err != nil {
		return err
	}
	if appID == 0 && version == 0 && tables == 0 {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite create schema: %w", err)
		}
		defer tx.Rollback()
		for _, stmt := range []string{
			schemaSQL,
			fmt.Sprintf(`PRAGMA application_id = %d`, applicationID),
			fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion),
		} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlite create schema: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite create schema: %w", err)
		}
		return nil
	}
	if err := judge(appID, version); err != nil {
		return err
	}
	if version < schemaVersion {
		return migrateLegacy(ctx, conn, version)
	}
	return nil
}

func checkSchema(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite open: %w", describeOpenError(err))
	}
	defer conn.Close()
	appID, version, _, err := inspect(ctx, conn)
	if err != nil {
		return err
	}
	if err := judge(appID, version); err != nil {
		return err
	}
	if version < schemaVersion {
		return fmt.Errorf("%w: the file has schema %d and a read-only opening cannot migrate it to %d; open it read-write once (assent serve does)", ErrOldSchema, version, schemaVersion)
	}
	return nil
}

func judge(appID, version int64) error {
	if appID != applicationID {
		return fmt.Errorf("%w (its application_id is %#x, want %#x)", ErrNotAssentStore, appID, applicationID)
	}
	if version > schemaVersion {
		return fmt.Errorf("%w: its schema version is %d and this build reads up to %d", ErrNewerSchema, version, schemaVersion)
	}
	if version < 1 {
		return fmt.Errorf("%w (schema version %d)", ErrNotAssentStore, version)
	}
	return nil
}

func inspect(ctx context.Context, conn *sql.Conn) (appID, version, tables int64, err error) {
	if err = conn.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		return 0, 0, 0, fmt.Errorf("sqlite open: %w", describeOpenError(err))
	}
	if err = conn.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return 0, 0, 0, fmt.Errorf("sqlite open: %w", describeOpenError(err))
	}
	if err = conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&tables); err != nil {
		return 0, 0, 0, fmt.Errorf("sqlite open: %w", describeOpenError(err))
	}
	return appID, version, tables, nil
}

// describeOpenError turns SQLite's words for a foreign file into ErrNotAssentStore.
func describeOpenError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "not a database") || strings.Contains(msg, "SQLITE_NOTADB") || strings.Contains(msg, "file is encrypted") {
		return fmt.Errorf("%w: %v", ErrNotAssentStore, err)
	}
	return err
}
