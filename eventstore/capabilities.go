package eventstore

import "context"

// The optional capabilities of a Store, beyond the interface every backend implements, are
// declared here, by the port, and each backend that has one asserts it at compile time
// (var _ eventstore.ChainReader = (*Store)(nil)). A consumer finds one with a type assertion
// on the Store it was given. HealthChecker, MultiStreamReader, MultiStreamAppender, KnownHeads,
// SparsePositions and IndexVerifier are declared beside Store; the contract suite
// (eventstore/storetest) covers each one that has behaviour, for the backends that have it.

// ChainReader is implemented by a store that keeps a hash chain per stream (SQLite,
// PostgreSQL): every event stored with the hash of the previous event of its stream, as the
// backend computed it when it wrote the event. Verifiers and auditors read the log through it.
type ChainReader interface {
	// ReadAllChained is ReadAll with each event's stored chain link: up to limit events whose
	// position is after 'after', in global order. The first event of a stream links to the
	// zero Hash, every later one to ChainedEvent.Hash of the event before it.
	ReadAllChained(ctx context.Context, after Position, limit int) ([]ChainedEvent, error)
}

// HeadReader is implemented by a store that finds the position of the last event of its log
// with a read (PostgreSQL, EventStoreDB): a store of several writers, whose head only the
// storage knows. The embedded store, the only writer of its file, knows its head from memory
// (sqlite.Store.Head, without a context) and does not implement it.
type HeadReader interface {
	// Head returns the position of the last event a reader can see, or Start for an empty
	// log; a subscription After(Head) sees only what is appended next. An acknowledged append
	// is at or before the head once readers can see it (on PostgreSQL, once the transactions
	// older than it have ended).
	Head(ctx context.Context) (Position, error)
}

// Checkpoints keeps the last position each named consumer acknowledged, so that a consumer
// (eventstore/bridge) resumes after it. Every backend keeps them in its own storage; the read
// models and the push hub keep theirs elsewhere and implement it too. Both methods must be
// safe for concurrent use.
type Checkpoints interface {
	// LoadCheckpoint returns the position the consumer last saved, or Start.
	LoadCheckpoint(ctx context.Context, name string) (Position, error)
	// SaveCheckpoint records that the consumer has handled everything up to pos; a later
	// LoadCheckpoint returns it.
	SaveCheckpoint(ctx context.Context, name string, pos Position) error
}
