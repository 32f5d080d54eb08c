package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

// Files of schemas 1 and 2 exist: every `assent serve` before the hash chain wrote schema 1,
// and every one before the body column wrote schema 2. Opening one read-write brings it to the
// current schema in one transaction, so that a crash midway leaves the old file as it was.
//
//   - Schema 1 had no chain: each event gets the hash of the previous event of its stream,
//     computed while the log is read in (stream, version) order.
//   - Schema 2 has the chain: each event keeps the prev_hash stored with it, as it is. It is not
//     computed again, so that migrating a file never mends a chain someone broke.
//
// Both are read in pages of legacyPage rows, so memory stays bounded whatever the file's size,
// and rewritten into the schema-3 table; the stream index is built from it at the end.

const legacyPage = 2000

const legacyColumns = `position, id, stream, version, type, schema_version, data, correlation_id, causation_id, actor, recorded_at`

func migrateLegacy(ctx context.Context, conn *sql.Conn, from int64) error {
	fail := func(err error) error {
		return fmt.Errorf("sqlite migrate from schema %d to %d: %w", from, schemaVersion, err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE events_v3 (
			position INTEGER PRIMARY KEY,
			id       BLOB    NOT NULL UNIQUE,
			body     BLOB    NOT NULL);
		CREATE TABLE stream_index (
			stream   TEXT    NOT NULL,
			version  INTEGER NOT NULL,
			position INTEGER NOT NULL,
			PRIMARY KEY (stream, version)
		) WITHOUT ROWID;`); err != nil {
		return fail(err)
	}
	var ins v3Inserts
	if ins.event, err = tx.PrepareContext(ctx, `INSERT INTO events_v3 (position, id, body) VALUES (?, ?, ?)`); err != nil {
		return fail(err)
	}
	defer ins.event.Close()
	if ins.index, err = tx.PrepareContext(ctx, `INSERT INTO stream_index (stream, version, position) VALUES (?, ?, ?)`); err != nil {
		return fail(err)
	}
	defer ins.index.Close()
	copyRows := copyChained
	if from == 1 {
		copyRows = copyUnchained
	}
	if err := copyRows(ctx, tx, &ins); err != nil {
		return fail(err)
	}
	rest := `DROP TABLE events;
		ALTER TABLE events_v3 RENAME TO events;
		CREATE TABLE store_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
		INSERT INTO store_state (name, value) SELECT 'indexed_through', coalesce(max(position), 0) FROM events;`
	if _, err := tx.ExecContext(ctx, rest); err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// legacyRow is one event of a schema-1 or schema-2 file.
type legacyRow struct {
	ev   eventstore.RecordedEvent
	prev []byte
}

func scanLegacy(rows *sql.Rows, chained bool) ([]legacyRow, error) {
	defer rows.Close()
	var out []legacyRow
	for rows.Next() {
		var r legacyRow
		var id, data []byte
		var recordedAt int64
		dest := []any{&r.ev.Position, &id, &r.ev.Stream, &r.ev.Version, &r.ev.Type, &r.ev.SchemaVersion, &data,
			&r.ev.Metadata.CorrelationID, &r.ev.Metadata.CausationID, &r.ev.Metadata.Actor, &recordedAt}
		if chained {
			dest = append(dest, &r.prev)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if len(id) != len(r.ev.ID) {
			return nil, fmt.Errorf("event at position %d: bad id of %d bytes", r.ev.Position, len(id))
		}
		copy(r.ev.ID[:], id)
		r.ev.Data = data
		r.ev.Metadata.RecordedAt = time.Unix(0, recordedAt).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// v3Inserts write an event and its stream_index row.
type v3Inserts struct{ event, index *sql.Stmt }

func (ins *v3Inserts) write(ctx context.Context, ev *eventstore.RecordedEvent, prev *eventstore.Hash) error {
	data := eventstore.EventData{ID: ev.ID, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data, Metadata: ev.Metadata}
	if _, err := ins.event.ExecContext(ctx, int64(ev.Position), ev.ID[:],
		appendBody(nil, ev.Stream, ev.Version, &data, ev.Metadata.RecordedAt.UnixNano(), prev)); err != nil {
		return err
	}
	_, err := ins.index.ExecContext(ctx, ev.Stream, int64(ev.Version), int64(ev.Position))
	return err
}

// copyChained copies a schema-2 log in position order, each event with its stored prev_hash.
// A stored link of the wrong length becomes the zero hash, which a verifier then reports.
func copyChained(ctx context.Context, tx *sql.Tx, ins *v3Inserts) error {
	var after int64
	for {
		rows, err := tx.QueryContext(ctx, `SELECT `+legacyColumns+`, prev_hash FROM events WHERE position > ? ORDER BY position LIMIT ?`, after, legacyPage)
		if err != nil {
			return err
		}
		page, err := scanLegacy(rows, true)
		if err != nil {
			return err
		}
		for i := range page {
			var prev eventstore.Hash
			if len(page[i].prev) == len(prev) {
				copy(prev[:], page[i].prev)
			}
			if err := ins.write(ctx, &page[i].ev, &prev); err != nil {
				return err
			}
			after = int64(page[i].ev.Position)
		}
		if len(page) < legacyPage {
			return nil
		}
	}
}

// copyUnchained copies a schema-1 log in (stream, version) order, chaining each event to the
// one before it in its stream.
func copyUnchained(ctx context.Context, tx *sql.Tx, ins *v3Inserts) error {
	var (
		lastStream  string
		lastVersion int64 = -1
		prev        eventstore.Hash
	)
	for {
		rows, err := tx.QueryContext(ctx, `SELECT `+legacyColumns+` FROM events WHERE (stream, version) > (?, ?) ORDER BY stream, version LIMIT ?`, lastStream, lastVersion, legacyPage)
		if err != nil {
			return err
		}
		page, err := scanLegacy(rows, false)
		if err != nil {
			return err
		}
		for i := range page {
			ev := &page[i].ev
			if ev.Stream != lastStream {
				prev = eventstore.Hash{}
			}
			if err := ins.write(ctx, ev, &prev); err != nil {
				return err
			}
			prev = eventstore.ChainHash(prev, ev)
			lastStream, lastVersion = ev.Stream, int64(ev.Version)
		}
		if len(page) < legacyPage {
			return nil
		}
	}
}
