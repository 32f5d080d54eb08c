package audit

import (
	"context"
	"fmt"

	"github.com/assent-dev/assent/localdb"
)

// The audit's tables in the node's local database (localdb). They hold what the audit derives
// from the log, each with the position it has read up to, written in the same transaction:
//
//   - audit_index_streams: the streams of each account's history (Index);
//   - audit_index_state: the position the index has read up to, and that event's ID.
//
// The checkpointer's tables (audit_heads, audit_buckets, audit_checkpointer) are package
// audit/checkpointer's.
const tablesSQL = `
CREATE TABLE IF NOT EXISTS audit_index_streams (
	account BLOB NOT NULL,
	stream  TEXT NOT NULL,
	PRIMARY KEY (account, stream)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_index_state (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	position INTEGER NOT NULL,
	event_id BLOB NOT NULL
);
`

// ensureTables creates the index's tables in db if they are not there.
func ensureTables(ctx context.Context, db *localdb.DB) error {
	if db == nil {
		return fmt.Errorf("audit: no local database to keep the audit's state in")
	}
	if _, err := db.Writer.ExecContext(ctx, tablesSQL); err != nil {
		return fmt.Errorf("audit tables: %w", err)
	}
	return nil
}
