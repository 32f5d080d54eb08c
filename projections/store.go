package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/assent-dev/assent/eventstore"
)

// Store keeps the rows of the read models, their checkpoints and their failed events. Each
// read model keeps its rows in tables of its own (Tables), as documents keyed by ID with two
// indexed columns: ix (a lookup key such as an email) and until (the time after which a row
// may be swept). A read model writes its rows and its checkpoint in the same transaction, so
// a start resumes from the checkpoint and never applies an event twice nor skips one.
//
// Implementations: MemoryStore (a fresh in-process set, for replays and tests) and, in
// package projections/tables, SQLite (the node's local database) and PostgreSQL. All methods
// are safe for concurrent use; Begin waits while another write transaction runs.
type Store interface {
	// Begin starts a write transaction. Only one runs at a time.
	Begin(ctx context.Context) (Tx, error)
	// Get returns the committed value of a row, or ErrNotFound.
	Get(ctx context.Context, table string, key []byte) ([]byte, error)
	// Lookup returns the committed value of the row whose ix is ix, or ErrNotFound.
	Lookup(ctx context.Context, table, ix string) ([]byte, error)
	// Scan calls fn with every committed row of table, ordered by key.
	Scan(ctx context.Context, table string, fn func(key, val []byte) error) error
	// Count returns the number of rows of table.
	Count(ctx context.Context, table string) (int, error)
	// Checkpoints returns the committed checkpoint of every read model that has one.
	Checkpoints(ctx context.Context) (map[string]eventstore.Position, error)
	// Failures returns every failed event, ordered by read model and position.
	Failures(ctx context.Context) ([]FailedEvent, error)
	// Fresh returns a store over new, empty tables beside the live ones, for a rebuild. The
	// live tables are untouched, and read, until Promote.
	Fresh(ctx context.Context) (FreshStore, error)
}

// FreshStore is a store being rebuilt.
type FreshStore interface {
	Store
	// Promote replaces the live tables with these, in one transaction, so that a reader sees
	// the old tables or the new ones, never a mix. It fails with ErrBehind, and changes
	// nothing, if a live checkpoint is ahead of its fresh one (a server went on meanwhile):
	// fold more of the log into the fresh tables and promote again.
	Promote(ctx context.Context) error
	// Discard drops the fresh tables.
	Discard(ctx context.Context) error
}

// Tx is a write transaction. Its reads see its own writes.
type Tx interface {
	Get(ctx context.Context, table string, key []byte) ([]byte, error)
	// Put inserts or replaces a row; ix "" and until 0 leave those columns empty.
	Put(ctx context.Context, table string, key []byte, ix string, until int64, val []byte) error
	Delete(ctx context.Context, table string, key []byte) error
	// Sweep deletes the rows of table whose until is before before.
	Sweep(ctx context.Context, table string, before int64) error
	// Clear deletes every row of table.
	Clear(ctx context.Context, table string) error
	// Checkpoints returns the checkpoint of every read model that has one; the others are at
	// eventstore.Start.
	Checkpoints(ctx context.Context) (map[string]eventstore.Position, error)
	SetCheckpoint(ctx context.Context, name string, pos eventstore.Position) error
	// SetCheckpoints sets several checkpoints at once.
	SetCheckpoints(ctx context.Context, cps map[string]eventstore.Position) error
	// Failure returns the failed event of a read model at pos; ok is false if there is none.
	Failure(ctx context.Context, name string, pos eventstore.Position) (f FailedEvent, ok bool, err error)
	PutFailure(ctx context.Context, f FailedEvent) error
	Commit() error
	Rollback() error
}

// Row is a row of a table, for RowsWriter.
type Row struct {
	Key   []byte
	Ix    string
	Until int64
	Val   []byte
}

// RowsWriter is a Tx that writes several rows of a table at once (fewer statements): the same
// as a Put of each, in order. The keys are distinct.
type RowsWriter interface {
	PutRows(ctx context.Context, table string, rows []Row) error
}

// FailedEvent is an event a read model could not decode or apply.
type FailedEvent struct {
	Projection    string
	Position      eventstore.Position
	Type          string
	SchemaVersion int
	Error         string
	// Attempts counts the tries; the event is Skipped after MaxAttempts.
	Attempts int
	Skipped  bool
	At       time.Time
}

// MaxAttempts is how many times a read model tries an event that fails to decode or apply
// before it records it as skipped and goes on.
const MaxAttempts = 3

// Store errors.
var (
	// ErrBehind is returned by Promote when a live checkpoint is ahead of the fresh one.
	ErrBehind = errors.New("projections: the fresh read models are behind the live ones")
)

// Tables are the names of the tables of every read model, in the order of Set.All, and meta,
// which holds a read model's counters (such as the sweeps' cadence).
var Tables = []string{"accounts", "devices", "pending", "challenges", "signouts", "sessions", "sessionaccounts", "history", "historyaccounts", "meta"}

var errTxDone = errors.New("projections: transaction already committed or rolled back")

func errUnknownTable(name string) error {
	return fmt.Errorf("projections: no read-model table named %q", name)
}

func sortFailures(fs []FailedEvent) {
	slices.SortFunc(fs, func(a, b FailedEvent) int {
		if c := strings.Compare(a.Projection, b.Projection); c != 0 {
			return c
		}
		return cmp.Compare(a.Position, b.Position)
	})
}
