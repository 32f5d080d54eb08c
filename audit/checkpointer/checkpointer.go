// Package checkpointer is the server's side of the audit's tamper evidence: it folds the
// event log into the heads of all streams, kept in tables of the node's local database, and
// appends signed checkpoints of them (format in package audit/checkpoint) to the log, and the
// latest to the anchor file. The auditor's side (package audit) verifies them and does not
// import this package.
package checkpointer

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/localdb"
)

// Log is the event store as the checkpointer reads it: the global log, with each event's
// stored chain link (the eventstore.ChainReader capability of SQLite and PostgreSQL).
type Log interface {
	ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error)
	eventstore.ChainReader
}

// Appender appends the checkpoints.
type Appender interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error)
}

// page is the number of events read at once.
const page = 2000

// headState is a stream's last event: its version (-1: none) and hash.
type headState struct {
	version int64
	hash    eventstore.Hash
}

// DefaultMaxChanged is the most heads a checkpoint of checkpoint.FormatBase lists (about 5 MiB
// of JSON); past it the checkpoint is a base.
const DefaultMaxChanged = 50_000

// Config configures a Checkpointer.
type Config struct {
	Log      Log
	Appender Appender
	Key      ed25519.PrivateKey
	// DB is the node's local database, where the checkpointer keeps the heads of all streams
	// and resumes from at its next start. Required.
	DB *localdb.DB
	// Format of the checkpoints signed: checkpoint.FormatBase (the default), or a format
	// before it (checkpoint.FormatBuckets, checkpoint.FormatSorted), whose first checkpoint
	// lists every head.
	Format int
	// MaxChanged bounds the heads a checkpoint of checkpoint.FormatBase lists: when more
	// streams changed since the last checkpoint, it is a base instead (no list, the root
	// only). Default DefaultMaxChanged.
	MaxChanged int
	// AnchorPath is where the latest checkpoint is also written; empty: nowhere.
	AnchorPath string
	// Interval between periodic checkpoints. Default one minute.
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Checkpointer appends signed checkpoints of the heads of all streams to checkpoint.Stream.
// It folds the log itself (recomputing each event's hash) into tables of the local database
// (see tables.go), and resumes from them at its next start: a checkpoint reads the events
// since the last one and rehashes only the buckets of the streams they changed. Its memory is
// a fixed-size tree of bucket hashes and one page of the log, whatever the number of streams.
// Its methods are safe for concurrent use.
type Checkpointer struct {
	cfg  Config
	read atomic.Int64

	mu        sync.Mutex
	loaded    bool
	pos       eventstore.Position
	treePos   eventstore.Position
	streams   int
	tree      *checkpoint.Tree
	last      *checkpoint.Signed  // the last checkpoint seen, without its Changed list
	lastAt    eventstore.Position // position of the last checkpoint's own event
	lastOther eventstore.Position // position of the last event that is not a checkpoint
	lastVer   int64               // version of CheckpointStream, -1 before the first
}

// New returns a Checkpointer; it loads its state, or reads the log, on its first
// checkpoint.
func New(cfg Config) *Checkpointer {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Format == 0 {
		cfg.Format = checkpoint.FormatBase
	}
	if cfg.MaxChanged <= 0 {
		cfg.MaxChanged = DefaultMaxChanged
	}
	return &Checkpointer{cfg: cfg, lastVer: -1}
}

// PublicKey is the key that verifies the checkpoints.
func (c *Checkpointer) PublicKey() ed25519.PublicKey { return c.cfg.Key.Public().(ed25519.PublicKey) }

// EventsRead is the number of events the checkpointer has read from the log since it was made.
func (c *Checkpointer) EventsRead() int64 { return c.read.Load() }

// Latest returns the last checkpoint the checkpointer has seen in the log, whole (read from
// the log), or nil.
func (c *Checkpointer) Latest(ctx context.Context) (*checkpoint.Signed, error) {
	c.mu.Lock()
	at := c.lastAt
	c.mu.Unlock()
	if at == eventstore.Start {
		return nil, nil
	}
	evs, err := c.cfg.Log.ReadAll(ctx, at-1, 1)
	if err != nil {
		return nil, fmt.Errorf("audit latest checkpoint: %w", err)
	}
	if len(evs) != 1 || evs[0].Position != at {
		return nil, fmt.Errorf("audit latest checkpoint: the log no longer holds it at position %d", at)
	}
	cp, err := checkpoint.Decode(&evs[0])
	if err != nil {
		return nil, err
	}
	return &cp, nil
}

// Run appends a checkpoint every Interval until ctx ends, then one last checkpoint (the
// shutdown checkpoint) with a context of its own, before it returns.
func (c *Checkpointer) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := c.Checkpoint(sctx); err != nil {
				c.cfg.Logger.Error("audit: shutdown checkpoint", "err", err)
			}
			return
		case <-t.C:
			if _, err := c.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				c.cfg.Logger.Error("audit: checkpoint", "err", err)
			}
		}
	}
}

