package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/assent-dev/assent/eventstore"
)

var _ eventstore.IndexVerifier = (*Store)(nil)

// ErrIndexMismatch is returned by a stream read that finds stream_index disagreeing with the
// log (a version missing, an entry pointing at another event): the read is refused rather than
// trusted. Opening the file read-write checks the index and rebuilds it from the log.
var ErrIndexMismatch = errors.New("sqlite: the stream index disagrees with the log (restart the server to rebuild it from the log; `assent audit verify` names the entries)")

// Opening a file read-write checks that stream_index is whole, without reading all of it: a
// log of ten million events has an index of ten million rows, and counting them took seconds
// at every start. What the check guards against is a row lost or altered (by hand, by a tool,
// by damage) since the index was written: a stream read through such an index would come back
// short, and a command would decide on a history with events missing.
//
//   - Triggers count, in store_state's index_changes, every row of stream_index or of events
//     deleted or updated. The writer only ever inserts rows; so a count above zero at open means
//     that someone changed the index or the log under it, and the index is rebuilt from the log
//     (which sets the count to zero). A log whose last events are gone (a watermark past the
//     last position) is rebuilt too.
//   - The index rows of the last indexTailCheck events at or below the watermark are looked up
//     one by one: the entries a crash or a second writer would have left out.
//   - A file without the triggers (written by an earlier version, or whose triggers were
//     dropped) gets the full check once, counting the rows, and then the triggers.
//
// A row deleted with the triggers dropped and put back, deep in the log, is not seen at open:
// stream reads still refuse a history with a version missing (checkRead), and
// `assent audit verify` names every disagreement (VerifyIndex).

// indexTailCheck is the number of the last indexed events whose rows are looked up at open.
const indexTailCheck = 1024

const indexTriggers = `
INSERT OR IGNORE INTO store_state (name, value) VALUES ('index_changes', 0);
CREATE TRIGGER IF NOT EXISTS stream_index_deleted AFTER DELETE ON stream_index
	BEGIN UPDATE store_state SET value = value + 1 WHERE name = 'index_changes'; END;
CREATE TRIGGER IF NOT EXISTS stream_index_updated AFTER UPDATE ON stream_index
	BEGIN UPDATE store_state SET value = value + 1 WHERE name = 'index_changes'; END;
CREATE TRIGGER IF NOT EXISTS events_deleted AFTER DELETE ON events
	BEGIN UPDATE store_state SET value = value + 1 WHERE name = 'index_changes'; END;
CREATE TRIGGER IF NOT EXISTS events_updated AFTER UPDATE ON events
	BEGIN UPDATE store_state SET value = value + 1 WHERE name = 'index_changes'; END;`

// indexTriggerNames are the triggers indexTriggers makes.
const indexTriggerNames = `'stream_index_deleted', 'stream_index_updated', 'events_deleted', 'events_updated'`

// checkIndex checks stream_index at open and rebuilds it from the log when it is not whole. It
// returns the number of events reindexed (0: the index was whole). Writer only, before the
// tail is loaded.
func checkIndex(ctx context.Context, db *sql.DB) (int, error) {
	var triggers int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN (`+indexTriggerNames+`)`).Scan(&triggers); err != nil {
		return 0, fmt.Errorf("sqlite open: check the index: %w", err)
	}
	var changes sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT value FROM store_state WHERE name = 'index_changes'`).Scan(&changes); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite open: check the index: %w", err)
	}
	var n int
	var err error
	var through int64
	var head sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT (SELECT value FROM store_state WHERE name = 'indexed_through'), (SELECT max(position) FROM events)`).Scan(&through, &head); err != nil {
		return 0, fmt.Errorf("sqlite open: check the index: %w", err)
	}
	switch {
	case triggers != 4 || !changes.Valid:
		n, err = countIndex(ctx, db)
	case changes.Int64 > 0 || through > head.Int64:
		n, err = rebuildIndex(ctx, db)
	default:
		var whole bool
		if whole, err = indexTailWhole(ctx, db); err == nil && !whole {
			n, err = rebuildIndex(ctx, db)
		}
	}
	if err != nil {
		return 0, err
	}
	if triggers != 4 || !changes.Valid {
		if _, err := db.ExecContext(ctx, indexTriggers); err != nil {
			return 0, fmt.Errorf("sqlite open: add the index triggers: %w", err)
		}
	}
	return n, nil
}

// countIndex is the full check: the number of stream_index rows must equal the number of
// events at or below the index watermark, as every such event is indexed once (rows are unique
// by stream and version, and each points at its own event). When they differ the index is
// rebuilt from the log.
func countIndex(ctx context.Context, db *sql.DB) (int, error) {
	var through, indexed, logged, unindexed int64
	if err := db.QueryRowContext(ctx, `SELECT value FROM store_state WHERE name = 'indexed_through'`).Scan(&through); err != nil {
		return 0, fmt.Errorf("sqlite open: check the index: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM stream_index`).Scan(&indexed); err != nil {
		return 0, fmt.Errorf("sqlite open: check the index: %w", err)
	}
	// All events minus those after the watermark: a count(*) without a bound walks the small
	// index of event IDs instead of the table of bodies.
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&logged); err != nil {
		return 0, fmt.Errorf("sqlite open: check the index: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE position > ?`, through).Scan(&unindexed); err != nil {
		return 0, fmt.Errorf("sqlite open: check the index: %w", err)
	}
	if indexed == logged-unindexed {
		return 0, nil
	}
	return rebuildIndex(ctx, db)
}

