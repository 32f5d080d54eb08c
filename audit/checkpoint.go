package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/localdb"
)

// AnchorFile is the name of the file, in the data directory, where the server keeps a copy of
// its latest checkpoint outside the event store: cutting the tail of the log, checkpoints
// included, is then caught against it.
const AnchorFile = "audit-checkpoint.json"

// SigningKey derives the server's Ed25519 checkpoint key from a 32-byte seed (the server
// passes keyring.DeriveKey("audit.checkpoint"), so that every node with the same keyring signs
// with the same key, and no new file holds a private key).
func SigningKey(seed []byte) (ed25519.PrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit: signing key seed must have %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// KeyID is a short, stable name of a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// lineHasher hashes head lines "<len>:<stream> <version> <hash>\n".
type lineHasher struct{ h hash.Hash }

func newLineHasher() lineHasher { return lineHasher{sha256.New()} }

func (l lineHasher) line(stream string, version uint64, h string) {
	b := make([]byte, 0, len(stream)+100)
	b = strconv.AppendInt(b, int64(len(stream)), 10)
	b = append(b, ':')
	b = append(b, stream...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, version, 10)
	b = append(b, ' ')
	b = append(b, h...)
	b = append(b, '\n')
	l.h.Write(b)
}

func (l lineHasher) sum() string { return hex.EncodeToString(l.h.Sum(nil)) }

// headState is a stream's last event: its version (-1: none) and hash.
type headState struct {
	version int64
	hash    eventstore.Hash
}

// DefaultMaxChanged is the most heads a FormatBase checkpoint lists (about 5 MiB of JSON);
// past it the checkpoint is a base.
const DefaultMaxChanged = 50_000

// CheckpointerConfig configures a Checkpointer.
type CheckpointerConfig struct {
	Log      ChainLog
	Appender Appender
	Key      ed25519.PrivateKey
	// DB is the node's local database, where the checkpointer keeps the heads of all streams
	// and resumes from at its next start. Required.
	DB *localdb.DB
	// Format of the checkpoints signed: FormatBase (the default), or a format before it
	// (FormatBuckets, FormatSorted), whose first checkpoint lists every head.
	Format int
	// MaxChanged bounds the heads a FormatBase checkpoint lists: when more streams changed
	// since the last checkpoint, it is a base instead (no list, the root only). Default
	// DefaultMaxChanged.
	MaxChanged int
	// AnchorPath is where the latest checkpoint is also written; empty: nowhere.
	AnchorPath string
	// Interval between periodic checkpoints. Default one minute.
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Checkpointer appends signed checkpoints of the heads of all streams to CheckpointStream.
// It folds the log itself (recomputing each event's hash) into tables of the local database
// (see tables.go), and resumes from them at its next start: a checkpoint reads the events
// since the last one and rehashes only the buckets of the streams they changed. Its memory is
// a fixed-size tree of bucket hashes and one page of the log, whatever the number of streams.
// Its methods are safe for concurrent use.
type Checkpointer struct {
	cfg  CheckpointerConfig
	read atomic.Int64

	mu        sync.Mutex
	loaded    bool
	pos       eventstore.Position
	treePos   eventstore.Position
	streams   int
	tree      *tree
	last      *CheckpointSigned   // the last checkpoint seen, without its Changed list
	lastAt    eventstore.Position // position of the last checkpoint's own event
	lastOther eventstore.Position // position of the last event that is not a checkpoint
	lastVer   int64               // version of CheckpointStream, -1 before the first
}

// NewCheckpointer returns a Checkpointer; it loads its state, or reads the log, on its first
// checkpoint.
func NewCheckpointer(cfg CheckpointerConfig) *Checkpointer {
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
		cfg.Format = FormatBase
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
func (c *Checkpointer) Latest(ctx context.Context) (*CheckpointSigned, error) {
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
	cp, err := decodeCheckpoint(&evs[0])
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
func (c *Checkpointer) Checkpoint(ctx context.Context) (*CheckpointSigned, error) {
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
	cp := CheckpointSigned{Position: uint64(c.pos), Streams: c.streams, HeadsRoot: root,
		PublicKey: c.PublicKey(), At: c.cfg.Now().UTC()}
	if c.cfg.Format != FormatSorted {
		cp.Format = c.cfg.Format
	}
	var since eventstore.Position
	cp.Seq = 1
	if c.last != nil {
		cp.Seq, since = c.last.Seq+1, eventstore.Position(c.last.Position)
	}
	if cp.Format == FormatBase {
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
	ev, err := encodeEvent(TypeCheckpointSigned, cp, "system:checkpointer")
	if err != nil {
		return nil, err
	}
	expected := eventstore.NoStream()
	if c.lastVer >= 0 {
		expected = eventstore.Exact(uint64(c.lastVer))
	}
	if _, err := c.cfg.Appender.Append(ctx, CheckpointStream, expected, ev); err != nil {
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
func writeAnchor(path string, cp CheckpointSigned) error {
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

// ReadAnchor reads a checkpoint saved by the server (AnchorFile) or by an auditor.
func ReadAnchor(path string) (*CheckpointSigned, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit anchor: %w", err)
	}
	var cp CheckpointSigned
	if err := json.Unmarshal(raw, &cp); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadCheckpoint, path, err)
	}
	return &cp, nil
}
