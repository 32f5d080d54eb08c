package audit

import (
	"fmt"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// Streams of the audit trail itself. They share no prefix with the domain's streams; the
// checkpoints' is checkpoint.Stream.
const (
	// ReadsStream holds the record of audit reads.
	ReadsStream = "audit-reads"
)

// ReadRecorded records that an auditor read something: who, which operation, what. The
// event is the domain registry's, like every type the log holds.
type ReadRecorded = domain.AuditReadRecorded

// encodeEvent encodes an audit event through the domain's registry.
func encodeEvent(e domain.Event, actor string) (eventstore.EventData, error) {
	typ, version, data, err := domain.Encode(e)
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("audit encode: %w", err)
	}
	return eventstore.EventData{Type: typ, SchemaVersion: version, Data: data, Metadata: eventstore.Metadata{Actor: actor}}, nil
}