// indexTailWhole reports whether the last indexTailCheck events at or below the watermark each
// have their own row in stream_index.
func indexTailWhole(ctx context.Context, db *sql.DB) (bool, error) {
	fail := func(err error) (bool, error) { return false, fmt.Errorf("sqlite open: check the index: %w", err) }
	rows, err := db.QueryContext(ctx, `SELECT `+columns+` FROM events
		WHERE position <= (SELECT value FROM store_state WHERE name = 'indexed_through') ORDER BY position DESC LIMIT ?`, indexTailCheck)
	if err != nil {
		return fail(err)
	}
	var want []indexRow
	for rows.Next() {
		var pos int64
		var raw []byte
		if err := rows.Scan(&pos, &raw); err != nil {
			rows.Close()
			return fail(err)
		}
		b, err := decodeBody(raw)
		if err != nil {
			rows.Close()
			return fail(describeBodyError(pos, err))
		}
		want = append(want, indexRow{string(b.stream), tailEntry{version: int64(b.version), position: pos}})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	for _, r := range want {
		var pos int64
		err := db.QueryRowContext(ctx, `SELECT position FROM stream_index WHERE stream = ? AND version = ?`, r.stream, r.version).Scan(&pos)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && pos != r.position) {
			return false, nil
		}
		if err != nil {
			return fail(err)
		}
	}
	return true, nil
}

