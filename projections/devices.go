package projections

import (
	"crypto/ed25519"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// DeviceView is a device and the accounts it is linked to now.
type DeviceView struct {
	ID           uuid.UUID
	Name         string
	Platform     string
	PublicKey    ed25519.PublicKey
	Accounts     []uuid.UUID // in the order they were linked
	RegisteredAt time.Time
}

func (v DeviceView) clone() DeviceView {
	v.PublicKey = slices.Clone(v.PublicKey)
	v.Accounts = slices.Clone(v.Accounts)
	return v
}

// Devices is the device read model, named "devices".
type Devices struct {
	core
	byID map[uuid.UUID]*DeviceView
}

// NewDevices returns an empty device read model.
func NewDevices() *Devices {
	return &Devices{
		core: newCore("devices", typesOf(domain.DeviceRegistered{}, domain.DeviceLinked{}, domain.DeviceUnlinked{})...),
		byID: map[uuid.UUID]*DeviceView{},
	}
}

// Apply folds one event; see Projection.
func (p *Devices) Apply(ev eventstore.RecordedEvent) error { return p.apply(ev, p.fold) }

// Reset empties the read model.
func (p *Devices) Reset() { p.reset(func() { p.byID = map[uuid.UUID]*DeviceView{} }) }

// Len is the number of devices.
func (p *Devices) Len() int { return rowsLen(&p.core, p.byID) }

// Get returns the device, or ErrNotFound.
func (p *Devices) Get(id uuid.UUID) (DeviceView, error) {
	return rowGet(&p.core, p.byID, id, (*DeviceView).clone)
}

// All returns every device, ordered by ID.
func (p *Devices) All() []DeviceView { return rowsAll(&p.core, p.byID, (*DeviceView).clone) }

func (p *Devices) fold(_ eventstore.RecordedEvent, e domain.Event) {
	switch e := e.(type) {
	case domain.DeviceRegistered:
		p.byID[e.DeviceID] = &DeviceView{ID: e.DeviceID, Name: e.Name, Platform: e.Platform, PublicKey: slices.Clone(e.PublicKey), RegisteredAt: e.At}
	case domain.DeviceLinked:
		if v := p.byID[e.DeviceID]; v != nil && !slices.Contains(v.Accounts, e.AccountID) {
			v.Accounts = append(slices.Clone(v.Accounts), e.AccountID)
		}
	case domain.DeviceUnlinked:
		if v := p.byID[e.DeviceID]; v != nil {
			v.Accounts = slices.DeleteFunc(slices.Clone(v.Accounts), func(id uuid.UUID) bool { return id == e.AccountID })
		}
	}
}
