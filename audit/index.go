package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// Index maps each account to the streams of its history: its own, its email claim, the
// devices linked to it, its enrollments and its challenges. It is folded from the log and
// caught up on demand; safe for concurrent use.
type Index struct {
	mu      sync.Mutex
	pos     eventstore.Position
	streams map[uuid.UUID]map[string]struct{}
	// at holds the positions of every stream's events, in order, so that an account's history
	// can be read by position (one seek per event) rather than stream by stream.
	at map[string][]eventstore.Position
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{streams: map[uuid.UUID]map[string]struct{}{}, at: map[string][]eventstore.Position{}}
}

// refs is the part of an event that ties it to an account; every type that names one uses
// these field names.
type refs struct {
	AccountID uuid.UUID `json:"account_id"`
	DeviceID  uuid.UUID `json:"device_id"`
}

// CatchUp folds the log from where the index is to its end.
func (x *Index) CatchUp(ctx context.Context, log Log) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for {
		evs, err := log.ReadAll(ctx, x.pos, page)
		if err != nil {
			return fmt.Errorf("audit index: %w", err)
		}
		for i := range evs {
			x.add(&evs[i])
			x.pos = evs[i].Position
		}
		if len(evs) < page {
			return nil
		}
	}
}

func (x *Index) add(ev *eventstore.RecordedEvent) {
	x.at[ev.Stream] = append(x.at[ev.Stream], ev.Position)
	switch ev.Type {
	case "account.registered", "email.claimed", "device.linked", "enrollment.started", "challenge.issued":
	default:
		return
	}
	var r refs
	if json.Unmarshal(ev.Data, &r) != nil || r.AccountID == uuid.Nil {
		return
	}
	set := x.streams[r.AccountID]
	if set == nil {
		set = map[string]struct{}{domain.AccountStream(r.AccountID): {}}
		x.streams[r.AccountID] = set
	}
	set[ev.Stream] = struct{}{}
	if ev.Type == "device.linked" && r.DeviceID != uuid.Nil {
		set[domain.DeviceStream(r.DeviceID)] = struct{}{}
	}
}

// Streams returns the streams of the account's history, or nil for an account the log does
// not know.
func (x *Index) Streams(account uuid.UUID) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	set := x.streams[account]
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	return out
}

// Positions returns the positions of every event of the given streams, in global order.
func (x *Index) Positions(streams []string) []eventstore.Position {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, s := range streams {
		n += len(x.at[s])
	}
	out := make([]eventstore.Position, 0, n)
	for _, s := range streams {
		out = append(out, x.at[s]...)
	}
	slices.Sort(out)
	return out
}