// Checkpoint signs and appends a checkpoint if the log moved since the last one (its own event
// aside), and returns it; it returns nil when there was nothing new to cover.
func (c *Checkpointer) Checkpoint(ctx context.Context) (*checkpoint.Signed, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	if err := c.fold(ctx); err != nil {
		return nil, err
	}
	// Nothing new: every event after the last checkpoint's coverage is a checkpoint. (Not "the
	// last event is a checkpoint": events appended between a checkpoint's fold and its own
	// append, or committed late on PostgreSQL, lie before its event and after its coverage.)
	if c.pos == eventstore.Start || (c.last != nil && c.lastOther <= eventstore.Position(c.last.Position)) {
		return nil, nil
	}
	root, err := c.root(ctx)
	if err != nil {
		return nil, err
	}
	cp := checkpoint.Signed{Position: uint64(c.pos), Streams: c.streams, HeadsRoot: root,
		PublicKey: c.PublicKey(), At: c.cfg.Now().UTC()}
	if c.cfg.Format != checkpoint.FormatSorted {
		cp.Format = c.cfg.Format
	}
	var since eventstore.Position
	cp.Seq = 1
	if c.last != nil {
		cp.Seq, since = c.last.Seq+1, eventstore.Position(c.last.Position)
	}
	if cp.Format == checkpoint.FormatBase {
		// A base lists no heads: the first checkpoint, or one after more changes than a list
		// should hold. It is counted, never listed, to decide.
		if c.last == nil {
			cp.Base = true
		} else if cp.Base, err = c.changedMore(ctx, since, c.cfg.MaxChanged); err != nil {
			return nil, err
		}
	}
	if !cp.Base {
		if cp.Changed, err = c.changedSince(ctx, since); err != nil {
			return nil, err
		}
	}
	cp.Signature = ed25519.Sign(c.cfg.Key, cp.Payload())
	ev, err := cp.Event()
	if err != nil {
		return nil, err
	}
	expected := eventstore.NoStream()
	if c.lastVer >= 0 {
		expected = eventstore.Exact(uint64(c.lastVer))
	}
	if _, err := c.cfg.Appender.Append(ctx, checkpoint.Stream, expected, ev); err != nil {
		if errors.Is(err, eventstore.ErrConflict) {
			return nil, nil // another node checkpointed; the next fold reads it
		}
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	if err := c.fold(ctx); err != nil {
		return nil, err
	}
	if c.cfg.AnchorPath != "" {
		if err := writeAnchor(c.cfg.AnchorPath, cp); err != nil {
			return &cp, err
		}
	}
	return &cp, nil
}

// writeAnchor writes cp to path through a temporary file and a rename.
func writeAnchor(path string, cp checkpoint.Signed) error {
	raw, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-checkpoint-*.json")
	if err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("audit anchor: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("audit anchor: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("audit anchor: %w", err)
	}
	return nil
}
