package audit

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

// Streams of the audit trail itself. They share no prefix with the domain's streams.
const (
	// CheckpointStream holds the server's signed checkpoints, one event each.
	CheckpointStream = "audit-checkpoints"
	// ReadsStream holds the record of audit reads.
	ReadsStream = "audit-reads"
)

// Event types of the audit trail. Permanent, like the domain's.
const (
	TypeCheckpointSigned = "audit.checkpoint.signed"
	TypeReadRecorded     = "audit.read.recorded"
)

// Head is a stream's last event as a checkpoint saw it.
type Head struct {
	Stream  string `json:"stream"`
	Version uint64 `json:"version"`
	Hash    string `json:"hash"`
}

// CheckpointSigned is a signed statement of the heads of all streams once the log reached
// Position: Streams streams whose heads hash to HeadsRoot by the rule of its Format
// (HeadsRoot). Changed lists the heads that moved since checkpoint Seq-1, so that a verifier
// rebuilds the full set by folding the checkpoints and can name a stream that is gone. In
// formats 1 and 2 the first checkpoint lists every head. In FormatBase a base checkpoint (the
// first, and any after more than a bound of changed heads) lists none: it commits to the root
// of the heads the log itself gives at Position, which a verifier recomputes from the log.
// The signature is Ed25519 over Payload().
type CheckpointSigned struct {
	// Format is FormatBase or FormatBuckets, or absent (FormatSorted) in checkpoints signed
	// before them.
	Format    int    `json:"format,omitempty"`
	Seq       uint64 `json:"seq"`
	Position  uint64 `json:"position"`
	Streams   int    `json:"streams"`
	HeadsRoot string `json:"heads_root"`
	// Base (FormatBase only) marks a checkpoint that lists no heads: HeadsRoot is the root of
	// the heads of every stream of the log at Position.
	Base      bool      `json:"base,omitempty"`
	Changed   []Head    `json:"changed"`
	PublicKey []byte    `json:"public_key"`
	Signature []byte    `json:"signature"`
	At        time.Time `json:"at"`
}

// Payload returns the bytes the server signs: ASCII,
//
//	assent.checkpoint.v<format>\n
//	seq:<n>\n position:<p>\n streams:<n>\n heads:<hex root>\n
//	changed:<hex SHA-256 of the changed heads, one "<len>:<stream> <version> <hash>\n" each>\n
//	at:<unix nanoseconds>\n
//
// In FormatBase the changed line of a base checkpoint is "changed:base" (it lists no heads,
// and the word cannot be mistaken for a hash): the signature covers whether it is a base.
func (c CheckpointSigned) Payload() []byte {
	changed := "base"
	if !c.Base || c.FormatOrSorted() != FormatBase {
		h := newLineHasher()
		for _, hd := range c.Changed {
			h.line(hd.Stream, hd.Version, hd.Hash)
		}
		changed = h.sum()
	}
	return fmt.Appendf(nil, "assent.checkpoint.v%d\nseq:%d\nposition:%d\nstreams:%d\nheads:%s\nchanged:%s\nat:%d\n",
		c.FormatOrSorted(), c.Seq, c.Position, c.Streams, c.HeadsRoot, changed, c.At.UnixNano())
}

// FormatOrSorted is the checkpoint's format, FormatSorted when it names none.
func (c CheckpointSigned) FormatOrSorted() int {
	if c.Format == 0 {
		return FormatSorted
	}
	return c.Format
}

// ReadRecorded records that an auditor read something: who, which operation, what.
type ReadRecorded struct {
	Auditor   string    `json:"auditor"`
	Operation string    `json:"operation"`
	Target    string    `json:"target,omitempty"`
	At        time.Time `json:"at"`
}

func encodeEvent(typ string, v any, actor string) (eventstore.EventData, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("audit encode %s: %w", typ, err)
	}
	return eventstore.EventData{Type: typ, SchemaVersion: 1, Data: data, Metadata: eventstore.Metadata{Actor: actor}}, nil
}

func decodeCheckpoint(ev *eventstore.RecordedEvent) (CheckpointSigned, error) {
	var c CheckpointSigned
	if ev.Type != TypeCheckpointSigned {
		return c, fmt.Errorf("%w: event at %d is a %s", ErrBadCheckpoint, ev.Position, ev.Type)
	}
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		return c, fmt.Errorf("%w: event at %d: %v", ErrBadCheckpoint, ev.Position, err)
	}
	return c, nil
}
