package projections

import (
	"slices"
	"time"

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

func (v AccountView) clone() AccountView {
	v.Devices = slices.Clone(v.Devices)
	v.TOTPApps = slices.Clone(v.TOTPApps)
	return v
}

// Accounts is the account read model, named "accounts".
type Accounts struct {
	core
	byID   map[uuid.UUID]*accountState
	byMail map[string]uuid.UUID
}

type accountState struct {
	view      AccountView
	backupSet uuid.UUID
	used      map[int]bool
}

// NewAccounts returns an empty account read model.
func NewAccounts() *Accounts {
	return &Accounts{
		core: newCore("accounts", typesOf(
			domain.AccountRegistered{}, domain.MFAEnabled{}, domain.MFADisabled{}, domain.MFALocked{},
			domain.PushMuted{}, domain.SignInChallenged{}, domain.DeviceLinked{}, domain.DeviceUnlinked{},
			domain.TOTPAppAdded{}, domain.TOTPAppConfirmed{}, domain.BackupCodesIssued{}, domain.BackupCodeUsed{},
			domain.AccountUnlocked{},
		)...),
		byID: map[uuid.UUID]*accountState{}, byMail: map[string]uuid.UUID{},
	}
}

// Apply folds one event; see Projection.
func (p *Accounts) Apply(ev eventstore.RecordedEvent) error { return p.apply(ev, p.fold) }

// Reset empties the read model.
func (p *Accounts) Reset() {
	p.reset(func() { p.byID, p.byMail = map[uuid.UUID]*accountState{}, map[string]uuid.UUID{} })
}

// Len is the number of accounts.
func (p *Accounts) Len() int { return rowsLen(&p.core, p.byID) }

// Get returns the account, or ErrNotFound.
func (p *Accounts) Get(id uuid.UUID) (AccountView, error) {
	return rowGet(&p.core, p.byID, id, func(s *accountState) AccountView { return s.view.clone() })
}

// ByEmail returns the account registered with a normalized email, or ErrNotFound.
func (p *Accounts) ByEmail(email domain.Email) (AccountView, error) {
	p.mu.RLock()
	id, ok := p.byMail[email.String()]
	p.mu.RUnlock()
	if !ok {
		return AccountView{}, ErrNotFound
	}
	return p.Get(id)
}

// All returns every account, ordered by ID.
func (p *Accounts) All() []AccountView {
	return rowsAll(&p.core, p.byID, func(s *accountState) AccountView { return s.view.clone() })
}

func (p *Accounts) fold(_ eventstore.RecordedEvent, e domain.Event) {
	if r, ok := e.(domain.AccountRegistered); ok {
		p.byID[r.AccountID] = &accountState{view: AccountView{ID: r.AccountID, Email: r.Email.String(), RegisteredAt: r.At}}
		p.byMail[r.Email.String()] = r.AccountID
	}
	s := p.byID[accountOf(e)]
	if s == nil {
		return // an event of an account whose registration this model never saw
	}
	v := &s.view
	switch e := e.(type) {
	case domain.MFAEnabled:
		v.MFAEnabled = true
	case domain.MFADisabled:
		v.MFAEnabled, v.TOTPApps, v.BackupCodesLeft = false, nil, 0
		s.backupSet, s.used = uuid.Nil, nil
	case domain.MFALocked:
		v.LockedUntil = e.Until
	case domain.AccountUnlocked:
		v.LockedUntil = time.Time{}
	case domain.PushMuted:
		v.MutedUntil = e.Until
	case domain.SignInChallenged:
		v.PendingChallenge, v.PendingUntil = e.ChallengeID, e.ExpiresAt
	case domain.DeviceLinked:
		v.Devices = append(slices.Clone(v.Devices), AccountDevice{DeviceID: e.DeviceID, Name: e.Name, Method: e.Method.String(), LinkedAt: e.At})
	case domain.DeviceUnlinked:
		v.Devices = slices.DeleteFunc(slices.Clone(v.Devices), func(d AccountDevice) bool { return d.DeviceID == e.DeviceID })
	case domain.TOTPAppAdded:
		v.TOTPApps = append(slices.Clone(v.TOTPApps), AccountTOTPApp{AppID: e.AppID, Name: e.Name, AddedAt: e.At})
	case domain.TOTPAppConfirmed:
		v.TOTPApps = slices.Clone(v.TOTPApps)
		for i := range v.TOTPApps {
			if v.TOTPApps[i].AppID == e.AppID {
				v.TOTPApps[i].Confirmed = true
			}
		}
	case domain.BackupCodesIssued:
		s.backupSet, s.used, v.BackupCodesLeft = e.SetID, map[int]bool{}, len(e.Hashes)
	case domain.BackupCodeUsed:
		if e.SetID == s.backupSet && !s.used[e.Index] {
			s.used[e.Index] = true
			v.BackupCodesLeft--
		}
	}
}

// accountOf returns the account ID every account-stream event carries.
func accountOf(e domain.Event) uuid.UUID {
	switch e := e.(type) {
	case domain.AccountRegistered:
		return e.AccountID
	case domain.MFAEnabled:
		return e.AccountID
	case domain.MFADisabled:
		return e.AccountID
	case domain.MFALocked:
		return e.AccountID
	case domain.PushMuted:
		return e.AccountID
	case domain.SignInChallenged:
		return e.AccountID
	case domain.DeviceLinked:
		return e.AccountID
	case domain.DeviceUnlinked:
		return e.AccountID
	case domain.TOTPAppAdded:
		return e.AccountID
	case domain.TOTPAppConfirmed:
		return e.AccountID
	case domain.BackupCodesIssued:
		return e.AccountID
	case domain.BackupCodeUsed:
		return e.AccountID
	case domain.AccountUnlocked:
		return e.AccountID
	}
	return uuid.Nil
}
