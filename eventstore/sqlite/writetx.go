package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

// writerState is owned by the writer goroutine: its prepared statements and a cache of stream
// heads, so that a batch of appends that pass their version check costs one INSERT.
type writerState struct {
	byID, headIndexed, headAt, checkpoint, maxPos *sql.Stmt
	indexMany, indexOne, watermark                *sql.Stmt
	heads                                         map[string]streamHead
	// recordedAt is the time recorded with the events of the last commit.
	recordedAt time.Time
	// next is the position the next event gets; 0 when it must be read again (after a
	// rollback). The writer assigns positions itself, since each event's hash covers it.
	next int64
	// inserts holds a prepared INSERT per row count, as batches come in a few sizes.
	inserts [maxRowsPerInsert + 1]*sql.Stmt
	// syncTook is how long the last COMMIT statement took (CommitStats.Sync).
	syncTook time.Duration
}

const (
	maxCachedHeads = 100_000
	// maxRowsPerInsert is the largest INSERT that is prepared in advance; the requests of a
	// batch are written in INSERTs of up to this many rows, never splitting a request.
	maxRowsPerInsert = 16
	insertColumns    = `INSERT INTO events (position, id, body) VALUES `
	insertRow        = `(?, ?, ?)`
	insertArgs       = 3
)

// streamHead is the cached head of a stream: its last version (-1: no stream) and that
// event's chain hash.
type streamHead struct {
	version int64
	hash    eventstore.Hash
}

// chainLink is where the writer put one event: its position and the hash it chains to.
type chainLink struct {
	position int64
	prev     eventstore.Hash
}

func (s *Store) prepareWriter(ctx context.Context) (*writerState, error) {
	w := &writerState{heads: make(map[string]streamHead)}
	for n := 1; n <= maxRowsPerInsert; n++ {
		st, err := s.wdb.PrepareContext(ctx, insertSQL(n))
		if err != nil {
			w.close()
			return nil, fmt.Errorf("sqlite prepare: %w", err)
		}
		w.inserts[n] = st
	}
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&w.byID, `SELECT ` + columns + ` FROM events WHERE id = ?`},
		{&w.headIndexed, `SELECT ` + indexedColumns + ` FROM stream_index i CROSS JOIN events e ON e.position = i.position WHERE i.stream = ? ORDER BY i.version DESC LIMIT 1`},
		{&w.headAt, `SELECT ` + columns + ` FROM events WHERE position = ?`},
		{&w.indexMany, `INSERT INTO stream_index (stream, version, position) VALUES (?, ?, ?)` + strings.Repeat(`, (?, ?, ?)`, indexRowsPerInsert-1)},
		{&w.indexOne, `INSERT INTO stream_index (stream, version, position) VALUES (?, ?, ?)`},
		{&w.watermark, `UPDATE store_state SET value = ? WHERE name = 'indexed_through'`},
		{&w.maxPos, `SELECT max(position) FROM events`},
		{&w.checkpoint, `INSERT INTO checkpoints (name, position, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`},
	} {
		var err error
		if *p.dst, err = s.wdb.PrepareContext(ctx, p.sql); err != nil {
			return nil, fmt.Errorf("sqlite prepare: %w", err)
		}
	}
	return w, nil
}

func (w *writerState) close() {
	for _, st := range append([]*sql.Stmt{w.byID, w.headIndexed, w.headAt, w.checkpoint, w.maxPos, w.indexMany, w.indexOne, w.watermark}, w.inserts[:]...) {
		if st != nil {
			st.Close()
		}
	}
}

// insert returns the INSERT of n rows: prepared when n is at most maxRowsPerInsert.
// (Statements cannot be prepared on the DB during a transaction: the writer has one connection.)
func (w *writerState) insert(n int) (*sql.Stmt, string) {
	if n <= maxRowsPerInsert {
		return w.inserts[n], ""
	}
	return nil, insertSQL(n)
}

func insertSQL(n int) string {
	return insertColumns + insertRow + strings.Repeat(", "+insertRow, n-1)
}

// batchTx is one transaction of the writer: the requests that passed their checks wait in
// pending until they are written together by one multi-row INSERT.
type batchTx struct {
	ctx              context.Context
	w                *writerState
	tail             *streamTail
	tx               *sql.Tx
	byID, checkpoint *sql.Stmt
	now              int64
	recordedAt       time.Time
	pending          []*writeReq
	rows             int
	last             uint64
	// multi is set once an AppendMulti's parts are pending: its writes span INSERTs, so a
	// failed one must fail the transaction.
	multi bool
}

