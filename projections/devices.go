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

// Devices is the device read model, named "devices": a row per device.
type Devices struct {
	core
}

// NewDevices returns an empty device read model in memory.
func NewDevices() *Devices { return newDevices(NewMemoryStore()) }

func newDevices(store Store) *Devices {
	p := &Devices{core: newCore("devices", store, []string{"devices"}, typesOf(domain.DeviceRegistered{}, domain.DeviceLinked{}, domain.DeviceUnlinked{}, domain.AccountErased{})...)}
	p.core.fold = foldDevice
	return p
}

// Apply folds one event; see Projection.
func (p *Devices) Apply(ev eventstore.RecordedEvent) error { return applyOne(p, ev) }

// Get returns the device, or ErrNotFound.
func (p *Devices) Get(id uuid.UUID) (DeviceView, error) {
	return getRow[DeviceView](p.store, "devices", id[:])
}

// All returns every device, ordered by ID; nil if the store fails.
func (p *Devices) All() []DeviceView {
	out, _ := allRows[DeviceView](p.store, "devices")
	return out
}

func foldDevice(b *batch, _ eventstore.RecordedEvent, e domain.Event) error {
	switch e := e.(type) {
	case domain.DeviceRegistered:
		b.put("devices", e.DeviceID[:], "", 0, &DeviceView{ID: e.DeviceID, Name: e.Name, Platform: e.Platform, PublicKey: slices.Clone(e.PublicKey), RegisteredAt: e.At})
	case domain.DeviceLinked:
		v, err := load[DeviceView](b, "devices", e.DeviceID[:])
		if err != nil || v == nil || slices.Contains(v.Accounts, e.AccountID) {
			return err
		}
		v.Accounts = append(v.Accounts, e.AccountID)
		b.put("devices", e.DeviceID[:], "", 0, v)
	case domain.DeviceUnlinked:
		v, err := load[DeviceView](b, "devices", e.DeviceID[:])
		if err != nil || v == nil {
			return err
		}
		v.Accounts = slices.DeleteFunc(v.Accounts, func(id uuid.UUID) bool { return id == e.AccountID })
		b.put("devices", e.DeviceID[:], "", 0, v)
	case domain.AccountErased:
		// The erased account's devices lose the name and platform they registered with, sealed
		// under keys the erasure destroyed: a rebuild would not read them either.
		for _, d := range e.Devices {
			v, err := load[DeviceView](b, "devices", d[:])
			if err != nil {
				return err
			}
			if v != nil {
				v.Name, v.Platform = "", ""
				b.put("devices", d[:], "", 0, v)
			}
		}
	}
	return nil
}