// rebuildIndex writes stream_index anew from the log, in one transaction, and moves the
// watermark to the log's head.
func rebuildIndex(ctx context.Context, db *sql.DB) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite open: rebuild the index: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM stream_index`); err != nil {
		return 0, fmt.Errorf("sqlite open: rebuild the index: %w", err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO stream_index (stream, version, position) VALUES (?, ?, ?)`)
	if err != nil {
		return 0, fmt.Errorf("sqlite open: rebuild the index: %w", err)
	}
	defer ins.Close()
	var after, n int64
	for {
		rows, err := tx.QueryContext(ctx, `SELECT `+columns+` FROM events WHERE position > ? ORDER BY position LIMIT 2000`, after)
		if err != nil {
			return 0, fmt.Errorf("sqlite open: rebuild the index: %w", err)
		}
		var page []indexRow
		for rows.Next() {
			var pos int64
			var raw []byte
			if err := rows.Scan(&pos, &raw); err != nil {
				rows.Close()
				return 0, fmt.Errorf("sqlite open: rebuild the index: %w", err)
			}
			b, err := decodeBody(raw)
			if err != nil {
				rows.Close()
				return 0, fmt.Errorf("sqlite open: rebuild the index: %w", describeBodyError(pos, err))
			}
			page = append(page, indexRow{string(b.stream), tailEntry{version: int64(b.version), position: pos}})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("sqlite open: rebuild the index: %w", err)
		}
		for _, r := range page {
			if _, err := ins.ExecContext(ctx, r.stream, r.version, r.position); err != nil {
				return 0, fmt.Errorf("sqlite open: rebuild the index: stream %q version %d at position %d: %w", r.stream, r.version, r.position, err)
			}
		}
		n += int64(len(page))
		if len(page) > 0 {
			after = page[len(page)-1].position
		}
		if len(page) < 2000 {
			break
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE store_state SET value = ? WHERE name = 'indexed_through'`, after); err != nil {
		return 0, fmt.Errorf("sqlite open: rebuild the index: %w", err)
	}
	// The DELETE above went through the triggers: the index is whole again.
	if _, err := tx.ExecContext(ctx, `UPDATE store_state SET value = 0 WHERE name = 'index_changes'`); err != nil {
		return 0, fmt.Errorf("sqlite open: rebuild the index: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite open: rebuild the index: %w", err)
	}
	return int(n), nil
}

// VerifyIndex implements eventstore.IndexVerifier: every stream_index row must point at an
// event of its own stream and version, each stream's rows must run from version 0 without a
// gap, and every event at or below the index watermark must have its row. It reads the whole
// index and, when rows are missing, the log up to the watermark.
func (s *Store) VerifyIndex(ctx context.Context) ([]eventstore.IndexProblem, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	// One read transaction: the writer may move its tail into the index meanwhile, and every
	// query must see the same snapshot.
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite verify index: %w", err)
	}
	defer tx.Rollback()
	problems, err := verifyIndex(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("sqlite verify index: %w", s.noteRead(err))
	}
	return problems, nil
}

func verifyIndex(ctx context.Context, tx *sql.Tx) ([]eventstore.IndexProblem, error) {
	var through int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM store_state WHERE name = 'indexed_through'`).Scan(&through); err != nil {
		return nil, err
	}
	var problems []eventstore.IndexProblem
	report := func(stream string, version, pos int64, format string, args ...any) {
		problems = append(problems, eventstore.IndexProblem{Stream: stream, Version: version, Position: eventstore.Position(pos), Message: fmt.Sprintf(format, args...)})
	}
	rows, err := tx.QueryContext(ctx, `SELECT i.stream, i.version, i.position, e.body FROM stream_index i
		LEFT JOIN events e ON e.position = i.position ORDER BY i.stream, i.version`)
	if err != nil {
		return nil, err
	}
	var (
		positions []int64
		stream    string
		next      int64
	)
	for rows.Next() {
		var st string
		var version, pos int64
		var raw []byte
		if err := rows.Scan(&st, &version, &pos, &raw); err != nil {
			rows.Close()
			return nil, err
		}
		if st != stream {
			stream, next = st, 0
		}
		if version > next {
			report(st, next, 0, "versions %d to %d of the stream have no index entry, though the stream goes on to version %d", next, version-1, version)
		}
		next = version + 1
		positions = append(positions, pos)
		if pos > through {
			report(st, version, pos, "the index entry of version %d points at position %d, past the index watermark %d", version, pos, through)
		}
		if raw == nil {
			report(st, version, pos, "the index entry of version %d points at position %d, which holds no event", version, pos)
			continue
		}
		b, err := decodeBody(raw)
		if err != nil {
			report(st, version, pos, "the event at position %d does not decode: %v", pos, err)
			continue
		}
		if string(b.stream) != st || int64(b.version) != version {
			report(st, version, pos, "the index entry of version %d points at position %d, which holds version %d of stream %q", version, pos, b.version, b.stream)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Events at or below the watermark without a row: found by walking the log beside the
	// sorted positions the index holds, when the counts tell that some are missing.
	slices.Sort(positions)
	var logged int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE position <= ?`, through).Scan(&logged); err != nil {
		return nil, err
	}
	if logged == int64(len(positions)) {
		return problems, nil
	}
	erows, err := tx.QueryContext(ctx, `SELECT `+columns+` FROM events WHERE position <= ? ORDER BY position`, through)
	if err != nil {
		return nil, err
	}
	defer erows.Close()
	for erows.Next() {
		var pos int64
		var raw []byte
		if err := erows.Scan(&pos, &raw); err != nil {
			return nil, err
		}
		if _, found := slices.BinarySearch(positions, pos); found {
			continue
		}
		b, err := decodeBody(raw)
		if err != nil {
			report("", -1, pos, "the event at position %d has no index entry and does not decode: %v", pos, err)
			continue
		}
		report(string(b.stream), int64(b.version), pos, "version %d of the stream (position %d) has no index entry: stream reads do not see it", b.version, pos)
	}
	return problems, erows.Err()
}

// checkRead refuses a stream read whose events do not follow from what was asked: an event of
// another stream, versions that skip, a forwards read that does not start at the version asked
// for, or a read that ends before the head this store's writer knows. Each means that
// stream_index has lost or altered an entry, and a command deciding on such a read would decide
// on a history with events missing (a used backup code found unused).
func (s *Store) checkRead(stream string, opts eventstore.ReadStreamOptions, evs []eventstore.RecordedEvent, head int64) error {
	for i := range evs {
		if evs[i].Stream != stream {
			return fmt.Errorf("%w: the entry of version %d points at an event of stream %q", ErrIndexMismatch, evs[i].Version, evs[i].Stream)
		}
		if i > 0 {
			want := evs[i-1].Version + 1
			if opts.Direction == eventstore.Backwards {
				want = evs[i-1].Version - 1
			}
			if evs[i].Version != want {
				return fmt.Errorf("%w: version %d follows version %d", ErrIndexMismatch, evs[i].Version, evs[i-1].Version)
			}
		}
	}
	// The head the writer knows counts only if it is at or below the head this read saw: the
	// writer records it before it publishes its commit.
	h, known := s.known.get(stream)
	known = known && int64(h.position) <= head
	version := h.version
	if opts.Direction == eventstore.Forwards {
		if len(evs) > 0 && evs[0].Version != opts.From {
			return fmt.Errorf("%w: a read from version %d starts at version %d", ErrIndexMismatch, opts.From, evs[0].Version)
		}
		if known && (opts.Limit <= 0 || len(evs) < opts.Limit) && opts.From <= version && (len(evs) == 0 || evs[len(evs)-1].Version < version) {
			return fmt.Errorf("%w: the read ends before version %d, which this store wrote", ErrIndexMismatch, version)
		}
		return nil
	}
	if len(evs) > 0 {
		top := version
		if !opts.FromEnd {
			top = min(top, opts.From)
		}
		if known && evs[0].Version < top {
			return fmt.Errorf("%w: a backwards read starts at version %d, below version %d", ErrIndexMismatch, evs[0].Version, top)
		}
	}
	return nil
}
