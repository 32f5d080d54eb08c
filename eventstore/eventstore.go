// Package eventstore defines Assent's event log: streams of immutable events, appended with an
// expected version, read one stream at a time or as one global ordered log, and followed by
// catch-up subscriptions. It knows nothing of accounts or devices; backends live in sub-packages
// named after what they talk to (sqlite, esdb) and all pass the suite in eventstore/storetest.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Position is an event's place in the global log. Positions grow strictly in commit order;
// the first event of a store has a position greater than Start. Backends may leave gaps.
type Position uint64

// Start is the position before the first event of the log.
const Start Position = 0

// Errors returned by every backend. Check them with errors.Is.
var (
	// ErrConflict is matched by every *ConflictError.
	ErrConflict = errors.New("eventstore: wrong expected version")
	// ErrStreamNotFound is returned when reading a stream that holds no event.
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrInvalidEvent is returned, wrapped with the reason, for an append that can never succeed.
	ErrInvalidEvent = errors.New("eventstore: invalid event")
	// ErrDuplicateEventID is returned when an event ID given to Append is already stored in
	// another stream, or when only some of the IDs of one append are already stored.
	ErrDuplicateEventID = errors.New("eventstore: event ID already used")
	// ErrClosed is returned by a store or a subscription that has been closed.
	ErrClosed = errors.New("eventstore: closed")
	// ErrUnavailable is matched by the errors of a store that cannot read or write its storage
	// (a full disk, an I/O error, a damaged or read-only file): the request was sound and may
	// succeed later, once an operator has acted. The error's text names the cause.
	ErrUnavailable = errors.New("eventstore: the storage cannot be read or written")
)

// Metadata travels with every event. RecordedAt is set by the store when the event is written.
type Metadata struct {
	CorrelationID string    `json:"correlation_id,omitempty"`
	CausationID   string    `json:"causation_id,omitempty"`
	Actor         string    `json:"actor,omitempty"`
	RecordedAt    time.Time `json:"-"`
}

// EventData is an event to append.
type EventData struct {
	// ID identifies the event; appending the same ID to the same stream again is a no-op that
	// returns the original result. A zero ID is replaced by a new UUIDv7.
	ID uuid.UUID
	// Type is the permanent, dotted name of the event (for example "account.registered").
	Type string
	// SchemaVersion is the version of Data's shape for this Type, starting at 1.
	SchemaVersion int
	// Data is the event's JSON body.
	Data     []byte
	Metadata Metadata
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	ID            uuid.UUID
	Stream        string
	Type          string
	SchemaVersion int
	Data          []byte
	Metadata      Metadata
	// Version is the event's place in its stream, starting at 0.
	Version uint64
	// Position is the event's place in the global log.
	Position Position
}

// AppendResult tells where the last event of an append was written.
type AppendResult struct {
	// Version is the stream version of the last event written: the expected version for the
	// next append to the stream.
	Version uint64
	// Position is the global position of the last event written.
	Position Position
}

// Direction is the order in which a stream is read.
type Direction int

// Directions of ReadStream.
const (
	Forwards Direction = iota
	Backwards
)

// ReadStreamOptions bound a stream read.
type ReadStreamOptions struct {
	Direction Direction
	// From is the first version read: the lowest when reading forwards, the highest when
	// reading backwards. With FromEnd set, a backwards read starts at the stream's last event.
	From    uint64
	FromEnd bool
	// Limit caps the number of events returned; 0 means no cap.
	Limit int
}

// Store is the event log. All methods are safe for concurrent use.
type Store interface {
	// Append writes events to the end of stream, atomically, if the stream's version matches
	// expected. A mismatch returns a *ConflictError and writes nothing. Events with IDs that
	// are all already stored in stream are not written again: the original result is returned.
	// When Append returns without error, the events are durable.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)
	// ReadStream returns the events of one stream, or ErrStreamNotFound.
	ReadStream(ctx context.Context, stream string, opts ReadStreamOptions) ([]RecordedEvent, error)
	// ReadAll returns up to limit events of the global log whose position is after 'after', in
	// global order.
	ReadAll(ctx context.Context, after Position, limit int) ([]RecordedEvent, error)
	// Subscribe starts a catch-up subscription: every event from 'from' on, exactly once, in
	// global order, first the history, then a CaughtUp message, then live events. It ends when
	// ctx is cancelled or the subscription is closed. A slow subscription never slows appends.
	Subscribe(ctx context.Context, from SubscribeFrom) (Subscription, error)
	// Close releases the store. Appends in flight complete or fail before it returns.
	Close() error
}

// HealthChecker is implemented by a store that can tell whether it is able to serve: nil, or
// an error (matching ErrUnavailable when the storage is at fault) whose text says why in words.
// A readiness probe calls it; it must return quickly.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// StreamAppend is one stream's share of an AppendMulti.
type StreamAppend struct {
	Stream   string
	Expected ExpectedVersion
	Events   []EventData
}

// MultiStreamReader is implemented by a store that reads several streams, merged in global
// order, at once (the SQLite backend: one query over its stream index). An audit timeline
// reads an account's streams so.
type MultiStreamReader interface {
	// ReadStreams returns every event of the given streams in global order; a stream that
	// does not exist contributes nothing.
	ReadStreams(ctx context.Context, streams []string) ([]RecordedEvent, error)
}

