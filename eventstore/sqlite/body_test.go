package sqlite

import (
	"bytes"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// FuzzBody encodes an event's body from the fuzzer's fields and decodes it back, and decodes
// the fuzzer's raw bytes as a body: the round trip is exact and no input makes decoding panic
// or read out of bounds.
func FuzzBody(f *testing.F) {
	f.Add("account-1", uint64(3), 1, "account.registered", "corr", "cause", "actor:x", int64(1_700_000_000_000_000_000), []byte(`{"n":1}`), []byte{bodyFormat, 0, 1, 2})
	f.Add("", uint64(0), 0, "", "", "", "", int64(-1), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, stream string, version uint64, schema int, typ, corr, cause, actor string, at int64, data, raw []byte) {
		if _, err := decodeBody(raw); err != nil && err != errBadBody {
			t.Fatalf("decode error %v is not errBadBody", err)
		}
		if schema < 0 || schema > 1<<31 {
			return
		}
		ev := eventstore.EventData{ID: uuid.New(), Type: typ, SchemaVersion: schema, Data: data,
			Metadata: eventstore.Metadata{CorrelationID: corr, CausationID: cause, Actor: actor}}
		var prev eventstore.Hash
		copy(prev[:], data)
		b, err := decodeBody(appendBody(nil, stream, version, &ev, at, &prev))
		if err != nil {
			t.Fatalf("decode of an encoded body: %v", err)
		}
		if !bytes.Equal(b.id, ev.ID[:]) || string(b.stream) != stream || b.version != version || b.schema != schema ||
			string(b.typ) != typ || string(b.corr) != corr || string(b.cause) != cause || string(b.actor) != actor ||
			b.recordedAt != at || b.prev != prev || !bytes.Equal(b.data, data) {
			t.Fatalf("round trip changed the body: %+v", b)
		}
	})
}
