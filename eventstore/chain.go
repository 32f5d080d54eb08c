package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
)

// ErrInvalidHash is returned by ParseHash for text that is not 64 hex digits.
var ErrInvalidHash = errors.New("eventstore: not a hash (64 hex digits)")

// Hash is the SHA-256 of a stored event, chained to the hash of the previous event of its
// stream: ChainHash(prev, event). The first event of a stream chains to the zero Hash.
type Hash [sha256.Size]byte

// String is the lower-case hex form of h.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero Hash (what the first event of a stream chains to).
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash reads the hex form of a Hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, ErrInvalidHash
	}
	copy(h[:], b)
	return h, nil
}

// ChainedEvent is a stored event with the hash of the previous event of its stream, as the
// backend stored it when it wrote the event.
type ChainedEvent struct {
	RecordedEvent
	PrevHash Hash
}

// Hash returns the event's own hash: ChainHash(e.PrevHash, e.RecordedEvent).
func (e *ChainedEvent) Hash() Hash { return ChainHash(e.PrevHash, &e.RecordedEvent) }

// chainDomain separates event hashes from every other use of SHA-256 in Assent.
const chainDomain = "assent.event.v1\x00"

// ChainHash returns the hash of ev chained to prev: SHA-256 over a domain string, prev, and
// every stored field of the event (position, ID, stream, version, type, schema version, data,
// correlation, causation, actor and recorded time in Unix nanoseconds), each variable-length
// field prefixed with its length, so that no two different events share an encoding. Data
// enters as its SHA-256 (DataHash) over the stored bytes: sealed fields stay verifiable without
// their keys, and an export that withholds secrets can still carry what the chain needs.
func ChainHash(prev Hash, ev *RecordedEvent) Hash {
	return ChainHashWithData(prev, ev, DataHash(ev.Data))
}

// DataHash is the SHA-256 of an event's stored data, the form in which ChainHash covers it.
func DataHash(data []byte) Hash { return sha256.Sum256(data) }

// ChainHashWithData is ChainHash for an event whose data is known only by its DataHash; ev.Data
// is ignored.
func ChainHashWithData(prev Hash, ev *RecordedEvent, dataHash Hash) Hash {
	size := len(chainDomain) + len(prev) + 8 + 16 + 8 + 8 + 8 + 8 + 5*4 + len(dataHash) +
		len(ev.Stream) + len(ev.Type) + len(ev.Metadata.CorrelationID) + len(ev.Metadata.CausationID) + len(ev.Metadata.Actor)
	var stack [512]byte
	b := stack[:0]
	if size > len(stack) {
		b = make([]byte, 0, size)
	}
	b = append(b, chainDomain...)
	b = append(b, prev[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.Position))
	b = append(b, ev.ID[:]...)
	b = appendField(b, ev.Stream)
	b = binary.BigEndian.AppendUint64(b, ev.Version)
	b = appendField(b, ev.Type)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.SchemaVersion))
	b = append(b, dataHash[:]...)
	b = appendField(b, ev.Metadata.CorrelationID)
	b = appendField(b, ev.Metadata.CausationID)
	b = appendField(b, ev.Metadata.Actor)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.Metadata.RecordedAt.UnixNano()))
	return sha256.Sum256(b)
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
