package projections

import (
	"bytes"
	"crypto/sha256"
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
// sessions at once (domain.SessionsEnded). Like SignOuts it is kept in memory and forgets a
// session once it has expired, by the time of the log's events, so it holds at most the
// sessions of the last session lifetime and a rebuild holds the same.
type Sessions struct {
	core
	byDigest  map[[sha256.Size]byte]*SessionView
	byAccount map[uuid.UUID]map[[sha256.Size]byte]struct{}
	cuts      map[uuid.UUID]domain.SessionsEnded
	folded    int
}

// NewSessions returns an empty session read model.
func NewSessions() *Sessions {
	p := &Sessions{core: newCore("sessions", typesOf(
		domain.SessionStarted{}, domain.SessionSeen{}, domain.SignedOut{}, domain.SessionsEnded{},
	)...)}
	p.empty()
	return p
}

func (p *Sessions) empty() {
	p.byDigest, p.byAccount, p.cuts, p.folded = map[[sha256.Size]byte]*SessionView{}, map[uuid.UUID]map[[sha256.Size]byte]struct{}{}, map[uuid.UUID]domain.SessionsEnded{}, 0
}

// Apply folds one event; see Projection.
func (p *Sessions) Apply(ev eventstore.RecordedEvent) error { return p.apply(ev, p.fold) }

// Reset empties the read model.
func (p *Sessions) Reset() { p.reset(p.empty) }

// Len is the number of sessions held.
func (p *Sessions) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.byDigest)
}

// ForAccount returns the account's sessions that have not expired at now, newest first.
func (p *Sessions) ForAccount(account uuid.UUID, now time.Time) []SessionView {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out []SessionView
	for d := range p.byAccount[account] {
		if s := p.byDigest[d]; s != nil && now.Before(s.Expires) {
			out = append(out, *s)
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
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := p.byDigest[digest]
	if s == nil {
		return SessionView{}, false
	}
	return *s, true
}

// Ended reports whether the account ended its other sessions after the session with this ID
// began at issued: the session is not the one kept and began at or before the cut. A session
// this model saw start after the cut is not ended, whatever issued says (issued comes from a
// cookie's expiry, which counts whole seconds).
func (p *Sessions) Ended(account uuid.UUID, sessionID [16]byte, issued time.Time) bool {
	d := sha256.Sum256(sessionID[:])
	p.mu.RLock()
	defer p.mu.RUnlock()
	c, ok := p.cuts[account]
	if !ok || bytes.Equal(c.KeptDigest, d[:]) {
		return false
	}
	if s := p.byDigest[d]; s != nil && s.StartedAt.After(c.At) {
		return false
	}
	return !issued.After(c.At)
}

func (p *Sessions) fold(_ eventstore.RecordedEvent, e domain.Event) {
	switch e := e.(type) {
	case domain.SessionStarted:
		if len(e.SessionDigest) != sha256.Size {
			return
		}
		d := [sha256.Size]byte(e.SessionDigest)
		p.byDigest[d] = &SessionView{
			Digest: d, AccountID: e.AccountID, StartedAt: e.At, Expires: e.Expires,
			IP: e.IP, UserAgent: e.UserAgent, LastSeen: e.At, LastIP: e.IP,
		}
		if p.byAccount[e.AccountID] == nil {
			p.byAccount[e.AccountID] = map[[sha256.Size]byte]struct{}{}
		}
		p.byAccount[e.AccountID][d] = struct{}{}
		p.sweep(e.At)
	case domain.SessionSeen:
		if len(e.SessionDigest) == sha256.Size {
			if s := p.byDigest[[sha256.Size]byte(e.SessionDigest)]; s != nil && e.At.After(s.LastSeen) {
				s.LastSeen, s.LastIP = e.At, e.IP
			}
		}
	case domain.SignedOut:
		if len(e.SessionDigest) == sha256.Size {
			p.drop([sha256.Size]byte(e.SessionDigest))
		}
	case domain.SessionsEnded:
		if c, ok := p.cuts[e.AccountID]; !ok || e.At.After(c.At) {
			p.cuts[e.AccountID] = e
		}
		for d := range p.byAccount[e.AccountID] {
			if s := p.byDigest[d]; s != nil && !s.StartedAt.After(e.At) && !bytes.Equal(d[:], e.KeptDigest) {
				p.drop(d)
			}
		}
	}
}

func (p *Sessions) drop(d [sha256.Size]byte) {
	s := p.byDigest[d]
	if s == nil {
		return
	}
	delete(p.byDigest, d)
	if m := p.byAccount[s.AccountID]; m != nil {
		delete(m, d)
		if len(m) == 0 {
			delete(p.byAccount, s.AccountID)
		}
	}
}

// sweep forgets, every sweepEvery sessions started, the sessions and cuts over at now.
func (p *Sessions) sweep(now time.Time) {
	if p.folded++; p.folded < sweepEvery {
		return
	}
	p.folded = 0
	for d, s := range p.byDigest {
		if !now.Before(s.Expires) {
			p.drop(d)
		}
	}
	for a, c := range p.cuts {
		if !now.Before(c.Until) {
			delete(p.cuts, a)
		}
	}
}
