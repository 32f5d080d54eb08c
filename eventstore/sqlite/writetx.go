package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/assent-dev/assent/eventstore"
)

// writerState is owned by the writer goroutine: its prepared statements and a cache of stream
// heads, so that a batch of appends that pass their version check costs one INSERT.
type writerState struct {
	byID, head, checkpoint *sql.Stmt
	heads                  map[string]int64
	// inserts holds a prepared INSERT per row count, as batches come in a few sizes.
	inserts [maxRowsPerInsert + 1]*sql.Stmt
}

const (
	maxCachedHeads = 100_000
	// maxRowsPerInsert is the largest INSERT that is prepared in advance; the requests of a
	// batch are written in INSERTs of up to this many rows, never splitting a request.
	maxRowsPerInsert = 16
	insertColumns    = `INSERT INTO events (id, stream, version, type, schema_version, data, correlation_id, causation_id, actor, recorded_at) VALUES `
	insertRow        = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

func (s *Store) prepareWriter(ctx context.Context) (*writerState, error) {
	w := &writerState{heads: make(map[string]int64)}
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
		{&w.byID, `SELECT stream, version, position FROM events WHERE id = ?`},
		{&w.head, `SELECT max(version) FROM events WHERE stream = ?`},
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
	for _, st := range append([]*sql.Stmt{w.byID, w.head, w.checkpoint}, w.inserts[:]...) {
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
	ctx                    context.Context
	w                      *writerState
	tx                     *sql.Tx
	byID, head, checkpoint *sql.Stmt
	now                    int64
	pending                []*writeReq
	rows                   int
	last                   uint64
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
		}
	}()
	b := &batchTx{
		ctx: ctx, w: w, tx: tx, now: s.opts.Now().UnixNano(),
		byID:       tx.StmtContext(ctx, w.byID),
		head:       tx.StmtContext(ctx, w.head),
		checkpoint: tx.StmtContext(ctx, w.checkpoint),
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
	if err := tx.Commit(); err != nil {
		return 0, err
	}
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
	req.err, req.result = nil, eventstore.AppendResult{}
	head, err := b.streamHead(req.stream)
	if err != nil {
		return err
	}
	if !req.expected.Matches(head) {
		// The request may be a retry of events already written, maybe by a request still
		// pending in this batch: write those first, then look.
		if err := b.flush(alone); err != nil {
			return err
		}
		return b.decideRefused(req, head)
	}
	if b.rows+len(req.events) > maxRowsPerInsert {
		if err := b.flush(alone); err != nil {
			return err
		}
	}
	req.result.Version = uint64(head) + uint64(len(req.events))
	b.w.heads[req.stream] = int64(req.result.Version)
	b.pending = append(b.pending, req)
	b.rows += len(req.events)
	return nil
}

// streamHead returns the version of the stream's last event (counting requests pending in this
// batch), or -1.
func (b *batchTx) streamHead(stream string) (int64, error) {
	if v, ok := b.w.heads[stream]; ok {
		return v, nil
	}
	var head sql.NullInt64
	if err := b.head.QueryRowContext(b.ctx, stream).Scan(&head); err != nil {
		return 0, err
	}
	v := int64(-1)
	if head.Valid {
		v = head.Int64
	}
	b.w.heads[stream] = v
	return v, nil
}

// flush writes the pending requests with one INSERT, so that each request's events land whole
// or not at all, and sets each request's position. Rowids of one INSERT are consecutive.
func (b *batchTx) flush(alone bool) error {
	if len(b.pending) == 0 {
		return nil
	}
	args := make([]any, 0, 10*b.rows)
	for _, req := range b.pending {
		first := int64(req.result.Version) - int64(len(req.events)) + 1
		for i, ev := range req.events {
			md := ev.Metadata
			args = append(args, ev.ID[:], req.stream, first+int64(i), ev.Type, ev.SchemaVersion, ev.Data,
				md.CorrelationID, md.CausationID, md.Actor, b.now)
		}
	}
	var res sql.Result
	var err error
	if st, query := b.w.insert(b.rows); st != nil {
		res, err = b.tx.StmtContext(b.ctx, st).ExecContext(b.ctx, args...)
	} else {
		res, err = b.tx.ExecContext(b.ctx, query, args...)
	}
	if isDuplicateID(err) {
		if !alone {
			return errRetryAlone
		}
		req := b.pending[0]
		b.pending, b.rows = nil, 0
		delete(b.w.heads, req.stream)
		head, err := b.streamHead(req.stream)
		if err != nil {
			return err
		}
		return b.decideRefused(req, head)
	}
	if err != nil {
		return err
	}
	last, err := res.LastInsertId()
	if err != nil {
		return err
	}
	pos := last - int64(b.rows)
	for _, req := range b.pending {
		pos += int64(len(req.events))
		req.result.Position = eventstore.Position(pos)
	}
	b.last = max(b.last, uint64(last))
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
		var stream string
		var version, position int64
		err := b.byID.QueryRowContext(b.ctx, ev.ID[:]).Scan(&stream, &version, &position)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return err
		}
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