// errRetryAlone abandons a batch whose INSERT met an event ID that is already stored: the
// requests are then tried one by one, which finds the one that is a retry.
var errRetryAlone = errors.New("sqlite: an event ID is already stored; retrying the batch request by request")

// commitTx runs the batch in one transaction and returns the last position written. Requests
// refused by a check (conflict, duplicate) get their error and write nothing.
func (s *Store) commitTx(batch []*writeReq) (last uint64, err error) {
	ctx := context.Background()
	w := s.writer
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			clear(w.heads) // it may hold versions that were rolled back
			w.next = 0
		}
	}()
	now := s.opts.Now()
	b := &batchTx{
		ctx: ctx, w: w, tail: &s.tail, tx: tx, now: now.UnixNano(), recordedAt: time.Unix(0, now.UnixNano()).UTC(),
		byID:       tx.StmtContext(ctx, w.byID),
		checkpoint: tx.StmtContext(ctx, w.checkpoint),
	}
	if w.next == 0 {
		var maxPos sql.NullInt64
		if err := tx.StmtContext(ctx, w.maxPos).QueryRowContext(ctx).Scan(&maxPos); err != nil {
			return 0, err
		}
		w.next = maxPos.Int64 + 1
	}
	alone := len(batch) == 1
	for _, req := range batch {
		if err := b.add(req, alone); err != nil {
			return 0, err
		}
	}
	if err := b.flush(alone); err != nil {
		return 0, err
	}
	synced := time.Now()
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	w.syncTook = time.Since(synced)
	w.recordedAt = b.recordedAt
	if len(w.heads) > maxCachedHeads {
		clear(w.heads)
	}
	return b.last, nil
}

func (b *batchTx) add(req *writeReq, alone bool) error {
	if cp := req.checkpoint; cp != nil {
		_, err := b.checkpoint.ExecContext(b.ctx, cp.name, int64(cp.position), b.now)
		return err
	}
	if len(req.parts) > 0 {
		return b.addMulti(req, alone)
	}
	if req.probe {
		return b.probe()
	}
	req.err, req.result = nil, eventstore.AppendResult{}
	// chain is set again if the request is accepted: a request that writes nothing has none,
	// whatever an earlier, rolled back try of its batch set.
	req.chain = req.chain[:0]
	head, err := b.streamHead(req.stream)
	if err != nil {
		return err
	}
	if !req.expected.Matches(head.version) {
		// The request may be a retry of events already written, maybe by a request still
		// pending in this batch: write those first, then look.
		if err := b.flush(alone); err != nil {
			return err
		}
		return b.decideRefused(req, head.version)
	}
	if b.rows+len(req.events) > maxRowsPerInsert {
		if err := b.flush(alone); err != nil {
			return err
		}
	}
	req.result.Version = uint64(head.version) + uint64(len(req.events))
	b.w.heads[req.stream] = b.chain(req, head)
	b.pending = append(b.pending, req)
	b.rows += len(req.events)
	return nil
}

// chain gives each event of an accepted request its position and the hash it chains to, and
// returns the stream's new head.
func (b *batchTx) chain(req *writeReq, head streamHead) streamHead {
	req.chain = req.chain[:0]
	prev := head.hash
	for i, ev := range req.events {
		link := chainLink{position: b.w.next, prev: prev}
		req.chain = append(req.chain, link)
		rec := eventstore.RecordedEvent{
			ID: ev.ID, Stream: req.stream, Type: ev.Type, SchemaVersion: ev.SchemaVersion, Data: ev.Data,
			Metadata: eventstore.Metadata{CorrelationID: ev.Metadata.CorrelationID, CausationID: ev.Metadata.CausationID,
				Actor: ev.Metadata.Actor, RecordedAt: b.recordedAt},
			Version:  uint64(head.version + 1 + int64(i)),
			Position: eventstore.Position(link.position),
		}
		prev = eventstore.ChainHash(prev, &rec)
		b.w.next++
	}
	req.result.Position = eventstore.Position(b.w.next - 1)
	return streamHead{version: int64(req.result.Version), hash: prev}
}

