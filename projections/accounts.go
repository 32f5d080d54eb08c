package projections

import (
	"fmt"
	"slices"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// AccountView is what the security page shows of an account. It holds no secret: no password
// hash, no sealed TOTP secret, no backup code hash.
type AccountView struct {
	ID         uuid.UUID
	Email      string
	MFAEnabled bool
	Devices    []AccountDevice
	TOTPApps   []AccountTOTPApp
	// BackupCodesLeft counts the unused codes of the current set.
	BackupCodesLeft int
	// LockedUntil and MutedUntil are zero or the end of the last lockout or push mute; they
	// are in the past once it is over.
	LockedUntil time.Time
	MutedUntil  time.Time
	// PendingChallenge is the account's latest challenge and PendingUntil its expiry; the
	// challenge may have been answered since (see Challenges).
	PendingChallenge uuid.UUID
	PendingUntil     time.Time
	RegisteredAt     time.Time
}

// AccountDevice is a device linked to an account.
type AccountDevice struct {
	DeviceID uuid.UUID
	Name     string
	Method   string // "computer" or "phone"
	LinkedAt time.Time
}

// AccountTOTPApp is a standard authenticator app of an account.
type AccountTOTPApp struct {
	AppID     uuid.UUID
	Name      string
	Confirmed bool
	AddedAt   time.Time
}

// Method names of Methods.
const (
	MethodPush        = "push"
	MethodTOTPApp     = "totp_app"
	MethodBackupCodes = "backup_codes"
)

// Methods lists the second factors the account can use now: MethodPush when a device is
// linked, MethodTOTPApp when an app is confirmed, MethodBackupCodes when codes are left.
func (v AccountView) Methods() []string {
	var m []string
	if len(v.Devices) > 0 {
		m = append(m, MethodPush)
	}
	if slices.ContainsFunc(v.TOTPApps, func(a AccountTOTPApp) bool { return a.Confirmed }) {
		m = append(m, MethodTOTPApp)
	}
	if v.BackupCodesLeft > 0 {
		m = append(m, MethodBackupCodes)
	}
	return m
}

// Accounts is the account read model, named "accounts": a row per account, found by ID or by
// email.
type Accounts struct {
	core
}

// accountRow is an account's row.
type accountRow struct {
	View      AccountView
	BackupSet uuid.UUID    `json:",omitempty"`
	Used      map[int]bool `json:",omitempty"`
}

// NewAccounts returns an empty account read model in memory.
func NewAccounts() *Accounts { return newAccounts(NewMemoryStore()) }

func newAccounts(store Store) *Accounts {
	p := &Accounts{core: newCore("accounts", store, []string{"accounts"}, typesOf(
		domain.AccountRegistered{}, domain.MFAEnabled{}, domain.MFADisabled{}, domain.MFALocked{},
		domain.PushMuted{}, domain.SignInChallenged{}, domain.DeviceLinked{}, domain.DeviceUnlinked{},
		domain.TOTPAppAdded{}, domain.TOTPAppConfirmed{}, domain.BackupCodesIssued{}, domain.BackupCodeUsed{},
		domain.AccountUnlocked{},
		domain.DeviceRenamed{}, domain.TOTPAppRenamed{}, domain.TOTPAppRemoved{}, domain.PushResumed{},
		domain.AccountErased{},
	)...)}
	p.core.fold = foldAccount
	return p
}

// Apply folds one event; see Projection.
func (p *Accounts) Apply(ev eventstore.RecordedEvent) error { return applyOne(p, ev) }

// Get returns the account, or ErrNotFound.
func (p *Accounts) Get(id uuid.UUID) (AccountView, error) {
	r, err := getRow[accountRow](p.store, "accounts", id[:])
	return r.View, err
}

// ByEmail returns the account registered with a normalized email, or ErrNotFound.
func (p *Accounts) ByEmail(email domain.Email) (AccountView, error) {
	raw, err := p.store.Lookup(bg(), "accounts", email.String())
	if err != nil {
		return AccountView{}, err
	}
	var r accountRow
	if err := gojson.Unmarshal(raw, &r); err != nil {
		return AccountView{}, fmt.Errorf("projections: account of %s: %w", email, err)
	}
	return r.View, nil
}

// All returns every account, ordered by ID; nil if the store fails.
func (p *Accounts) All() []AccountView {
	rows, _ := allRows[accountRow](p.store, "accounts")
	out := make([]AccountView, len(rows))
	for i, r := range rows {
		out[i] = r.View
	}
	return out
}

func foldAccount(b *batch, _ eventstore.RecordedEvent, e domain.Event) error {
	ae, ok := e.(domain.AccountEvent)
	if !ok {
		return nil
	}
	id := ae.OfAccount()
	var s *accountRow
	if r, ok := e.(domain.AccountRegistered); ok {
		s = &accountRow{View: AccountView{ID: r.AccountID, Email: r.Email.String(), RegisteredAt: r.At}}
	} else {
		var err error
		if s, err = load[accountRow](b, "accounts", id[:]); err != nil || s == nil {
			return err // nil: an event of an account whose registration this model never saw
		}
	}
	v := &s.View
	switch e := e.(type) {
	case domain.AccountErased:
		// The row, and its email in the lookup index, go: nothing of the account stays here.
		b.del("accounts", id[:])
		return nil
	case domain.MFAEnabled:
		v.MFAEnabled = true
	case domain.MFADisabled:
		v.MFAEnabled, v.TOTPApps, v.BackupCodesLeft = false, nil, 0
		s.BackupSet, s.Used = uuid.Nil, nil
	case domain.MFALocked:
		v.LockedUntil = e.Until
	case domain.AccountUnlocked:
		v.LockedUntil = time.Time{}
	case domain.PushMuted:
		v.MutedUntil = e.Until
	case domain.PushResumed:
		v.MutedUntil = time.Time{}
	case domain.DeviceRenamed:
		v.Devices = slices.Clone(v.Devices)
		for i := range v.Devices {
			if v.Devices[i].DeviceID == e.DeviceID {
				v.Devices[i].Name = e.Name
			}
		}
	case domain.TOTPAppRenamed:
		v.TOTPApps = slices.Clone(v.TOTPApps)
		for i := range v.TOTPApps {
			if v.TOTPApps[i].AppID == e.AppID {
				v.TOTPApps[i].Name = e.Name
			}
		}
	case domain.TOTPAppRemoved:
		v.TOTPApps = slices.DeleteFunc(slices.Clone(v.TOTPApps), func(a AccountTOTPApp) bool { return a.AppID == e.AppID })
	case domain.SignInChallenged:
		v.PendingChallenge, v.PendingUntil = e.ChallengeID, e.ExpiresAt
	case domain.DeviceLinked:
		v.Devices = append(v.Devices, AccountDevice{DeviceID: e.DeviceID, Name: e.Name, Method: e.Method.String(), LinkedAt: e.At})
	case domain.DeviceUnlinked:
		v.Devices = slices.DeleteFunc(v.Devices, func(d AccountDevice) bool { return d.DeviceID == e.DeviceID })
	case domain.TOTPAppAdded:
		v.TOTPApps = append(v.TOTPApps, AccountTOTPApp{AppID: e.AppID, Name: e.Name, AddedAt: e.At})
	case domain.TOTPAppConfirmed:
		for i := range v.TOTPApps {
			if v.TOTPApps[i].AppID == e.AppID {
				v.TOTPApps[i].Confirmed = true
			}
		}
	case domain.BackupCodesIssued:
		s.BackupSet, s.Used, v.BackupCodesLeft = e.SetID, map[int]bool{}, len(e.Hashes)
	case domain.BackupCodeUsed:
		if e.SetID == s.BackupSet && !s.Used[e.Index] {
			if s.Used == nil {
				s.Used = map[int]bool{}
			}
			s.Used[e.Index] = true
			v.BackupCodesLeft--
		}
	}
	b.put("accounts", id[:], v.Email, 0, s)
	return nil
}
