package projections

import (
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

var finalEvents = []domain.Event{
	domain.ChallengeApproved{}, domain.ChallengeDenied{}, domain.FraudReported{}, domain.ChallengeExpired{},
	domain.ChallengeCancelled{}, domain.ChallengeCompletedTOTP{}, domain.ChallengeCompletedBackupCode{},
}

// ChallengeStatus is what the login page awaits. Number is for the login page only: never
// send it to a device.
type ChallengeStatus struct {
	ChallengeID uuid.UUID
	AccountID   uuid.UUID
	State       domain.ChallengeState
	Number      domain.MatchNumber
	Devices     []uuid.UUID // the devices it was pushed to
	Delivered   []uuid.UUID // the devices that acknowledged it
	PushMuted   bool
	// Mismatches counts signed approvals with a wrong number.
	Mismatches int
	IssuedAt   time.Time
	ExpiresAt  time.Time
	DecidedAt  time.Time
	// DecidedBy is the device that approved, denied or reported fraud.
	DecidedBy uuid.UUID
	// Position is the position of the challenge's last event.
	Position eventstore.Position
}

// Challenges is the challenge status read model, named "challenges": a row per challenge. It
// keeps every challenge unless told to forget old ones (RetainFor).
type Challenges struct {
	core
	retain time.Duration // 0: keep every challenge
}

// RetainFor makes the model forget a challenge d after it was decided, or d after it expired
// if no final event came. It sweeps every 1,024 challenges issued, by the time of the event
// that triggers the sweep (so a rebuild forgets the same ones). A serving node needs a
// challenge only while a login page may still ask about it; without a bound the table grows
// with every sign-in. Call it before the first Apply.
func (p *Challenges) RetainFor(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retain = d
}

func (p *Challenges) retention() time.Duration {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.retain
}

// NewChallenges returns an empty challenge status read model in memory.
func NewChallenges() *Challenges { return newChallenges(NewMemoryStore()) }

func newChallenges(store Store) *Challenges {
	types := typesOf(append([]domain.Event{domain.ChallengeIssued{}, domain.ChallengeDelivered{}, domain.NumberMismatched{}}, finalEvents...)...)
	p := &Challenges{core: newCore("challenges", store, []string{"challenges"}, types...)}
	p.core.fold = foldChallenge
	return p
}

// Apply folds one event; see Projection.
func (p *Challenges) Apply(ev eventstore.RecordedEvent) error { return applyOne(p, ev) }

// Get returns the challenge's status, or ErrNotFound.
func (p *Challenges) Get(id uuid.UUID) (ChallengeStatus, error) {
	return getRow[ChallengeStatus](p.store, "challenges", id[:])
}

// All returns every challenge, ordered by ID; nil if the store fails.
func (p *Challenges) All() []ChallengeStatus {
	out, _ := allRows[ChallengeStatus](p.store, "challenges")
	return out
}

// end is when a challenge stops being of use: when it was decided, or when it expired.
func (s *ChallengeStatus) end() int64 {
	if s.State.Final() {
		return s.DecidedAt.UnixNano()
	}
	return s.ExpiresAt.UnixNano()
}

func foldChallenge(b *batch, ev eventstore.RecordedEvent, e domain.Event) error {
	ce, ok := e.(domain.ChallengeEvent)
	if !ok {
		return nil
	}
	id := ce.OfChallenge()
	var s *ChallengeStatus
	is, issued := e.(domain.ChallengeIssued)
	if issued {
		s = &ChallengeStatus{
			ChallengeID: is.ChallengeID, AccountID: is.AccountID, State: domain.StatePending, Number: is.Number,
			PushMuted: is.PushMuted, IssuedAt: is.At, ExpiresAt: is.ExpiresAt,
		}
		for _, d := range is.Devices {
			s.Devices = append(s.Devices, d.DeviceID)
		}
	} else {
		var err error
		if s, err = load[ChallengeStatus](b, "challenges", id[:]); err != nil || s == nil {
			return err
		}
	}
	s.Position = ev.Position
	switch e := e.(type) {
	case domain.ChallengeDelivered:
		if !slices.Contains(s.Delivered, e.DeviceID) {
			s.Delivered = append(s.Delivered, e.DeviceID)
		}
	case domain.NumberMismatched:
		s.Mismatches++
	default:
		if f, ok := e.(domain.FinalEvent); ok && s.State == domain.StatePending {
			s.State, s.DecidedBy, s.DecidedAt = domain.StateOf(f.Outcome()), f.DecidedBy(), e.OccurredAt()
		}
	}
	b.put("challenges", id[:], "", s.end(), s)
	if !issued || b.retain <= 0 {
		return nil
	}
	n, err := b.counter("challenges.issued")
	if err != nil || n%sweepEvery != 0 {
		return err
	}
	return b.sweep("challenges", is.At.Add(-b.retain).UnixNano())
}

// sweepEvery is how many rows a read model that forgets old ones adds between two sweeps
// (challenges issued, sessions signed out).
const sweepEvery = 1024
