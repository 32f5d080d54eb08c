package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/assent-dev/assent/eventstore"
)

// migrateV1 brings a schema-1 file to schema 2: it adds prev_hash and chains every existing
// event to the previous event of its stream, in one transaction, reading the log in pages in
// (stream, version) order so that memory stays bounded whatever the file's size. Schema-1
// files exist: every `assent serve` before the hash chain wrote one.
func migrateV1(ctx context.Context, conn *sql.Conn) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite migrate to schema 2: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `ALTER TABLE events ADD COLUMN prev_hash BLOB NOT NULL DEFAULT x''`); err != nil {
		return fmt.Errorf("sqlite migrate to schema 2: %w", err)
	}
	const page = 2000
	var (
		lastStream  string
		lastVersion int64 = -1
		prev        eventstore.Hash
	)
	type update struct {
		pos  int64
		hash eventstore.Hash
	}
	updates := make([]update, 0, page)
	for {
		rows, err := tx.QueryContext(ctx, `SELECT `+columns+` FROM events WHERE (stream, version) > (?, ?) ORDER BY stream, version LIMIT ?`, lastStream, lastVersion, page)
		if err != nil {
			return fmt.Errorf("sqlite migrate to schema 2: %w", err)
		}
		evs, err := scanEvents(rows, page)
		if err != nil {
			return fmt.Errorf("sqlite migrate to schema 2: %w", err)
		}
		updates = updates[:0]
		for i := range evs {
			ev := &evs[i]
			if ev.Stream != lastStream {
				prev = eventstore.Hash{}
			}
			updates = append(updates, update{int64(ev.Position), prev})
			prev = eventstore.ChainHash(prev, ev)
			lastStream, lastVersion = ev.Stream, int64(ev.Version)
		}
		for _, u := range updates {
			if _, err := tx.ExecContext(ctx, `UPDATE events SET prev_hash = ? WHERE position = ?`, u.hash[:], u.pos); err != nil {
				return fmt.Errorf("sqlite migrate to schema 2: %w", err)
			}
		}
		if len(evs) < page {
			break
		}
	}
	if _, err := tx.ExecContext(ctx, `PRAGMA user_version = 2`); err != nil {
		return fmt.Errorf("sqlite migrate to schema 2: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite migrate to schema 2: %w", err)
	}
	return nil
}
