package eventstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

type expectedKind int

const (
	expectAny expectedKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// ExpectedVersion is the state a stream must be in for an append to succeed. Build one with
// Any, NoStream, StreamExists or Exact.
type ExpectedVersion struct {
	kind    expectedKind
	version uint64
}

// Any accepts the stream in any state.
func Any() ExpectedVersion { return ExpectedVersion{kind: expectAny} }

// NoStream requires that the stream holds no event.
func NoStream() ExpectedVersion { return ExpectedVersion{kind: expectNoStream} }

// StreamExists requires that the stream holds at least one event.
func StreamExists() ExpectedVersion { return ExpectedVersion{kind: expectStreamExists} }

// Exact requires that the stream's last event has version v.
func Exact(v uint64) ExpectedVersion { return ExpectedVersion{kind: expectExact, version: v} }

// IsAny, IsNoStream, IsStreamExists and ExactVersion tell a backend which case it holds.
func (e ExpectedVersion) IsAny() bool          { return e.kind == expectAny }
func (e ExpectedVersion) IsNoStream() bool     { return e.kind == expectNoStream }
func (e ExpectedVersion) IsStreamExists() bool { return e.kind == expectStreamExists }

// ExactVersion returns the version and true when e is Exact.
func (e ExpectedVersion) ExactVersion() (uint64, bool) {
	return e.version, e.kind == expectExact
}

// Matches reports whether a stream whose last version is actual (-1: no stream) satisfies e.
func (e ExpectedVersion) Matches(actual int64) bool {
	switch e.kind {
	case expectNoStream:
		return actual < 0
	case expectStreamExists:
		return actual >= 0
	case expectExact:
		return actual >= 0 && uint64(actual) == e.version
	default:
		return true
	}
}

func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectExact:
		return fmt.Sprintf("version %d", e.version)
	default:
		return "any"
	}
}

// MaxStreamNameLength is the longest stream name a store accepts.
const MaxStreamNameLength = 200

// Validate checks an append's arguments the same way in every backend and fills zero event IDs
// with new UUIDv7s. It returns an error wrapping ErrInvalidEvent.
func Validate(stream string, events []EventData) error {
	switch {
	case stream == "":
		return fmt.Errorf("%w: the stream name is empty", ErrInvalidEvent)
	case len(stream) > MaxStreamNameLength:
		return fmt.Errorf("%w: the stream name is longer than %d bytes", ErrInvalidEvent, MaxStreamNameLength)
	case !utf8.ValidString(stream) || strings.HasPrefix(stream, "$"):
		return fmt.Errorf("%w: the stream name %q is not valid UTF-8 or starts with '$'", ErrInvalidEvent, stream)
	case len(events) == 0:
		return fmt.Errorf("%w: no events to append", ErrInvalidEvent)
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i := range events {
		ev := &events[i]
		if ev.ID == uuid.Nil {
			id, err := uuid.NewV7()
			if err != nil {
				return fmt.Errorf("eventstore: new event ID: %w", err)
			}
			ev.ID = id
		}
		if _, dup := seen[ev.ID]; dup {
			return fmt.Errorf("%w: event ID %s appears twice in one append", ErrInvalidEvent, ev.ID)
		}
		seen[ev.ID] = struct{}{}
		if ev.Type == "" || !utf8.ValidString(ev.Type) {
			return fmt.Errorf("%w: event %d has no type", ErrInvalidEvent, i)
		}
		if ev.SchemaVersion < 1 {
			return fmt.Errorf("%w: event %d (%s) has schema version %d, want 1 or more", ErrInvalidEvent, i, ev.Type, ev.SchemaVersion)
		}
		if !json.Valid(ev.Data) {
			return fmt.Errorf("%w: event %d (%s) data is not JSON", ErrInvalidEvent, i, ev.Type)
		}
	}
	return nil
}
