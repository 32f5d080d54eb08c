package projections

import (
	"crypto/sha256"
	"errors"

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
}

// NewSignOuts returns an empty sign-out read model in memory.
func NewSignOuts() *SignOuts { return newSignOuts(NewMemoryStore()) }

func newSignOuts(store Store) *SignOuts {
	p := &SignOuts{core: newCore("signouts", store, []string{"signouts"}, typesOf(domain.SignedOut{})...)}
	p.core.fold = foldSignOut
	return p
}

// Apply folds one event; see Projection.
func (p *SignOuts) Apply(ev eventstore.RecordedEvent) error { return applyOne(p, ev) }

// SignedOut reports whether the session with this ID was signed out. A store that fails
// answers true: a session is refused rather than let through unchecked.
func (p *SignOuts) SignedOut(sessionID [16]byte) bool {
	d := sha256.Sum256(sessionID[:])
	_, err := p.store.Get(bg(), "signouts", d[:])
	return !errors.Is(err, ErrNotFound)
}

func foldSignOut(b *batch, _ eventstore.RecordedEvent, e domain.Event) error {
	s, ok := e.(domain.SignedOut)
	if !ok || len(s.SessionDigest) != sha256.Size {
		return nil
	}
	until := s.Until.UnixNano()
	b.put("signouts", s.SessionDigest, "", until, &until)
	n, err := b.counter("signouts.folded")
	if err != nil || n%sweepEvery != 0 {
		return err
	}
	return b.sweep("signouts", s.At.UnixNano()+1) // a session expired at or before the event
}
