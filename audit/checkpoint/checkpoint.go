// Package checkpoint is the format of Assent's signed audit checkpoints, shared by the server
// that signs them (package audit/checkpointer) and the auditor who verifies them (package
// audit): the checkpoint event and its signed payload, the head lines and the roots of each
// format, the signing key and the anchor file. It holds no state and reads no log.
package checkpoint

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"strconv"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// Stream holds the server's signed checkpoints, one event each.
const Stream = "audit-checkpoints"

// AnchorFile is the name of the file, in the data directory, where the server keeps a copy of
// its latest checkpoint outside the event store: cutting the tail of the log, checkpoints
// included, is then caught against it.
const AnchorFile = "audit-checkpoint.json"

// ErrBad is returned when a checkpoint does not decode or verify.
var ErrBad = errors.New("audit: bad checkpoint")

// Head is a stream's last event as a checkpoint saw it.
type Head = domain.CheckpointHead

// Signed is a signed statement of the heads of all streams once the log reached Position:
// Streams streams whose heads hash to HeadsRoot by the rule of its Format (HeadsRoot).
// Changed lists the heads that moved since checkpoint Seq-1, so that a verifier rebuilds the
// full set by folding the checkpoints and can name a stream that is gone. In formats 1 and 2
// the first checkpoint lists every head. In FormatBase a base checkpoint (the first, and any
// after more than a bound of changed heads) lists none: it commits to the root of the heads
// the log itself gives at Position, which a verifier recomputes from the log. The signature
// is Ed25519 over Payload().
// Signed is the domain registry's event (domain.CheckpointSigned), with the methods of its
// formats.
type Signed domain.CheckpointSigned

// Payload returns the bytes the server signs: ASCII,
//
//	assent.checkpoint.v<format>\n
//	seq:<n>\n position:<p>\n streams:<n>\n heads:<hex root>\n
//	changed:<hex SHA-256 of the changed heads, one "<len>:<stream> <version> <hash>\n" each>\n
//	at:<unix nanoseconds>\n
//
// In FormatBase the changed line of a base checkpoint is "changed:base" (it lists no heads,
// and the word cannot be mistaken for a hash): the signature covers whether it is a base.
func (c Signed) Payload() []byte {
	changed := "base"
	if !c.Base || c.FormatOrSorted() != FormatBase {
		h := NewLineHasher()
		for _, hd := range c.Changed {
			h.Line(hd.Stream, hd.Version, hd.Hash)
		}
		changed = h.Sum()
	}
	return fmt.Appendf(nil, "assent.checkpoint.v%d\nseq:%d\nposition:%d\nstreams:%d\nheads:%s\nchanged:%s\nat:%d\n",
		c.FormatOrSorted(), c.Seq, c.Position, c.Streams, c.HeadsRoot, changed, c.At.UnixNano())
}

// FormatOrSorted is the checkpoint's format, FormatSorted when it names none.
func (c Signed) FormatOrSorted() int {
	if c.Format == 0 {
		return FormatSorted
	}
	return c.Format
}

// IsBase tells whether the checkpoint is a base of FormatBase: it lists no heads.
func (c Signed) IsBase() bool { return c.Base && c.FormatOrSorted() == FormatBase }

// Event encodes the checkpoint as the event the server appends to Stream.
func (c Signed) Event() (eventstore.EventData, error) {
	typ, version, data, err := domain.Encode(domain.CheckpointSigned(c))
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("audit encode checkpoint: %w", err)
	}
	return eventstore.EventData{Type: typ, SchemaVersion: version, Data: data, Metadata: eventstore.Metadata{Actor: "system:checkpointer"}}, nil
}

// Decode reads a checkpoint from its event, through the domain's registry.
func Decode(ev *eventstore.RecordedEvent) (Signed, error) {
	if ev.Type != (domain.CheckpointSigned{}).EventType() {
		return Signed{}, fmt.Errorf("%w: event at %d is a %s", ErrBad, ev.Position, ev.Type)
	}
	e, err := domain.Decode(ev.Type, ev.SchemaVersion, ev.Data)
	if err != nil {
		return Signed{}, fmt.Errorf("%w: event at %d: %v", ErrBad, ev.Position, err)
	}
	return Signed(e.(domain.CheckpointSigned)), nil
}

// ReadAnchor reads a checkpoint saved by the server (AnchorFile) or by an auditor.
func ReadAnchor(path string) (*Signed, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit anchor: %w", err)
	}
	var cp Signed
	if err := json.Unmarshal(raw, &cp); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBad, path, err)
	}
	return &cp, nil
}

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

// LineHasher hashes head lines "<len>:<stream> <version> <hash>\n" with SHA-256.
type LineHasher struct{ h hash.Hash }

// NewLineHasher returns a LineHasher of no lines yet.
func NewLineHasher() LineHasher { return LineHasher{sha256.New()} }

// Line adds the line of a head.
func (l LineHasher) Line(stream string, version uint64, h string) {
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

// Sum is the hash of the lines so far, in hex.
func (l LineHasher) Sum() string { return hex.EncodeToString(l.h.Sum(nil)) }

// Sum32 is the hash of the lines so far.
func (l LineHasher) Sum32() (out [sha256.Size]byte) {
	copy(out[:], l.h.Sum(nil))
	return out
}
