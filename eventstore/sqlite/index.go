package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"
)

// The stream index (stream, version → position) is written in arrears, as EventStoreDB writes
// its index from its log. An append writes its events to the log (the events table) and commits;
// its stream entries wait in memory, in the tail, and go into stream_index later, many commits'
// worth in one go, inside a later commit of the writer. So a commit writes the log's pages and
// not one index page per stream it touches, and an index page takes all the entries that
// accumulated for its streams at once.
//
// The log is the truth: store_state.indexed_through says up to which position stream_index is
// complete, and opening a file loads the entries of the events after it back into the tail, so
// a crash loses nothing. Readers look at both: the tail first (under its lock), then the table.

// indexRowsPerInsert is the number of rows of the prepared multi-row INSERT of a flush.
const indexRowsPerInsert = 64

// tailEntry is where one event of a stream is: its version and position.
type tailEntry struct{ version, position int64 }

// streamTail holds the stream entries of committed events that stream_index does not hold yet.
// Only the writer goroutine changes it; readers take copies under the read lock.
type streamTail struct {
	batch int           // Options.IndexBatch
	delay time.Duration // Options.IndexDelay

	mu      sync.RWMutex
	through int64                  // every event at or below this position is in stream_index
	streams map[string][]tailEntry // each in version order
	n       int
	since   time.Time // when the oldest entry held was added
}

// load fills the tail with the events after stream_index's watermark: those of the commits
// that were not yet indexed when the file was last closed or the process died.
func (t *streamTail) load(ctx context.Context, q *sql.DB) error {
	t.streams = make(map[string][]tailEntry)
	if err := q.QueryRowContext(ctx, `SELECT value FROM store_state WHERE name = 'indexed_through'`).Scan(&t.through); err != nil {
		return fmt.Errorf("sqlite open: read the index watermark: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+columns+` FROM events WHERE position > ? ORDER BY position`, t.through)
	if err != nil {
		return fmt.Errorf("sqlite open: read the unindexed tail: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pos int64
		var raw sql.RawBytes
		if err := rows.Scan(&pos, &raw); err != nil {
			return fmt.Errorf("sqlite open: read the unindexed tail: %w", err)
		}
		b, err := decodeBody(raw)
		if err != nil {
			return fmt.Errorf("sqlite open: read the unindexed tail: %w", describeBodyError(pos, err))
		}
		stream := string(b.stream)
		t.streams[stream] = append(t.streams[stream], tailEntry{version: int64(b.version), position: pos})
		t.n++
	}
	t.since = time.Now()
	return rows.Err()
}

// add records the entries of a committed batch. Writer only.
func (t *streamTail) add(batch []*writeReq) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.since = time.Now()
	}
	for _, req := range batch {
		if !req.wrote() {
			continue
		}
		first := int64(req.result.Version) - int64(len(req.events)) + 1
		entries := t.streams[req.stream]
		for i := range req.events {
			entries = append(entries, tailEntry{version: first + int64(i), position: req.chain[i].position})
		}
		t.streams[req.stream] = entries
		t.n += len(req.events)
	}
}

// due says whether the writer should move the tail into stream_index now.
func (t *streamTail) due(now time.Time) bool {
	return t.n >= t.batch || (t.n > 0 && now.Sub(t.since) >= t.delay)
}

// entries returns a copy of the stream's tail entries at or below head.
func (t *streamTail) entries(stream string, head int64) []tailEntry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	src := t.streams[stream]
	n := len(src)
	for n > 0 && src[n-1].position > head {
		n--
	}
	if n == 0 {
		return nil
	}
	return slices.Clone(src[:n])
}

// last returns the stream's last tail entry. Writer only (it is the only one that changes the
// tail, so it reads it without the lock).
func (t *streamTail) last(stream string) (tailEntry, bool) {
	e := t.streams[stream]
	if len(e) == 0 {
		return tailEntry{}, false
	}
	return e[len(e)-1], true
}

// indexRow is one row of stream_index.
type indexRow struct {
	stream string
	tailEntry
}

// rows returns the tail as stream_index rows in key order, so that the inserts of one index
// page come one after the other, and the highest position among them. Writer only.
func (t *streamTail) rows() ([]indexRow, int64) {
	out := make([]indexRow, 0, t.n)
	through := t.through
	for stream, entries := range t.streams {
		for _, e := range entries {
			out = append(out, indexRow{stream, e})
			through = max(through, e.position)
		}
	}
	slices.SortFunc(out, func(a, b indexRow) int {
		if c := cmp.Compare(a.stream, b.stream); c != 0 {
			return c
		}
		return cmp.Compare(a.version, b.version)
	})
	return out, through
}

// flushed empties the tail after its rows were committed to stream_index. Writer only.
func (t *streamTail) flushed(through int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.streams)
	t.n = 0
	t.through = through
}

// flushTail moves the tail into stream_index, and the watermark with it, in a transaction of
// its own, and empties the tail once that has committed. A failure leaves the tail as it was
// (readers still find every event there), is counted in Stats.IndexErrors, and the move is
// tried again later. Writer only.
func (s *Store) flushTail() {
	if s.tail.n == 0 {
		return
	}
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		s.indexErrors.Add(1)
		return
	}
	through, err := flushIndex(ctx, tx, s.writer, &s.tail)
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		tx.Rollback()
		s.indexErrors.Add(1)
		return
	}
	s.tail.flushed(through)
}

// flushIndex writes the tail into stream_index and moves the watermark, in tx, and returns the
// new watermark.
func flushIndex(ctx context.Context, tx *sql.Tx, w *writerState, t *streamTail) (int64, error) {
	rows, through := t.rows()
	args := make([]any, 0, 3*indexRowsPerInsert)
	many := tx.StmtContext(ctx, w.indexMany)
	one := tx.StmtContext(ctx, w.indexOne)
	for len(rows) > 0 {
		n := min(len(rows), indexRowsPerInsert)
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r.stream, r.version, r.position)
		}
		var err error
		if n == indexRowsPerInsert {
			_, err = many.ExecContext(ctx, args...)
		} else {
			for i := 0; i < len(args) && err == nil; i += 3 {
				_, err = one.ExecContext(ctx, args[i:i+3]...)
			}
		}
		if err != nil {
			return 0, fmt.Errorf("write the stream index: %w", err)
		}
		rows = rows[n:]
	}
	if _, err := tx.StmtContext(ctx, w.watermark).ExecContext(ctx, through); err != nil {
		return 0, fmt.Errorf("move the index watermark: %w", err)
	}
	return through, nil
}
