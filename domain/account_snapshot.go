package domain

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// AccountSnapshotSchema is the schema of the encoding MarshalSnapshot writes. It changes
// whenever the Account's state changes shape; a snapshot of another schema is not read
// (UnmarshalAccountSnapshot refuses it), and the account is folded from its stream instead.
const AccountSnapshotSchema = 2

// Fold returns the account with events folded after the ones a was folded from, as
// LoadAccount of both lists would give. a itself is left as it was, so that a folded account
// can be shared (the stream cache keeps one per account) while commands fold onto it.
func (a *Account) Fold(events ...Event) (*Account, error) {
	next := a.clone()
	for _, e := range events {
		if err := next.apply(e); err != nil {
			return nil, err
		}
	}
	return next, nil
}

// clone returns a copy of a that shares nothing apply changes in place: the slices apply
// appends to, deletes from or writes into are copied; the byte slices of keys, sealed secrets
// and hashes are never written and are shared.
func (a *Account) clone() *Account {
	c := *a
	c.devices = slices.Clone(a.devices)
	c.apps = slices.Clone(a.apps)
	c.backup = a.backup.clone()
	c.bypass = a.bypass.clone()
	c.failures = slices.Clone(a.failures)
	c.signInFailures = slices.Clone(a.signInFailures)
	c.sourceLocks = slices.Clone(a.sourceLocks)
	c.enrollments = slices.Clone(a.enrollments)
	c.notices = slices.Clone(a.notices)
	return &c
}

func (s *backupSet) clone() *backupSet {
	if s == nil {
		return nil
	}
	return &backupSet{id: s.id, hashes: s.hashes, used: slices.Clone(s.used)}
}

// accountSnapshot is the Account's state as MarshalSnapshot encodes it (schema
// AccountSnapshotSchema). It holds what the events hold: the password's argon2id hash, sealed
// TOTP secrets and keyed hashes of codes, never a secret in the clear.
type accountSnapshot struct {
	ID             uuid.UUID           `json:"id"`
	Version        int                 `json:"version"`
	Email          Email               `json:"email,omitzero"`
	PasswordHash   string              `json:"password_hash,omitempty"`
	MFA            bool                `json:"mfa,omitempty"`
	Devices        []snapDevice        `json:"devices,omitempty"`
	Apps           []snapApp           `json:"apps,omitempty"`
	Backup         *snapCodes          `json:"backup,omitempty"`
	Failures       []time.Time         `json:"failures,omitempty"`
	LockedUntil    time.Time           `json:"locked_until,omitzero"`
	SignInFailures []snapSourceFailure `json:"signin_failures,omitempty"`
	SourceLocks    []snapSourceLock    `json:"source_locks,omitempty"`
	MutedUntil     time.Time           `json:"muted_until,omitzero"`
	Pending        uuid.UUID           `json:"pending,omitzero"`
	PendingUntil   time.Time           `json:"pending_until,omitzero"`
	Enrollments    []EnrollmentTokenID `json:"enrollments,omitempty"`
	Integration    IntegrationKey      `json:"integration,omitzero"`
	Username       string              `json:"username,omitempty"`
	Bypass         *snapCodes          `json:"bypass,omitempty"`
	BypassUntil    time.Time           `json:"bypass_until,omitzero"`
	// The help desk's marks (schema 2).
	Disabled     bool         `json:"disabled,omitempty"`
	ResetPending bool         `json:"reset_pending,omitempty"`
	EnrollBy     time.Time    `json:"enroll_by,omitzero"`
	SessionsFrom time.Time    `json:"sessions_from,omitzero"`
	Notices      []snapNotice `json:"notices,omitempty"`
	// Erasure (erasure.go).
	Erased bool `json:"erased,omitempty"`
}

type snapNotice struct {
	Action string    `json:"action"`
	At     time.Time `json:"at"`
	Until  time.Time `json:"until,omitzero"`
}

type snapDevice struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	PublicKey []byte    `json:"public_key"`
	Sealed    []byte    `json:"sealed"`
	LastStep  uint64    `json:"last_step"`
}

type snapApp struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Sealed    []byte    `json:"sealed"`
	Confirmed bool      `json:"confirmed"`
	LastStep  uint64    `json:"last_step"`
}

type snapCodes struct {
	ID     uuid.UUID `json:"id"`
	Hashes []string  `json:"hashes"`
	Used   []bool    `json:"used"`
}

type snapSourceFailure struct {
	Source SignInSource `json:"source"`
	At     time.Time    `json:"at"`
}

type snapSourceLock struct {
	Source SignInSource `json:"source"`
	At     time.Time    `json:"at"`
	Until  time.Time    `json:"until"`
}

func (s *backupSet) snapshot() *snapCodes {
	if s == nil {
		return nil
	}
	return &snapCodes{ID: s.id, Hashes: s.hashes, Used: s.used}
}

func (s *snapCodes) restore() (*backupSet, error) {
	if s == nil {
		return nil, nil
	}
	if len(s.Used) != len(s.Hashes) {
		return nil, fmt.Errorf("%d hashes and %d used flags", len(s.Hashes), len(s.Used))
	}
	return &backupSet{id: s.ID, hashes: s.Hashes, used: s.Used}, nil
}

