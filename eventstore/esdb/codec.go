package esdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/assent-dev/assent/eventstore"
)

// eventMetadata is the JSON kept as the user metadata of every event Assent writes. The schema
// version travels here, as EventStoreDB has no field for it.
type eventMetadata struct {
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	Actor         string `json:"actor,omitempty"`
	SchemaVersion int    `json:"schema_version"`
}

// encodeMetadata returns the user metadata of an event to append.
func encodeMetadata(ev eventstore.EventData) ([]byte, error) {
	b, err := json.Marshal(eventMetadata{
		CorrelationID: ev.Metadata.CorrelationID,
		CausationID:   ev.Metadata.CausationID,
		Actor:         ev.Metadata.Actor,
		SchemaVersion: ev.SchemaVersion,
	})
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return b, nil
}

// decodeMetadata reads the user metadata of a stored event. Empty metadata (an event written
// by another tool) reads as schema version 1 with no correlation, causation or actor; metadata
// that is not this JSON object is an error.
func decodeMetadata(b []byte) (eventstore.Metadata, int, error) {
	if len(b) == 0 {
		return eventstore.Metadata{}, 1, nil
	}
	var m eventMetadata
	if err := json.Unmarshal(b, &m); err != nil {
		return eventstore.Metadata{}, 0, fmt.Errorf("decode metadata: %w", err)
	}
	if m.SchemaVersion < 1 {
		m.SchemaVersion = 1
	}
	return eventstore.Metadata{CorrelationID: m.CorrelationID, CausationID: m.CausationID, Actor: m.Actor}, m.SchemaVersion, nil
}

// toProposed returns the EventStoreDB event for an event to append (already validated).
func toProposed(ev eventstore.EventData) (esdbclient.EventData, error) {
	md, err := encodeMetadata(ev)
	if err != nil {
		return esdbclient.EventData{}, err
	}
	return esdbclient.EventData{
		EventID:     ev.ID,
		EventType:   ev.Type,
		ContentType: esdbclient.ContentTypeJson,
		Data:        ev.Data,
		Metadata:    md,
	}, nil
}

// fromRecorded returns the Assent event for an event read from EventStoreDB.
func fromRecorded(re *esdbclient.RecordedEvent) (eventstore.RecordedEvent, error) {
	md, sv, err := decodeMetadata(re.UserMetadata)
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("event %s (%s@%d): %w", re.EventID, re.StreamID, re.EventNumber, err)
	}
	md.RecordedAt = re.CreatedDate.UTC()
	return eventstore.RecordedEvent{
		ID:            re.EventID,
		Stream:        re.StreamID,
		Type:          re.EventType,
		SchemaVersion: sv,
		Data:          re.Data,
		Metadata:      md,
		Version:       re.EventNumber,
		Position:      positionOf(re.Position),
	}, nil
}

// positionOf returns the global position of an event: its commit position in $all. Events
// appended through gRPC commit themselves, so their commit and prepare positions are equal;
// stream reads of some server versions leave the commit position unknown (the maximum uint64)
// and carry the prepare position only, which is then used. When neither is known the
// position is 0.
func positionOf(p esdbclient.Position) eventstore.Position {
	switch {
	case p.Commit != math.MaxUint64:
		return eventstore.Position(p.Commit)
	case p.Prepare != math.MaxUint64:
		return eventstore.Position(p.Prepare)
	default:
		return 0
	}
}

// allPosition returns where in $all a read or subscription that starts after p begins. A
// position is given to the server as {Commit: p, Prepare: p}, which is the position of the
// event at p (see positionOf).
func allPosition(p eventstore.Position) esdbclient.AllPosition {
	if p == eventstore.Start {
		return esdbclient.Start{}
	}
	return esdbclient.Position{Commit: uint64(p), Prepare: uint64(p)}
}

// hidden reports whether an event of $all is kept from Assent's readers: the server's own
// events (types starting with '$', such as stream metadata and statistics), events of system
// streams (names starting with '$', such as projection output), and consumer checkpoints.
func hidden(stream, eventType string) bool {
	return strings.HasPrefix(eventType, "$") || strings.HasPrefix(stream, "$") ||
		strings.HasPrefix(stream, checkpointStreamPrefix)
}

// expectedRevision maps an expected version to the client's expected revision.
func expectedRevision(e eventstore.ExpectedVersion) esdbclient.ExpectedRevision {
	if v, ok := e.ExactVersion(); ok {
		return esdbclient.Revision(v)
	}
	switch {
	case e.IsNoStream():
		return esdbclient.NoStream{}
	case e.IsStreamExists():
		return esdbclient.StreamExists{}
	default:
		return esdbclient.Any{}
	}
}

// errNotWrongExpectedVersion is returned by actualRevision for other errors.
var errNotWrongExpectedVersion = errors.New("not a wrong-expected-version error")

// actualRevision returns the stream's version (-1: no stream) reported by a WrongExpectedVersion
// error of the client. The v4 client reports it only in the text of the error it wraps:
// "wrong expected version: expecting '<expected>' but got '<current>'", where current is
// "no_stream" or a number. It returns errNotWrongExpectedVersion for any other error, and
// another error when the text cannot be read (a client that changed its wording).
func actualRevision(err error) (int64, error) {
	var ee *esdbclient.Error
	if !errors.As(err, &ee) || !ee.IsErrorCode(esdbclient.ErrorCodeWrongExpectedVersion) {
		return 0, errNotWrongExpectedVersion
	}
	if ee.Err() == nil {
		return 0, fmt.Errorf("the client's wrong-expected-version error carries no detail")
	}
	return parseCurrentRevision(ee.Err().Error())
}

// parseCurrentRevision reads the current revision out of the client's message.
func parseCurrentRevision(msg string) (int64, error) {
	const marker = "but got '"
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return 0, fmt.Errorf("cannot read the current revision in %q", msg)
	}
	rest := msg[i+len(marker):]
	j := strings.IndexByte(rest, '\'')
	if j < 0 {
		return 0, fmt.Errorf("cannot read the current revision in %q", msg)
	}
	current := rest[:j]
	if current == "no_stream" {
		return -1, nil
	}
	v, err := strconv.ParseInt(current, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("cannot read the current revision %q in %q", current, msg)
	}
	return v, nil
}
