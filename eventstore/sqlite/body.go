package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/assent-dev/assent/eventstore"
)

// An event's body column holds the whole event but its position, in one compact binary value,
// so that reading an event costs two columns (position, body) instead of twelve:
//
//	byte     format (bodyFormat)
//	16 bytes event ID (also in the id column, which carries the uniqueness index)
//	uvarint  length, then the stream
//	uvarint  stream version
//	uvarint  schema version
//	uvarint  length, then the type
//	uvarint  length, then the correlation ID
//	uvarint  length, then the causation ID
//	uvarint  length, then the actor
//	8 bytes  recorded time, Unix nanoseconds, big-endian
//	32 bytes prev_hash: the chain hash of the previous event of the stream (zero for version 0)
//	rest     data, as given (JSON)
//
// The chain hash is over field values, not over this layout (eventstore.ChainHash), so the
// layout may change without breaking a chain.
const bodyFormat = 1

// errBadBody reports a body this build cannot read.
var errBadBody = errors.New("sqlite: malformed event body")

// body is an event's body, decoded; its byte fields alias the encoded value.
type body struct {
	id                              []byte
	stream, typ, corr, cause, actor []byte
	version                         uint64
	schema                          int
	recordedAt                      int64
	prev                            eventstore.Hash
	data                            []byte
}

// appendBody encodes the body of ev, the version-th event of stream, recorded at recordedAt and
// chained to prev, onto dst.
func appendBody(dst []byte, stream string, version uint64, ev *eventstore.EventData, recordedAt int64, prev *eventstore.Hash) []byte {
	md := &ev.Metadata
	dst = append(dst, bodyFormat)
	dst = append(dst, ev.ID[:]...)
	dst = binary.AppendUvarint(dst, uint64(len(stream)))
	dst = append(dst, stream...)
	dst = binary.AppendUvarint(dst, version)
	dst = binary.AppendUvarint(dst, uint64(ev.SchemaVersion))
	for _, s := range [...]string{ev.Type, md.CorrelationID, md.CausationID, md.Actor} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(recordedAt))
	dst = append(dst, prev[:]...)
	return append(dst, ev.Data...)
}

// decodeBody reads b; the result's byte fields alias b.
func decodeBody(b []byte) (body, error) {
	var out body
	if len(b) < 17 || b[0] != bodyFormat {
		return out, errBadBody
	}
	out.id, b = b[1:17], b[17:]
	if !readBytes(&b, &out.stream) || !readUvarint(&b, &out.version) {
		return out, errBadBody
	}
	var schema uint64
	if !readUvarint(&b, &schema) || schema > 1<<31 {
		return out, errBadBody
	}
	out.schema = int(schema)
	if !readBytes(&b, &out.typ) || !readBytes(&b, &out.corr) || !readBytes(&b, &out.cause) || !readBytes(&b, &out.actor) {
		return out, errBadBody
	}
	if len(b) < 8+len(out.prev) {
		return out, errBadBody
	}
	out.recordedAt = int64(binary.BigEndian.Uint64(b))
	copy(out.prev[:], b[8:])
	out.data = b[8+len(out.prev):]
	return out, nil
}

func readUvarint(b *[]byte, v *uint64) bool {
	x, n := binary.Uvarint(*b)
	if n <= 0 {
		return false
	}
	*v, *b = x, (*b)[n:]
	return true
}

func readBytes(b *[]byte, f *[]byte) bool {
	var l uint64
	if !readUvarint(b, &l) || l > uint64(len(*b)) {
		return false
	}
	*f, *b = (*b)[:l], (*b)[l:]
	return true
}

// describeBodyError names the event whose body could not be read.
func describeBodyError(pos int64, err error) error {
	return fmt.Errorf("event at position %d: %w", pos, err)
}
