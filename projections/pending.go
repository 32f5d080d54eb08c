package projections

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// PendingChallenge is an open challenge as a device sees it: no number.
type PendingChallenge struct {
	ChallengeID   uuid.UUID
	AccountID     uuid.UUID
	Context       domain.LoginContext
	ContextDigest []byte
	IssuedAt      time.Time
	ExpiresAt     time.Time
	// Delivered is true when the device asking has acknowledged it (ForDevice only).
	Delivered bool
}

// pendingEntry is an open challenge's row.
type pendingEntry struct {
	Ch        PendingChallenge
	Position  eventstore.Position
	Devices   []uuid.UUID
	Delivered []uuid.UUID
}

// pendingState is the open challenges by ID and by device, in memory: they live two minutes,
// so they are few, and the expiry sweeper and reconnecting devices ask for them often.
type pendingState struct {
	mu       sync.RWMutex
	byID     map[uuid.UUID]*pendingEntry
	byDevice map[uuid.UUID]map[uuid.UUID]struct{}
}

func newPendingState() *pendingState {
	return &pendingState{byID: map[uuid.UUID]*pendingEntry{}, byDevice: map[uuid.UUID]map[uuid.UUID]struct{}{}}
}

// set installs or replaces a committed entry; nil removes it.
func (st *pendingState) set(id uuid.UUID, en *pendingEntry) {
	if old := st.byID[id]; old != nil {
		for _, d := range old.Devices {
			if m := st.byDevice[d]; m != nil {
				delete(m, id)
				if len(m) == 0 {
					delete(st.byDevice, d)
				}
			}
		}
		delete(st.byID, id)
	}
	if en == nil {
		return
	}
	st.byID[id] = en
	for _, d := range en.Devices {
		m := st.byDevice[d]
		if m == nil {
			m = map[uuid.UUID]struct{}{}
			st.byDevice[d] = m
		}
		m[id] = struct{}{}
	}
}

// commit installs the pending rows a committed batch wrote.
func (st *pendingState) commit(b *batch) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, c := range b.rows["pending"] {
		id := uuid.UUID([]byte(k))
		if c.present {
			en := *c.v.(*pendingEntry)
			en.Devices, en.Delivered = slices.Clone(en.Devices), slices.Clone(en.Delivered)
			st.set(id, &en)
		} else {
			st.set(id, nil)
		}
	}
}

// Pending is the read model of open challenges, per device, named "pending". It drops a
// challenge at its final event and a device's entries when the device is unlinked from the
// challenge's account. Its rows are in the store and, restored at start, in memory.
type Pending struct {
	core
	state *pendingState
}

// NewPending returns an empty pending-challenge read model in memory.
func NewPending() *Pending { return newPending(NewMemoryStore()) }

func newPending(store Store) *Pending {
	types := typesOf(append([]domain.Event{domain.ChallengeIssued{}, domain.ChallengeDelivered{}, domain.DeviceUnlinked{}}, finalEvents...)...)
	p := &Pending{core: newCore("pending", store, []string{"pending"}, types...), state: newPendingState()}
	p.core.fold = foldPending
	return p
}

// Apply folds one event; see Projection.
func (p *Pending) Apply(ev eventstore.RecordedEvent) error { return applyOne(p, ev) }

// restore loads the open challenges from the store into memory.
func (p *Pending) restore() error {
	st := newPendingState()
	rows, err := allRows[pendingEntry](p.store, "pending")
	if err != nil {
		return err
	}
	for i := range rows {
		st.set(rows[i].Ch.ChallengeID, &rows[i])
	}
	p.state.mu.Lock()
	p.state.byID, p.state.byDevice = st.byID, st.byDevice
	p.state.mu.Unlock()
	return nil
}

// Reset empties the read model.
func (p *Pending) Reset() {
	p.core.Reset()
	p.state.mu.Lock()
	p.state.byID, p.state.byDevice = map[uuid.UUID]*pendingEntry{}, map[uuid.UUID]map[uuid.UUID]struct{}{}
	p.state.mu.Unlock()
}

// Len is the number of open challenges.
func (p *Pending) Len() int {
	p.state.mu.RLock()
	defer p.state.mu.RUnlock()
	return len(p.state.byID)
}

