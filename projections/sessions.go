package projections

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// SessionView is a signed-in session as the security page lists it. Digest is the SHA-256 of
// the session's ID: it names the session in the log and in the API; the ID stays in the
// cookie.
type SessionView struct {
	Digest    [sha256.Size]byte
	AccountID uuid.UUID
	StartedAt time.Time
	Expires   time.Time
	IP        string // where it signed in from
	UserAgent string
	LastSeen  time.Time // coarse: see domain.SessionSeenEvery
	LastIP    string
}

// Sessions is the read model of the sessions that have not expired, named "sessions": the
// ones each account can see and end, and the cut an account made when it ended all its other
// sessions at once (domain.SessionsEnded). It keeps a row per session in the table "sessions"
// (by digest) and a row per account in "sessionaccounts" (its cut and the digests of its
// sessions). Rows are swept once the session, or the last session a cut ended, has expired,
// by the time of the log's events, so the tables hold at most the sessions of the last
// session lifetime and a rebuild holds the same. A session the help desk ended (a reset of
// the second factor, a disabling) leaves the list too.
type Sessions struct {
	core
}

// sessionRow is a session's row: a SessionView whose digest is base64 in JSON, not 32 numbers.
type sessionRow struct {
	Digest    []byte
	AccountID uuid.UUID
	StartedAt time.Time
	Expires   time.Time
	IP        string `json:",omitempty"`
	UserAgent string `json:",omitempty"`
	LastSeen  time.Time
	LastIP    string `json:",omitempty"`
}

func (r *sessionRow) view() SessionView {
	v := SessionView{AccountID: r.AccountID, StartedAt: r.StartedAt, Expires: r.Expires, IP: r.IP, UserAgent: r.UserAgent, LastSeen: r.LastSeen, LastIP: r.LastIP}
	copy(v.Digest[:], r.Digest)
	return v
}

// sessionAccountRow is an account's row: its newest cut and its sessions.
type sessionAccountRow struct {
	Cut      *sessionCut  `json:",omitempty"`
	Sessions []sessionRef `json:",omitempty"`
}

// sessionCut is an account's domain.SessionsEnded.
type sessionCut struct {
	At    time.Time
	Kept  []byte `json:",omitempty"`
	Until time.Time
}

// sessionRef names a session of an account, with its expiry, so that expired ones are pruned
// without reading them.
type sessionRef struct {
	Digest  []byte // base64 in JSON, not 32 numbers
	Expires time.Time
}

// until is when the row may be swept: when its cut and its last session are over.
func (r *sessionAccountRow) until() int64 {
	var u time.Time
	if r.Cut != nil {
		u = r.Cut.Until
	}
	for _, s := range r.Sessions {
		if s.Expires.After(u) {
			u = s.Expires
		}
	}
	return u.UnixNano()
}

// NewSessions returns an empty session read model in memory.
func NewSessions() *Sessions { return newSessions(NewMemoryStore()) }

func newSessions(store Store) *Sessions {
	p := &Sessions{core: newCore("sessions", store, []string{"sessions", "sessionaccounts"}, typesOf(
		domain.SessionStarted{}, domain.SessionSeen{}, domain.SignedOut{}, domain.SessionsEnded{},
		domain.SecondFactorReset{}, domain.AccountDisabled{}, domain.AccountErased{},
	)...)}
	p.core.fold = foldSession
	return p
}

// Apply folds one event; see Projection.
func (p *Sessions) Apply(ev eventstore.RecordedEvent) error { return applyOne(p, ev) }

// ForAccount returns the account's sessions that have not expired at now, newest first; nil
// if the store fails.
func (p *Sessions) ForAccount(account uuid.UUID, now time.Time) []SessionView {
	acc, err := getRow[sessionAccountRow](p.store, "sessionaccounts", account[:])
	if err != nil {
		return nil
	}
	var out []SessionView
	for _, ref := range acc.Sessions {
		if !now.Before(ref.Expires) {
			continue
		}
		if len(ref.Digest) != sha256.Size {
			continue
		}
		if s, ok := p.Get([sha256.Size]byte(ref.Digest)); ok && now.Before(s.Expires) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b SessionView) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.Digest[:], b.Digest[:])
	})
	return out
}

// Get returns the session with this digest, if it is held.
func (p *Sessions) Get(digest [sha256.Size]byte) (SessionView, bool) {
	s, err := getRow[sessionRow](p.store, "sessions", digest[:])
	if err != nil {
		return SessionView{}, false
	}
	return s.view(), true
}

// All returns every session held, ordered by digest; nil if the store fails.
func (p *Sessions) All() []SessionView {
	rows, _ := allRows[sessionRow](p.store, "sessions")
	out := make([]SessionView, len(rows))
	for i := range rows {
		out[i] = rows[i].view()
	}
	return out
}

// Ended reports whether the account ended its other sessions after the session with this ID
// began at issued: the session is not the one kept and began at or before the cut. A session
// this model saw start after the cut is not ended, whatever issued says (issued comes from a
// cookie's expiry, which counts whole seconds). A store that fails answers true: a session is
// refused rather than let through unchecked.
func (p *Sessions) Ended(account uuid.UUID, sessionID [16]byte, issued time.Time) bool {
	d := sha256.Sum256(sessionID[:])
	acc, err := getRow[sessionAccountRow](p.store, "sessionaccounts", account[:])
	if errors.Is(err, ErrNotFound) {
		return false
	}
	if err != nil {
		return true
	}
	c := acc.Cut
	if c == nil || bytes.Equal(c.Kept, d[:]) {
		return false
	}
	s, err := getRow[sessionRow](p.store, "sessions", d[:])
	switch {
	case err == nil && s.StartedAt.After(c.At):
		return false
	case err != nil && !errors.Is(err, ErrNotFound):
		return true
	}
	return !issued.After(c.At)
}

