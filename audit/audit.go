// Package audit is what an auditor does with Assent's event log: replay a stream, merge an
// account's streams into a timeline of one-line summaries, rebuild an account's state at a past
// time or position with the projections that serve live traffic, and verify the log — the hash
// chain of every stream, every signed checkpoint, and every device signature on an answer. It
// also records audit reads and operators' acceptances of a lost tail. The checkpoints' format
// is package audit/checkpoint; the server's checkpoint writer is package audit/checkpointer,
// which this package does not import. Nothing it returns holds a secret: sealed secrets,
// password hashes and backup-code hashes are redacted.
package audit

import (
	"context"
	"errors"

	"github.com/assent-dev/assent/eventstore"
)

// Errors of the audit package. Check them with errors.Is.
var (
	// ErrNoChain is returned by Verify for a log that cannot give its hash chain.
	ErrNoChain = errors.New("audit: this event store does not keep a hash chain")
	// ErrBadBound is returned for a state-at bound that names neither a time nor a position.
	ErrBadBound = errors.New("audit: give a time or a position")
)

// Log is the read side of the event store that audits use; every eventstore.Store is one.
type Log interface {
	ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error)
	ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error)
}

// ChainLog is a Log that also gives each event's stored chain link: a store with the
// eventstore.ChainReader capability (SQLite, PostgreSQL).
type ChainLog interface {
	Log
	eventstore.ChainReader
}

// Appender appends events; the read recorder and AcceptLoss use it.
type Appender interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error)
}

// page is the number of events read at once.
const page = 2000
