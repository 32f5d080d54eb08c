package checkpointer

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/eventstore"
)

// load reads the checkpointer's state from its tables, once. A state that names an event the
// log no longer holds at its position (a log restored from an older backup, or cut and
// written again) is dropped, and the log folded anew.
func (c *Checkpointer) load(ctx context.Context) error {
	if c.loaded {
		return nil
	}
	if err := ensureTables(ctx, c.cfg.DB); err != nil {
		return err
	}
	var (
		pos, treePos, lastAt, lastOther, lastVer int64
		streams                                  int
		id                                       []byte
		last                                     sql.NullString
	)
	err := c.cfg.DB.Reader.QueryRowContext(ctx, `SELECT position, event_id, tree_position, streams, last_checkpoint, last_at, last_other, last_version FROM audit_checkpointer WHERE id = 1`).
		Scan(&pos, &id, &treePos, &streams, &last, &lastAt, &lastOther, &lastVer)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit checkpoint: load: %w", err)
	}
	c.tree = checkpoint.NewTree()
	if err == nil {
		held, err := holds(ctx, c.cfg.Log, eventstore.Position(pos), id)
		if err != nil {
			return fmt.Errorf("audit checkpoint: load: %w", err)
		}
		if !held {
			c.cfg.Logger.Warn("audit: the log no longer holds the event the checkpointer's tables stop at; folding the log again", "position", pos)
			if _, err := c.cfg.DB.Writer.ExecContext(ctx, `DELETE FROM audit_heads; DELETE FROM audit_buckets; DELETE FROM audit_checkpointer`); err != nil {
				return fmt.Errorf("audit checkpoint: reset: %w", err)
			}
			c.loaded = true
			return nil
		}
		c.pos, c.treePos, c.streams = eventstore.Position(pos), eventstore.Position(treePos), streams
		c.lastAt, c.lastOther, c.lastVer = eventstore.Position(lastAt), eventstore.Position(lastOther), lastVer
		if last.Valid {
			var cp checkpoint.Signed
			if err := json.Unmarshal([]byte(last.String), &cp); err != nil {
				return fmt.Errorf("audit checkpoint: load: %w", err)
			}
			c.last = &cp
		}
		rows, err := c.cfg.DB.Reader.QueryContext(ctx, `SELECT bucket, hash FROM audit_buckets`)
		if err != nil {
			return fmt.Errorf("audit checkpoint: load: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var b int
			var h []byte
			if err := rows.Scan(&b, &h); err != nil {
				return fmt.Errorf("audit checkpoint: load: %w", err)
			}
			if b >= 0 && b < checkpoint.Buckets && len(h) == sha256.Size {
				c.tree.Set(b, [sha256.Size]byte(h))
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("audit checkpoint: load: %w", err)
		}
	}
	c.loaded = true
	return nil
}

// holds tells whether the log holds the event id at position pos (the start always holds).
func holds(ctx context.Context, log Log, pos eventstore.Position, id []byte) (bool, error) {
	if pos == eventstore.Start {
		return true, nil
	}
	evs, err := log.ReadAll(ctx, pos-1, 1)
	if err != nil {
		return false, err
	}
	return len(evs) == 1 && evs[0].Position == pos && string(evs[0].ID[:]) == string(id), nil
}

// pending is a head moved by the page being folded.
type pending struct {
	head      headState
	changedAt eventstore.Position
	isNew     bool
}

// fold reads the log after c.pos and moves the heads, a page per transaction, the position
// with its rows.
func (c *Checkpointer) fold(ctx context.Context) error {
	for {
		evs, err := c.cfg.Log.ReadAllChained(ctx, c.pos, page)
		if err != nil {
			return fmt.Errorf("audit checkpoint: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		c.read.Add(int64(len(evs)))
		if err := c.foldPage(ctx, evs); err != nil {
			return err
		}
		if len(evs) < page {
			return nil
		}
	}
}

func (c *Checkpointer) foldPage(ctx context.Context, evs []eventstore.ChainedEvent) error {
	tx, err := c.cfg.DB.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	defer tx.Rollback()
	get, err := tx.PrepareContext(ctx, `SELECT version, hash FROM audit_heads WHERE bucket = ? AND stream = ?`)
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	defer get.Close()
	moved := map[string]*pending{}
	var order []string
	last, lastAt, lastOther, lastVer := c.last, c.lastAt, c.lastOther, c.lastVer
	for i := range evs {
		ev := &evs[i]
		p := moved[ev.Stream]
		if p == nil {
			p = &pending{head: headState{version: -1}}
			var hash []byte
			switch err := get.QueryRowContext(ctx, checkpoint.BucketOf(ev.Stream), ev.Stream).Scan(&p.head.version, &hash); {
			case errors.Is(err, sql.ErrNoRows):
				p.isNew = true
			case err != nil:
				return fmt.Errorf("audit checkpoint: %w", err)
			default:
				copy(p.head.hash[:], hash)
			}
			moved[ev.Stream] = p
			order = append(order, ev.Stream)
		}
		if int64(ev.Version) != p.head.version+1 || ev.PrevHash != p.head.hash {
			c.cfg.Logger.Error("audit: the hash chain is broken; run `assent audit verify`", "stream", ev.Stream, "version", ev.Version, "position", uint64(ev.Position))
		}
		p.head = headState{version: int64(ev.Version), hash: ev.Hash()}
		p.changedAt = ev.Position
		if ev.Stream != checkpoint.Stream {
			lastOther = ev.Position
		} else {
			if cp, err := checkpoint.Decode(&ev.RecordedEvent); err == nil {
				cp.Changed = nil // as large as the streams it names: Latest reads it from the log
				last, lastAt = &cp, ev.Position
			}
			lastVer = int64(ev.Version)
		}
	}
	put, err := tx.PrepareContext(ctx, `INSERT INTO audit_heads (bucket, stream, version, hash, changed_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (bucket, stream) DO UPDATE SET version = excluded.version, hash = excluded.hash, changed_at = excluded.changed_at`)
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	defer put.Close()
	streams := c.streams
	for _, s := range order {
		p := moved[s]
		if p.isNew {
			streams++
		}
		if _, err := put.ExecContext(ctx, checkpoint.BucketOf(s), s, p.head.version, p.head.hash[:], int64(p.changedAt)); err != nil {
			return fmt.Errorf("audit checkpoint: %w", err)
		}
	}
	var lastJSON sql.NullString
	if last != nil {
		raw, err := json.Marshal(last)
		if err != nil {
			return fmt.Errorf("audit checkpoint: %w", err)
		}
		lastJSON = sql.NullString{String: string(raw), Valid: true}
	}
	end := evs[len(evs)-1]
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpointer (id, position, event_id, tree_position, streams, last_checkpoint, last_at, last_other, last_version)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET position = excluded.position, event_id = excluded.event_id, streams = excluded.streams,
			last_checkpoint = excluded.last_checkpoint, last_at = excluded.last_at, last_other = excluded.last_other, last_version = excluded.last_version`,
		int64(end.Position), end.ID[:], int64(c.treePos), streams, lastJSON, int64(lastAt), int64(lastOther), lastVer); err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	c.pos, c.streams = end.Position, streams
	c.last, c.lastAt, c.lastOther, c.lastVer = last, lastAt, lastOther, lastVer
	return nil
}

// root returns the root of the heads in the configured format. For checkpoint.FormatBuckets it rehashes
// the buckets of the streams changed since the tree was last brought up to date, and saves
// them with the position they reflect.
func (c *Checkpointer) root(ctx context.Context) (string, error) {
	if !checkpoint.BucketRoot(c.cfg.Format) {
		return c.sortedRoot(ctx)
	}
	if c.treePos == c.pos {
		return c.tree.Root(), nil
	}
	if c.treePos == eventstore.Start {
		return c.rehashAll(ctx)
	}
	tx, err := c.cfg.DB.Writer.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	defer tx.Rollback()
	// INDEXED BY: with DISTINCT, or with few rows, the planner may prefer a walk of the whole
	// table in bucket order, which costs every stream.
	var buckets []int
	seen := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT bucket FROM audit_heads INDEXED BY audit_heads_changed WHERE changed_at > ?`, int64(c.treePos))
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	for rows.Next() {
		var b int
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return "", fmt.Errorf("audit checkpoint: %w", err)
		}
		if !seen[b] {
			seen[b] = true
			buckets = append(buckets, b)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	get, err := tx.PrepareContext(ctx, `SELECT stream, version, hash FROM audit_heads WHERE bucket = ? ORDER BY stream`)
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	defer get.Close()
	put, err := tx.PrepareContext(ctx, `INSERT INTO audit_buckets (bucket, hash) VALUES (?, ?) ON CONFLICT (bucket) DO UPDATE SET hash = excluded.hash`)
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	defer put.Close()
	leaves := make(map[int][32]byte, len(buckets))
	for _, b := range buckets {
		l := checkpoint.NewLineHasher()
		if err := scanHeads(ctx, get, l, b); err != nil {
			return "", err
		}
		leaf := l.Sum32()
		if _, err := put.ExecContext(ctx, b, leaf[:]); err != nil {
			return "", fmt.Errorf("audit checkpoint: %w", err)
		}
		leaves[b] = leaf
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_checkpointer SET tree_position = ? WHERE id = 1`, int64(c.pos)); err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	for b, leaf := range leaves {
		c.tree.Set(b, leaf)
	}
	c.treePos = c.pos
	return c.tree.Root(), nil
}

// rehashAll computes every bucket's hash from the heads table, the first time the tree is
// built (after the first fold): it reads the table in key order, a node of 256 buckets per
// query, and holds one bucket's hasher at a time; never a list of the heads.
func (c *Checkpointer) rehashAll(ctx context.Context) (string, error) {
	tx, err := c.cfg.DB.Writer.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	defer tx.Rollback()
	get, err := tx.PrepareContext(ctx, `SELECT bucket, stream, version, hash FROM audit_heads WHERE bucket >= ? AND bucket < ? ORDER BY bucket, stream`)
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	defer get.Close()
	put, err := tx.PrepareContext(ctx, `INSERT INTO audit_buckets (bucket, hash) VALUES (?, ?) ON CONFLICT (bucket) DO UPDATE SET hash = excluded.hash`)
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	defer put.Close()
	t := checkpoint.NewTree()
	for n := 0; n < checkpoint.Buckets/checkpoint.FanOut; n++ {
		if err := c.hashNode(ctx, get, put, t, n); err != nil {
			return "", err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_checkpointer SET tree_position = ? WHERE id = 1`, int64(c.pos)); err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	c.tree, c.treePos = t, c.pos
	return c.tree.Root(), nil
}

// hashNode hashes the buckets of node n (256n to 256n+255) from get's rows into t, and saves
// the hash of each bucket that holds streams.
func (c *Checkpointer) hashNode(ctx context.Context, get, put *sql.Stmt, t *checkpoint.Tree, n int) error {
	rows, err := get.QueryContext(ctx, n*checkpoint.FanOut, (n+1)*checkpoint.FanOut)
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	defer rows.Close()
	var (
		cur     = -1
		l       checkpoint.LineHasher
		bucket  int
		stream  string
		version int64
		raw     []byte
		hash    eventstore.Hash
	)
	flush := func() error {
		if cur < 0 {
			return nil
		}
		leaf := l.Sum32()
		t.Set(cur, leaf)
		if _, err := put.ExecContext(ctx, cur, leaf[:]); err != nil {
			return fmt.Errorf("audit checkpoint: %w", err)
		}
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(&bucket, &stream, &version, &raw); err != nil {
			return fmt.Errorf("audit checkpoint: %w", err)
		}
		if bucket != cur {
			if err := flush(); err != nil {
				return err
			}
			cur, l = bucket, checkpoint.NewLineHasher()
		}
		copy(hash[:], raw)
		l.Line(stream, uint64(version), hash.String())
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	return flush()
}

// changedMore tells whether more than max streams changed after position since, counting at
// most max+1 of them from the index on the position of change.
func (c *Checkpointer) changedMore(ctx context.Context, since eventstore.Position, max int) (bool, error) {
	var n int
	err := c.cfg.DB.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM audit_heads INDEXED BY audit_heads_changed WHERE changed_at > ? LIMIT ?)`, int64(since), max+1).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("audit checkpoint: %w", err)
	}
	return n > max, nil
}

// scanHeads hashes the lines of the heads that query q (given args) returns, in its order.
func scanHeads(ctx context.Context, q *sql.Stmt, l checkpoint.LineHasher, args ...any) error {
	rows, err := q.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	defer rows.Close()
	var (
		stream  string
		version int64
		raw     []byte
		hash    eventstore.Hash
	)
	for rows.Next() {
		if err := rows.Scan(&stream, &version, &raw); err != nil {
			return fmt.Errorf("audit checkpoint: %w", err)
		}
		copy(hash[:], raw)
		l.Line(stream, uint64(version), hash.String())
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	return nil
}

// sortedRoot is the FormatSorted root: every head, sorted by name, in one hash.
func (c *Checkpointer) sortedRoot(ctx context.Context) (string, error) {
	q, err := c.cfg.DB.Reader.PrepareContext(ctx, `SELECT stream, version, hash FROM audit_heads ORDER BY stream`)
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	defer q.Close()
	l := checkpoint.NewLineHasher()
	if err := scanHeads(ctx, q, l); err != nil {
		return "", err
	}
	return l.Sum(), nil
}

// changedSince returns the heads of the streams changed after position since, by name.
func (c *Checkpointer) changedSince(ctx context.Context, since eventstore.Position) ([]checkpoint.Head, error) {
	rows, err := c.cfg.DB.Reader.QueryContext(ctx, `SELECT stream, version, hash FROM audit_heads INDEXED BY audit_heads_changed WHERE changed_at > ? ORDER BY stream`, int64(since))
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	defer rows.Close()
	var out []checkpoint.Head
	for rows.Next() {
		var (
			hd   checkpoint.Head
			raw  []byte
			hash eventstore.Hash
		)
		if err := rows.Scan(&hd.Stream, &hd.Version, &raw); err != nil {
			return nil, fmt.Errorf("audit checkpoint: %w", err)
		}
		copy(hash[:], raw)
		hd.Hash = hash.String()
		out = append(out, hd)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	return out, nil
}