func foldSession(b *batch, _ eventstore.RecordedEvent, e domain.Event) error {
	switch e := e.(type) {
	case domain.SessionStarted:
		if len(e.SessionDigest) != sha256.Size {
			return nil
		}
		d := [sha256.Size]byte(e.SessionDigest)
		b.put("sessions", d[:], "", e.Expires.UnixNano(), &sessionRow{
			Digest: d[:], AccountID: e.AccountID, StartedAt: e.At, Expires: e.Expires,
			IP: e.IP, UserAgent: e.UserAgent, LastSeen: e.At, LastIP: e.IP,
		})
		acc, err := loadSessionAccount(b, e.AccountID)
		if err != nil {
			return err
		}
		// The account's expired sessions leave its list as a new one joins it.
		acc.Sessions = slices.DeleteFunc(acc.Sessions, func(r sessionRef) bool { return !e.At.Before(r.Expires) || bytes.Equal(r.Digest, d[:]) })
		acc.Sessions = append(acc.Sessions, sessionRef{Digest: d[:], Expires: e.Expires})
		putSessionAccount(b, e.AccountID, acc)
		n, err := b.counter("sessions.folded")
		if err != nil || n%sweepEvery != 0 {
			return err
		}
		before := e.At.UnixNano() + 1 // over at or before the event
		if err := b.sweep("sessions", before); err != nil {
			return err
		}
		return b.sweep("sessionaccounts", before)
	case domain.SessionSeen:
		if len(e.SessionDigest) != sha256.Size {
			return nil
		}
		s, err := load[sessionRow](b, "sessions", e.SessionDigest)
		if err != nil || s == nil || !e.At.After(s.LastSeen) {
			return err
		}
		s.LastSeen, s.LastIP = e.At, e.IP
		b.put("sessions", e.SessionDigest, "", s.Expires.UnixNano(), s)
	case domain.SignedOut:
		if len(e.SessionDigest) != sha256.Size {
			return nil
		}
		return dropSessions(b, e.AccountID, func(r sessionRef) bool { return bytes.Equal(r.Digest, e.SessionDigest) })
	case domain.SessionsEnded:
		acc, err := loadSessionAccount(b, e.AccountID)
		if err != nil {
			return err
		}
		if acc.Cut == nil || e.At.After(acc.Cut.At) {
			acc.Cut = &sessionCut{At: e.At, Kept: slices.Clone(e.KeptDigest), Until: e.Until}
			putSessionAccount(b, e.AccountID, acc)
		}
		return dropSessions(b, e.AccountID, func(r sessionRef) bool { return !bytes.Equal(r.Digest, e.KeptDigest) }, e.At)
	case domain.SecondFactorReset:
		return dropDeskEnded(b, e.AccountID, e.At)
	case domain.AccountDisabled:
		return dropDeskEnded(b, e.AccountID, e.At)
	case domain.AccountErased:
		// Every session, with its browser and addresses, goes, and the account's row with them.
		if err := dropSessions(b, e.AccountID, func(sessionRef) bool { return true }); err != nil {
			return err
		}
		b.del("sessionaccounts", e.AccountID[:])
	}
	return nil
}

// dropDeskEnded drops the sessions of the account that the help desk ended at: those begun
// in the second of the act or before (app.AccountStanding.SessionValid refuses them).
func dropDeskEnded(b *batch, account uuid.UUID, at time.Time) error {
	return dropSessions(b, account, func(sessionRef) bool { return true }, at.Truncate(time.Second).Add(time.Second-1))
}

// loadSessionAccount returns the account's row, or a new one.
func loadSessionAccount(b *batch, account uuid.UUID) (*sessionAccountRow, error) {
	acc, err := load[sessionAccountRow](b, "sessionaccounts", account[:])
	if err != nil || acc != nil {
		return acc, err
	}
	return &sessionAccountRow{}, nil
}

// putSessionAccount writes the account's row, or deletes it when it holds nothing.
func putSessionAccount(b *batch, account uuid.UUID, acc *sessionAccountRow) {
	if acc.Cut == nil && len(acc.Sessions) == 0 {
		b.del("sessionaccounts", account[:])
		return
	}
	b.put("sessionaccounts", account[:], "", acc.until(), acc)
}

// dropSessions deletes the account's sessions that match, and, given a time, only those
// begun at or before it.
func dropSessions(b *batch, account uuid.UUID, match func(sessionRef) bool, begunBy ...time.Time) error {
	acc, err := load[sessionAccountRow](b, "sessionaccounts", account[:])
	if err != nil || acc == nil {
		return err
	}
	kept := acc.Sessions[:0:0]
	for _, r := range acc.Sessions {
		if match(r) {
			s, err := load[sessionRow](b, "sessions", r.Digest)
			if err != nil {
				return err
			}
			if s == nil || len(begunBy) == 0 || !s.StartedAt.After(begunBy[0]) {
				b.del("sessions", r.Digest)
				continue
			}
		}
		kept = append(kept, r)
	}
	if len(kept) == len(acc.Sessions) {
		return nil
	}
	acc.Sessions = kept
	putSessionAccount(b, account, acc)
	return nil
}