// ForDevice returns the challenges open at now that wait for device, oldest first: what a
// reconnecting device is sent again.
func (p *Pending) ForDevice(device uuid.UUID, now time.Time) []PendingChallenge {
	p.state.mu.RLock()
	defer p.state.mu.RUnlock()
	var entries []*pendingEntry
	for id := range p.state.byDevice[device] {
		if e := p.state.byID[id]; e != nil && now.Before(e.Ch.ExpiresAt) {
			entries = append(entries, e)
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Position < entries[j].Position })
	out := make([]PendingChallenge, 0, len(entries))
	for _, e := range entries {
		c := e.Ch
		c.ContextDigest = slices.Clone(c.ContextDigest)
		c.Delivered = slices.Contains(e.Delivered, device)
		out = append(out, c)
	}
	return out
}

// Due returns the IDs of open challenges whose expiry is at or before now: the sweeper's work.
func (p *Pending) Due(now time.Time) []uuid.UUID {
	p.state.mu.RLock()
	defer p.state.mu.RUnlock()
	var out []uuid.UUID
	for id, e := range p.state.byID {
		if !now.Before(e.Ch.ExpiresAt) {
			out = append(out, id)
		}
	}
	return out
}

// PendingEntry is one open challenge with the devices it waits for, for comparisons of whole
// read models (All).
type PendingEntry struct {
	Challenge PendingChallenge
	Devices   []uuid.UUID
	Delivered []uuid.UUID
}

// All returns every open challenge, ordered by ID.
func (p *Pending) All() []PendingEntry {
	p.state.mu.RLock()
	defer p.state.mu.RUnlock()
	out := make([]PendingEntry, 0, len(p.state.byID))
	for _, e := range p.state.byID {
		c := e.Ch
		c.ContextDigest = slices.Clone(c.ContextDigest)
		out = append(out, PendingEntry{Challenge: c, Devices: slices.Clone(e.Devices), Delivered: slices.Clone(e.Delivered)})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Challenge.ChallengeID.String() < out[j].Challenge.ChallengeID.String()
	})
	return out
}

func foldPending(b *batch, ev eventstore.RecordedEvent, e domain.Event) error {
	switch e := e.(type) {
	case domain.ChallengeIssued:
		en := &pendingEntry{Position: ev.Position, Ch: PendingChallenge{
			ChallengeID: e.ChallengeID, AccountID: e.AccountID, Context: e.Context,
			ContextDigest: slices.Clone(e.ContextDigest), IssuedAt: e.At, ExpiresAt: e.ExpiresAt,
		}}
		for _, d := range e.Devices {
			en.Devices = append(en.Devices, d.DeviceID)
		}
		b.create("pending", e.ChallengeID[:], "", 0, en)
		return nil
	case domain.ChallengeDelivered:
		en, err := load[pendingEntry](b, "pending", e.ChallengeID[:])
		if err != nil || en == nil || slices.Contains(en.Delivered, e.DeviceID) {
			return err
		}
		en.Delivered = append(en.Delivered, e.DeviceID)
		b.put("pending", e.ChallengeID[:], "", 0, en)
		return nil
	case domain.DeviceUnlinked:
		for _, id := range b.pendingFor(e.DeviceID) {
			en, err := load[pendingEntry](b, "pending", id[:])
			if err != nil {
				return err
			}
			if en != nil && en.Ch.AccountID == e.AccountID && slices.Contains(en.Devices, e.DeviceID) {
				en.Devices = slices.DeleteFunc(en.Devices, func(d uuid.UUID) bool { return d == e.DeviceID })
				b.put("pending", id[:], "", 0, en)
			}
		}
		return nil
	}
	f, ok := e.(domain.FinalEvent)
	if !ok {
		return nil
	}
	id := f.OfChallenge()
	en, err := load[pendingEntry](b, "pending", id[:])
	if err != nil || en == nil {
		return err
	}
	b.del("pending", id[:])
	return nil
}

// pendingFor returns the open challenges that may wait for device: those committed before the
// batch, and those the batch wrote.
func (b *batch) pendingFor(device uuid.UUID) []uuid.UUID {
	var ids []uuid.UUID
	b.pending.mu.RLock()
	for id := range b.pending.byDevice[device] {
		ids = append(ids, id)
	}
	b.pending.mu.RUnlock()
	for k, c := range b.rows["pending"] {
		if c.present && slices.Contains(c.v.(*pendingEntry).Devices, device) {
			ids = append(ids, uuid.UUID([]byte(k)))
		}
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return slices.Compact(ids)
}
