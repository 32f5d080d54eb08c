package audit

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

// Streams of the audit trail itself. They share no prefix with the domain's streams; the
// checkpoints' is checkpoint.Stream.
const (
	// ReadsStream holds the record of audit reads.
	ReadsStream = "audit-reads"
)

// TypeReadRecorded is the event of an audit read. Permanent, like the domain's.
const TypeReadRecorded = "audit.read.recorded"

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