// MarshalSnapshot encodes the account's state (schema AccountSnapshotSchema), for
// UnmarshalAccountSnapshot to restore without folding the events again.
func (a *Account) MarshalSnapshot() ([]byte, error) {
	s := accountSnapshot{
		ID: a.id, Version: a.version, Email: a.email, PasswordHash: a.passwordHash, MFA: a.mfa,
		Backup: a.backup.snapshot(), Failures: a.failures, LockedUntil: a.lockedUntil,
		MutedUntil: a.mutedUntil, Pending: a.pending, PendingUntil: a.pendingUntil,
		Enrollments: a.enrollments, Integration: a.integration, Username: a.username,
		Bypass: a.bypass.snapshot(), BypassUntil: a.bypassUntil,
		Disabled: a.disabled, ResetPending: a.resetPending, EnrollBy: a.enrollBy, SessionsFrom: a.sessionsFrom,
		Erased: a.erased,
	}
	for _, n := range a.notices {
		s.Notices = append(s.Notices, snapNotice{Action: n.Action.slug, At: n.At, Until: n.Until})
	}
	for _, d := range a.devices {
		s.Devices = append(s.Devices, snapDevice{ID: d.id, Name: d.name, PublicKey: d.publicKey, Sealed: d.sealed, LastStep: d.lastStep})
	}
	for _, app := range a.apps {
		s.Apps = append(s.Apps, snapApp{ID: app.id, Name: app.name, Sealed: app.sealed, Confirmed: app.confirmed, LastStep: app.lastStep})
	}
	for _, f := range a.signInFailures {
		s.SignInFailures = append(s.SignInFailures, snapSourceFailure{Source: f.source, At: f.at})
	}
	for _, l := range a.sourceLocks {
		s.SourceLocks = append(s.SourceLocks, snapSourceLock{Source: l.source, At: l.at, Until: l.until})
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("account snapshot: %w", err)
	}
	return b, nil
}

// UnmarshalAccountSnapshot restores an account that MarshalSnapshot encoded with schema
// AccountSnapshotSchema; schema names the encoding of data. This is loading from storage,
// not a constructor: the state is taken as the fold left it. A snapshot of another schema, or
// one that does not decode, is ErrMalformedEvent: the caller folds the stream instead.
func UnmarshalAccountSnapshot(schema int, data []byte) (*Account, error) {
	if schema != AccountSnapshotSchema {
		return nil, fmt.Errorf("account snapshot: %w: schema %d, this version reads %d", ErrMalformedEvent, schema, AccountSnapshotSchema)
	}
	var s accountSnapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("account snapshot: %w: %v", ErrMalformedEvent, err)
	}
	a := &Account{
		id: s.ID, version: s.Version, email: s.Email, passwordHash: s.PasswordHash, mfa: s.MFA,
		failures: s.Failures, lockedUntil: s.LockedUntil, mutedUntil: s.MutedUntil,
		pending: s.Pending, pendingUntil: s.PendingUntil, enrollments: s.Enrollments,
		integration: s.Integration, username: s.Username, bypassUntil: s.BypassUntil,
		disabled: s.Disabled, resetPending: s.ResetPending, enrollBy: s.EnrollBy, sessionsFrom: s.SessionsFrom,
		erased: s.Erased,
	}
	for _, n := range s.Notices {
		action, ok := helpDeskActionOf(n.Action)
		if !ok {
			return nil, fmt.Errorf("account snapshot: %w: notice action %q", ErrMalformedEvent, n.Action)
		}
		a.notices = append(a.notices, Notice{Action: action, At: n.At, Until: n.Until})
	}
	var err error
	if a.backup, err = s.Backup.restore(); err != nil {
		return nil, fmt.Errorf("account snapshot: %w: backup codes: %v", ErrMalformedEvent, err)
	}
	if a.bypass, err = s.Bypass.restore(); err != nil {
		return nil, fmt.Errorf("account snapshot: %w: bypass codes: %v", ErrMalformedEvent, err)
	}
	for _, d := range s.Devices {
		a.devices = append(a.devices, linkedDevice{id: d.ID, name: d.Name, publicKey: d.PublicKey, sealed: d.Sealed, lastStep: d.LastStep})
	}
	for _, app := range s.Apps {
		a.apps = append(a.apps, totpApp{id: app.ID, name: app.Name, sealed: app.Sealed, confirmed: app.Confirmed, lastStep: app.LastStep})
	}
	for _, f := range s.SignInFailures {
		a.signInFailures = append(a.signInFailures, sourceFailure{source: f.Source, at: f.At})
	}
	for _, l := range s.SourceLocks {
		a.sourceLocks = append(a.sourceLocks, sourceLock{source: l.Source, at: l.At, until: l.Until})
	}
	return a, nil
}

// SizeHint estimates the memory the account's state holds, in bytes, for a cache bounded in
// bytes. It grows with the devices, apps, codes, failures and locks the account keeps, each
// of which is bounded, not with the length of its stream.
func (a *Account) SizeHint() int {
	n := 512 + len(a.passwordHash) + len(a.username) + 16*len(a.enrollments) + 24*len(a.failures) + 64*len(a.notices)
	for _, f := range a.signInFailures {
		n += 40 + len(f.source)
	}
	for _, l := range a.sourceLocks {
		n += 64 + len(l.source)
	}
	for _, d := range a.devices {
		n += 96 + len(d.name) + len(d.publicKey) + len(d.sealed)
	}
	for _, app := range a.apps {
		n += 80 + len(app.name) + len(app.sealed)
	}
	for _, s := range []*backupSet{a.backup, a.bypass} {
		if s != nil {
			n += 64 + len(s.used)
			for _, h := range s.hashes {
				n += 16 + len(h)
			}
		}
	}
	return n
}
