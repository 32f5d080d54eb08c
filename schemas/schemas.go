// Package schemas keeps a deployment's rule on event schema versions: the log records, per
// event type, the highest schema version that every node of the deployment reads, and a node
// writes no event above it and does not start when the deployment may already write versions
// it cannot read. The upgrade rule that follows is readers first, then writers (docs/upgrades.md).
package schemas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
)

// Stream is the stream of the deployment's records; TypeAllowed the type of each record.
const (
	Stream      = "deployment-schemas"
	TypeAllowed = "deployment.schemas.allowed"
)

// Errors of the rule. Check them with errors.Is.
var (
	// ErrUnreadable is returned when the deployment allows schema versions this node cannot
	// read: the node must not start (upgrade it first).
	ErrUnreadable = errors.New("schemas: the deployment writes event schema versions this build cannot read")
	// ErrNotAllowed is returned for an event whose schema version the deployment does not
	// allow yet: some node may not read it.
	ErrNotAllowed = errors.New("schemas: the deployment does not allow this event schema version yet")
)

// Versions maps an event type to a schema version.
type Versions map[string]int

// String lists the versions as type@version, sorted.
func (v Versions) String() string {
	var out []string
	for _, t := range slices.Sorted(maps.Keys(v)) {
		out = append(out, fmt.Sprintf("%s@%d", t, v[t]))
	}
	return strings.Join(out, ", ")
}

