package projections

import (
	"slices"
	"sort"
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

type pendingEntry struct {
	ch        PendingChallenge
	position  eventstore.Position
	devices   []uuid.UUID
	delivered []uuid.UUID
}

// Pending is the read model of open challenges, per device, named "pending". It drops a
// challenge at its final event and a device's entries when the device is unlinked from the
// challenge's account. It publishes Changes on Feed after each event it applies.
type Pending struct {
	core
	byID     map[uuid.UUID]*pendingEntry
	byDevice map[uuid.UUID]map[uuid.UUID]struct{}
	// Feed announces challenges issued, delivered and decided, and devices linked and unlinked.
	Feed Feed
}

// NewPending returns an empty pending-challenge read model.
func NewPending() *Pending {
	types := typesOf(append([]domain.Event{domain.ChallengeIssued{}, domain.ChallengeDelivered{}, domain.DeviceLinked{}, domain.DeviceUnlinked{}}, finalEvents...)...)
	return &Pending{core: newCore("pending", types...), byID: map[uuid.UUID]*pendingEntry{}, byDevice: map[uuid.UUID]map[uuid.UUID]struct{}{}}
}

// Apply folds one event and publishes its Change; see Projection.
func (p *Pending) Apply(ev eventstore.RecordedEvent) error {
	var changes []Change
	err := p.apply(ev, func(ev eventstore.RecordedEvent, e domain.Event) { changes = p.fold(ev, e) })
	p.Feed.publish(changes)
	return err
}

// Reset empties the read model. Subscribers of Feed stay subscribed.
func (p *Pending) Reset() {
	p.reset(func() { p.byID, p.byDevice = map[uuid.UUID]*pendingEntry{}, map[uuid.UUID]map[uuid.UUID]struct{}{} })
}

// Len is the number of open challenges.
func (p *Pending) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.byID)
}

// ForDevice returns the challenges open at now that wait for device, oldest first: what a
// reconnecting device is sent again.
func (p *Pending) ForDevice(device uuid.UUID, now time.Time) []PendingChallenge {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var entries []*pendingEntry
	for id := range p.byDevice[device] {
		if e := p.byID[id]; e != nil && now.Before(e.ch.ExpiresAt) {
			entries = append(entries, e)
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].position < entries[j].position })
	out := make([]PendingChallenge, 0, len(entries))
	for _, e := range entries {
		c := e.ch
		c.ContextDigest = slices.Clone(c.ContextDigest)
		c.Delivered = slices.Contains(e.delivered, device)
		out = append(out, c)
	}
	return out
}

// Due returns the IDs of open challenges whose expiry is at or before now: the sweeper's work.
func (p *Pending) Due(now time.Time) []uuid.UUID {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out []uuid.UUID
	for id, e := range p.byID {
		if !now.Before(e.ch.ExpiresAt) {
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
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]PendingEntry, 0, len(p.byID))
	for _, e := range p.byID {
		c := e.ch
		c.ContextDigest = slices.Clone(c.ContextDigest)
		out = append(out, PendingEntry{Challenge: c, Devices: slices.Clone(e.devices), Delivered: slices.Clone(e.delivered)})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Challenge.ChallengeID.String() < out[j].Challenge.ChallengeID.String()
	})
	return out
}

func (p *Pending) fold(ev eventstore.RecordedEvent, e domain.Event) []Change {
	switch e := e.(type) {
	case domain.ChallengeIssued:
		en := &pendingEntry{position: ev.Position, ch: PendingChallenge{
			ChallengeID: e.ChallengeID, AccountID: e.AccountID, Context: e.Context,
			ContextDigest: slices.Clone(e.ContextDigest), IssuedAt: e.At, ExpiresAt: e.ExpiresAt,
		}}
		for _, d := range e.Devices {
			en.devices = append(en.devices, d.DeviceID)
			p.index(d.DeviceID)[e.ChallengeID] = struct{}{}
		}
		p.byID[e.ChallengeID] = en
		c := en.ch
		c.ContextDigest = slices.Clone(c.ContextDigest)
		return []Change{{Kind: ChangeChallengeIssued, Position: ev.Position, AccountID: e.AccountID, ChallengeID: e.ChallengeID, DeviceIDs: slices.Clone(en.devices), Pending: &c}}
	case domain.ChallengeDelivered:
		en := p.byID[e.ChallengeID]
		if en == nil || slices.Contains(en.delivered, e.DeviceID) {
			return nil
		}
		en.delivered = append(en.delivered, e.DeviceID)
		return []Change{{Kind: ChangeChallengeDelivered, Position: ev.Position, AccountID: en.ch.AccountID, ChallengeID: e.ChallengeID, DeviceIDs: []uuid.UUID{e.DeviceID}}}
	case domain.DeviceLinked:
		return []Change{{Kind: ChangeDeviceLinked, Position: ev.Position, AccountID: e.AccountID, DeviceIDs: []uuid.UUID{e.DeviceID}}}
	case domain.DeviceUnlinked:
		for id := range p.byDevice[e.DeviceID] {
			if en := p.byID[id]; en != nil && en.ch.AccountID == e.AccountID {
				p.drop(en, e.DeviceID)
			}
		}
		return []Change{{Kind: ChangeDeviceUnlinked, Position: ev.Position, AccountID: e.AccountID, DeviceIDs: []uuid.UUID{e.DeviceID}}}
	}
	st, _, ok := finalState(e)
	id := challengeOf(e)
	en := p.byID[id]
	if !ok || en == nil {
		return nil
	}
	devices := slices.Clone(en.devices)
	for _, d := range devices {
		p.drop(en, d)
	}
	delete(p.byID, id)
	return []Change{{Kind: ChangeChallengeDecided, Position: ev.Position, AccountID: en.ch.AccountID, ChallengeID: id, DeviceIDs: devices, State: st}}
}

func (p *Pending) index(device uuid.UUID) map[uuid.UUID]struct{} {
	m := p.byDevice[device]
	if m == nil {
		m = map[uuid.UUID]struct{}{}
		p.byDevice[device] = m
	}
	return m
}

// drop removes device from an open challenge.
func (p *Pending) drop(en *pendingEntry, device uuid.UUID) {
	en.devices = slices.DeleteFunc(en.devices, func(d uuid.UUID) bool { return d == device })
	if m := p.byDevice[device]; m != nil {
		delete(m, en.ch.ChallengeID)
		if len(m) == 0 {
			delete(p.byDevice, device)
		}
	}
}
