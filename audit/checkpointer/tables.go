package checkpointer

import (
	"context"
	"fmt"

	"github.com/assent-dev/assent/localdb"
)

// The checkpointer's tables in the node's local database (localdb), beside the audit index's
// (package audit), all prefixed audit_. Each page of the log folded is written in one
// transaction with the position it reaches:
//
//   - audit_heads: every stream's head (version, hash), its bucket in the bucket tree and the
//     position of its last change;
//   - audit_buckets: the hashes of the buckets that hold streams;
//   - audit_checkpointer: the position the heads have read up to and that event's ID, the
//     position the bucket hashes reflect, the number of streams, and the last checkpoint seen.
const tablesSQL = `
CREATE TABLE IF NOT EXISTS audit_heads (
	bucket     INTEGER NOT NULL,
	stream     TEXT NOT NULL,
	version    INTEGER NOT NULL,
	hash       BLOB NOT NULL,
	changed_at INTEGER NOT NULL,
	PRIMARY KEY (bucket, stream)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_heads_changed ON audit_heads (changed_at);
CREATE TABLE IF NOT EXISTS audit_buckets (
	bucket INTEGER PRIMARY KEY,
	hash   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_checkpointer (
	id              INTEGER PRIMARY KEY CHECK (id = 1),
	position        INTEGER NOT NULL,
	event_id        BLOB NOT NULL,
	tree_position   INTEGER NOT NULL,
	streams         INTEGER NOT NULL,
	last_checkpoint TEXT,
	last_at         INTEGER NOT NULL,
	last_other      INTEGER NOT NULL,
	last_version    INTEGER NOT NULL
);
`

// ensureTables creates the checkpointer's tables in db if they are not there.
func ensureTables(ctx context.Context, db *localdb.DB) error {
	if db == nil {
		return fmt.Errorf("audit checkpoint: no local database to keep the checkpointer's state in")
	}
	if _, err := db.Writer.ExecContext(ctx, tablesSQL); err != nil {
		return fmt.Errorf("audit checkpoint tables: %w", err)
	}
	return nil
}