// Allowed is one record: the versions every node reads, from the moment it was appended.
type Allowed struct {
	Versions Versions  `json:"versions"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	// version is the record's stream version (-1: no record yet).
	version int64
}

// Read returns the deployment's last record, and false when there is none yet.
func Read(ctx context.Context, log eventstore.Store) (Allowed, bool, error) {
	evs, err := log.ReadStream(ctx, Stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1})
	if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && len(evs) == 0) {
		return Allowed{version: -1}, false, nil
	}
	if err != nil {
		return Allowed{}, false, fmt.Errorf("schemas: read the deployment's record: %w", err)
	}
	ev := evs[0]
	var a Allowed
	if ev.Type != TypeAllowed || ev.SchemaVersion != 1 {
		return Allowed{}, false, fmt.Errorf("%w: the deployment's record is a %s at schema %d", ErrUnreadable, ev.Type, ev.SchemaVersion)
	}
	if err := json.Unmarshal(ev.Data, &a); err != nil {
		return Allowed{}, false, fmt.Errorf("schemas: the deployment's record at position %d: %w", ev.Position, err)
	}
	a.version = int64(ev.Version)
	return a, true, nil
}

// Unreadable returns the types whose allowed version is above what build reads, or that build
// does not know, as type@allowed (reads up to n).
func (a Allowed) Unreadable(build Versions) []string {
	var out []string
	for _, t := range slices.Sorted(maps.Keys(a.Versions)) {
		if have := build[t]; have < a.Versions[t] {
			out = append(out, fmt.Sprintf("%s at schema %d (this build reads up to %d)", t, a.Versions[t], have))
		}
	}
	return out
}

// Start settles the record at a node's start and returns it, with false when there is no
// record and so nothing to guard. With sole set (a store that has one writer, such as the
// embedded one: no other node reads the log meanwhile) an existing record is raised to every
// version the build writes, and none is made. Otherwise the first node of a deployment records
// its own versions, and later ones only read the record: raising it is the operator's step
// (Raise), once every node reads the new versions. Either way, a record that allows a version
// this build cannot read is ErrUnreadable: the node must not start.
func Start(ctx context.Context, log eventstore.Store, build Versions, sole bool, now time.Time) (Allowed, bool, error) {
	for range 5 {
		cur, found, err := Read(ctx, log)
		if err != nil {
			return Allowed{}, false, err
		}
		if bad := cur.Unreadable(build); len(bad) > 0 {
			return Allowed{}, false, fmt.Errorf("%w: %s. Upgrade this node to the build the other nodes run (readers first, then writers)", ErrUnreadable, strings.Join(bad, "; "))
		}
		if found && !sole {
			return cur, true, nil
		}
		if !found && sole {
			return cur, false, nil
		}
		by := "the first node of the deployment"
		if sole {
			by = "the store's only writer"
		}
		next, changed := cur.raised(build)
		if !changed {
			return cur, true, nil
		}
		err = appendRecord(ctx, log, cur.version, Allowed{Versions: next, By: by, At: now.UTC()})
		if errors.Is(err, eventstore.ErrConflict) {
			continue // another node recorded first: read again
		}
		if err != nil {
			return Allowed{}, false, err
		}
	}
	return Allowed{}, false, fmt.Errorf("schemas: the deployment's record kept moving while this node started")
}

// Raise records, for every type, the higher of the allowed version and build's: the
// operator's step once every node of the deployment runs build (or a newer one). A record that
// already allows a version build cannot read is ErrUnreadable: raise from the newest build.
func Raise(ctx context.Context, log eventstore.Store, build Versions, by string, now time.Time) (Allowed, bool, error) {
	cur, _, err := Read(ctx, log)
	if err != nil {
		return Allowed{}, false, err
	}
	if bad := cur.Unreadable(build); len(bad) > 0 {
		return Allowed{}, false, fmt.Errorf("%w: %s. Raise from the newest build", ErrUnreadable, strings.Join(bad, "; "))
	}
	next, changed := cur.raised(build)
	if !changed {
		return cur, false, nil
	}
	rec := Allowed{Versions: next, By: by, At: now.UTC(), version: cur.version + 1}
	if err := appendRecord(ctx, log, cur.version, rec); err != nil {
		return Allowed{}, false, err
	}
	return rec, true, nil
}

// raised returns the versions of a, each raised to build's where that is higher.
func (a Allowed) raised(build Versions) (Versions, bool) {
	next := maps.Clone(a.Versions)
	if next == nil {
		next = Versions{}
	}
	changed := false
	for t, v := range build {
		if next[t] < v {
			next[t], changed = v, true
		}
	}
	return next, changed
}

func appendRecord(ctx context.Context, log eventstore.Store, after int64, rec Allowed) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	expected := eventstore.NoStream()
	if after >= 0 {
		expected = eventstore.Exact(uint64(after))
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	_, err = log.Append(ctx, Stream, expected, eventstore.EventData{ID: id, Type: TypeAllowed, SchemaVersion: 1, Data: data,
		Metadata: eventstore.Metadata{CorrelationID: id.String(), Actor: "system"}})
	if err != nil {
		return fmt.Errorf("schemas: record the allowed versions: %w", err)
	}
	return nil
}

// Guard answers, before an append, whether the deployment allows an event's schema version.
// It holds the record it was given and reads the log again, at most once per refresh
// interval, when an event is above it: an operator may have raised it meanwhile.
type Guard struct {
	log     eventstore.Store
	refresh time.Duration

	mu      sync.Mutex
	allowed Versions
	read    time.Time
}

// NewGuard returns a Guard over the record a that reads the log again at most every refresh.
func NewGuard(log eventstore.Store, a Allowed, refresh time.Duration) *Guard {
	return &Guard{log: log, refresh: refresh, allowed: a.Versions, read: time.Now()}
}

// Allow returns nil when the deployment allows typ at version, else an error that matches
// ErrNotAllowed and says what to do.
func (g *Guard) Allow(ctx context.Context, typ string, version int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.allowed[typ] >= version {
		return nil
	}
	if time.Since(g.read) >= g.refresh {
		if cur, _, err := Read(ctx, g.log); err == nil {
			g.allowed, g.read = cur.Versions, time.Now()
			if g.allowed[typ] >= version {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %s at schema %d (the deployment allows %d); once every node runs this build, run `assent schema raise`",
		ErrNotAllowed, typ, version, g.allowed[typ])
}