// MultiStreamAppender is implemented by a store that can append to several streams in one
// atomic write (the SQLite backend: one log, one transaction). A command that must change two
// streams together (an email claim and the account it is claimed for) uses it where it exists,
// so that no failure between two appends can leave one without the other.
type MultiStreamAppender interface {
	// AppendMulti appends each part to its stream, all or nothing: when a part's expected
	// version does not match, it returns that part's *ConflictError and writes nothing. The
	// streams must differ. Unlike Append it is not idempotent: an event ID already stored is
	// refused with ErrDuplicateEventID. The results are in the order of the parts; when it
	// returns without error, every part is durable.
	AppendMulti(ctx context.Context, parts ...StreamAppend) ([]AppendResult, error)
}

// KnownHeads is implemented by a store that knows, from memory, the last event of streams it
// wrote, because it is the only writer of its log (the SQLite backend, which holds a lock on its
// file). A caller that caches a stream uses it to tell, without a read, that nothing was
// appended since. A store of several writers (EventStoreDB) does not implement it.
type KnownHeads interface {
	// KnownHead returns the version and event ID of the stream's last event, with ok true, when
	// the store knows them without a read. ok false says nothing: read the stream. A head is
	// known from the moment the append that wrote it is acknowledged, at the latest.
	KnownHead(stream string) (version uint64, id uuid.UUID, ok bool)
	// Head returns the position of the last event of the log, from memory. It moves before
	// any subscription is woken or any append acknowledged: whoever has heard of an event, from
	// a subscription or from its append, finds it at or below the head.
	Head() Position
}

// SparsePositions is implemented by a store whose global positions leave gaps that are not
// deleted events (PostgreSQL, where a position is its transaction's ID). A verifier of such a
// log reports no missing positions; deleted events show as missing stream versions and against
// signed checkpoints.
type SparsePositions interface {
	// SparsePositions reports whether gaps between positions are normal.
	SparsePositions() bool
}

// SubscribeFrom says where a subscription starts.
type SubscribeFrom struct {
	end    bool
	after  Position
	urgent bool
}

// FromStart subscribes to the whole log.
func FromStart() SubscribeFrom { return SubscribeFrom{} }

// After subscribes to every event whose position is after p.
func After(p Position) SubscribeFrom { return SubscribeFrom{after: p} }

// FromEnd subscribes to events appended after the subscription starts.
func FromEnd() SubscribeFrom { return SubscribeFrom{end: true} }

// Urgent marks a subscription whose consumer is waited on by people (the push hub): a
// backend that wakes its subscriptions itself after a commit wakes urgent ones last, after the
// others and after the appenders, so that on a busy processor they are the first to run (Go
// runs the goroutine woken last first). A hint; backends that cannot order their wake-ups
// ignore it.
func (f SubscribeFrom) Urgent() SubscribeFrom {
	f.urgent = true
	return f
}

// IsUrgent reports whether the subscription was marked Urgent.
func (f SubscribeFrom) IsUrgent() bool { return f.urgent }

// IsEnd reports whether the subscription starts at the end of the log.
func (f SubscribeFrom) IsEnd() bool { return f.end }

// Position is the position after which a subscription that does not start at the end starts.
func (f SubscribeFrom) Position() Position { return f.after }

func (f SubscribeFrom) String() string {
	if f.end {
		return "end"
	}
	return fmt.Sprintf("after %d", f.after)
}

// Message is what a subscription delivers: an event, or the news that it has caught up.
type Message struct {
	Event *RecordedEvent
	// CaughtUp is true, once, when the history has been delivered and live events follow.
	CaughtUp bool
}

// Subscription is a catch-up subscription. Recv must not be called concurrently.
type Subscription interface {
	// Recv blocks until the next message. It returns the context's error once the context
	// given to Subscribe is done, and ErrClosed after Close.
	Recv() (Message, error)
	// Close ends the subscription and unblocks Recv.
	Close() error
}

// ConflictError is returned by Append when the stream's version is not the expected one.
type ConflictError struct {
	Stream   string
	Expected ExpectedVersion
	// Actual is the stream's version, or -1 when the stream does not exist.
	Actual int64
}

func (e *ConflictError) Error() string {
	actual := "no stream"
	if e.Actual >= 0 {
		actual = fmt.Sprintf("version %d", e.Actual)
	}
	return fmt.Sprintf("eventstore: stream %q: expected %s, found %s", e.Stream, e.Expected, actual)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// IndexVerifier is implemented by a store that keeps an index of its streams beside its log
// (the SQLite backend's stream_index): the index is what stream reads go through, so a verifier
// checks it against the log it indexes.
type IndexVerifier interface {
	// VerifyIndex compares the stream index with the log and returns what disagrees: an empty
	// list when every event of the log is indexed once, under its own stream and version.
	VerifyIndex(ctx context.Context) ([]IndexProblem, error)
}

// IndexProblem is one disagreement between a stream index and the log.
type IndexProblem struct {
	Stream   string
	Version  int64 // -1 when the problem is not about one version
	Position Position
	Message  string
}