// streamHead returns the head of the stream (counting requests pending in this batch), with
// version -1 when the stream does not exist.
func (b *batchTx) streamHead(stream string) (streamHead, error) {
	if h, ok := b.w.heads[stream]; ok {
		return h, nil
	}
	var rows *sql.Rows
	var err error
	if e, ok := b.tail.last(stream); ok {
		rows, err = b.tx.StmtContext(b.ctx, b.w.headAt).QueryContext(b.ctx, e.position)
	} else {
		rows, err = b.tx.StmtContext(b.ctx, b.w.headIndexed).QueryContext(b.ctx, stream)
	}
	if err != nil {
		return streamHead{}, err
	}
	evs, err := scanChained(rows)
	if err != nil {
		return streamHead{}, err
	}
	h := streamHead{version: -1}
	if len(evs) == 1 {
		h = streamHead{version: int64(evs[0].Version), hash: evs[0].Hash()}
	}
	b.w.heads[stream] = h
	return h, nil
}

// flush writes the pending requests with one INSERT, so that each request's events land whole
// or not at all, and sets each request's position. Rowids of one INSERT are consecutive.
func (b *batchTx) flush(alone bool) error {
	if len(b.pending) == 0 {
		return nil
	}
	// The bodies go into one buffer, sliced once it is complete.
	var buf []byte
	ends := make([]int, 0, b.rows)
	for _, req := range b.pending {
		first := req.result.Version - uint64(len(req.events)) + 1
		for i := range req.events {
			buf = appendBody(buf, req.stream, first+uint64(i), &req.events[i], b.now, &req.chain[i].prev)
			ends = append(ends, len(buf))
		}
	}
	args := make([]any, 0, insertArgs*b.rows)
	row, start := 0, 0
	for _, req := range b.pending {
		for i, ev := range req.events {
			args = append(args, req.chain[i].position, ev.ID[:], buf[start:ends[row]])
			start = ends[row]
			row++
		}
	}
	var err error
	if st, query := b.w.insert(b.rows); st != nil {
		_, err = b.tx.StmtContext(b.ctx, st).ExecContext(b.ctx, args...)
	} else {
		_, err = b.tx.ExecContext(b.ctx, query, args...)
	}
	if isDuplicateID(err) {
		if !alone {
			return errRetryAlone
		}
		if b.multi {
			// The parts of one AppendMulti may span several INSERTs: fail the transaction.
			return fmt.Errorf("%w: an event ID of this append is already stored", eventstore.ErrDuplicateEventID)
		}
		req := b.pending[0]
		b.pending, b.rows = nil, 0
		b.w.next -= int64(len(req.events))
		req.chain = req.chain[:0]
		delete(b.w.heads, req.stream)
		head, err := b.streamHead(req.stream)
		if err != nil {
			return err
		}
		return b.decideRefused(req, head.version)
	}
	if err != nil {
		return err
	}
	b.last = max(b.last, uint64(b.w.next-1))
	b.pending, b.rows = b.pending[:0], 0
	return nil
}

func isDuplicateID(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed: events.id")
}

// decideRefused settles a request that cannot be written as it is: an idempotent retry gets
// the original result, a partial one or an ID of another stream is refused, else it is a
// version conflict.
func (b *batchTx) decideRefused(req *writeReq, actual int64) error {
	req.result = eventstore.AppendResult{}
	var found int
	var orig eventstore.AppendResult
	for _, ev := range req.events {
		var position int64
		var raw []byte
		err := b.byID.QueryRowContext(b.ctx, ev.ID[:]).Scan(&position, &raw)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return err
		}
		stored, err := decodeBody(raw)
		if err != nil {
			return describeBodyError(position, err)
		}
		stream, version := string(stored.stream), stored.version
		if stream != req.stream {
			req.err = fmt.Errorf("%w: event %s is stored in another stream", eventstore.ErrDuplicateEventID, ev.ID)
			return nil
		}
		found++
		if uint64(position) >= uint64(orig.Position) {
			orig = eventstore.AppendResult{Version: uint64(version), Position: eventstore.Position(position)}
		}
	}
	switch {
	case found == len(req.events):
		req.result = orig
	case found > 0:
		req.err = fmt.Errorf("%w: %d of the %d events of this append are already stored", eventstore.ErrDuplicateEventID, found, len(req.events))
	default:
		req.err = &eventstore.ConflictError{Stream: req.stream, Expected: req.expected, Actual: actual}
	}
	return nil
}
