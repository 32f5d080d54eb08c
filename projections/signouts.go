package projections

import (
	"crypto/sha256"
	"time"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// SignOuts is the read model of the sessions signed out before they expired, named "signouts".
// Every node folds it from the log, so a session signed out on one node is refused by all of
// them, and still after a restart. A sign-out is kept until the session would have expired;
// expired ones are swept as the log goes by (by the time of its events, so that a rebuild holds
// the same).
type SignOuts struct {
	core
	until  map[[sha256.Size]byte]time.Time
	folded int // sign-outs folded since the last sweep
}

// NewSignOuts returns an empty sign-out read model.
func NewSignOuts() *SignOuts {
	return &SignOuts{core: newCore("signouts", typesOf(domain.SignedOut{})...), until: map[[sha256.Size]byte]time.Time{}}
}

// Apply folds one event; see Projection.
func (p *SignOuts) Apply(ev eventstore.RecordedEvent) error { return p.apply(ev, p.fold) }

// Reset empties the read model.
func (p *SignOuts) Reset() {
	p.reset(func() { p.until, p.folded = map[[sha256.Size]byte]time.Time{}, 0 })
}

// Len is the number of sign-outs held.
func (p *SignOuts) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.until)
}

// SignedOut reports whether the session with this ID was signed out.
func (p *SignOuts) SignedOut(sessionID [16]byte) bool {
	d := sha256.Sum256(sessionID[:])
	p.mu.RLock()
	defer p.mu.RUnlock()
	_, ok := p.until[d]
	return ok
}

func (p *SignOuts) fold(_ eventstore.RecordedEvent, e domain.Event) {
	s, ok := e.(domain.SignedOut)
	if !ok || len(s.SessionDigest) != sha256.Size {
		return
	}
	p.until[[sha256.Size]byte(s.SessionDigest)] = s.Until
	if p.folded++; p.folded >= sweepEvery {
		p.folded = 0
		for d, until := range p.until {
			if !s.At.Before(until) {
				delete(p.until, d)
			}
		}
	}
}
