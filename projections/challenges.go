package projections

import (
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// ChallengeState is where a challenge stands. The zero value is not a state.
type ChallengeState struct{ slug string }

// Challenge states: pending, then exactly one final state.
var (
	StatePending       = ChallengeState{"pending"}
	StateApproved      = ChallengeState{"approved"}
	StateDenied        = ChallengeState{"denied"}
	StateFraudReported = ChallengeState{"fraud_reported"}
	StateExpired       = ChallengeState{"expired"}
	StateCancelled     = ChallengeState{"cancelled"}
	StateCompletedTOTP = ChallengeState{"completed_totp"}
	StateCompletedCode = ChallengeState{"completed_backup_code"}
)

// String returns the state's stable slug, for APIs.
func (s ChallengeState) String() string { return s.slug }

// Final reports whether the state is an outcome.
func (s ChallengeState) Final() bool { return s.slug != "" && s != StatePending }

// Passed reports whether the sign-in may go on: approved or completed with a code.
func (s ChallengeState) Passed() bool {
	return s == StateApproved || s == StateCompletedTOTP || s == StateCompletedCode
}

// finalState maps a challenge's final event to its state; ok is false for other events.
func finalState(e domain.Event) (ChallengeState, uuid.UUID, bool) {
	switch e := e.(type) {
	case domain.ChallengeApproved:
		return StateApproved, e.DeviceID, true
	case domain.ChallengeDenied:
		return StateDenied, e.DeviceID, true
	case domain.FraudReported:
		return StateFraudReported, e.DeviceID, true
	case domain.ChallengeExpired:
		return StateExpired, uuid.Nil, true
	case domain.ChallengeCancelled:
		return StateCancelled, uuid.Nil, true
	case domain.ChallengeCompletedTOTP:
		return StateCompletedTOTP, uuid.Nil, true
	case domain.ChallengeCompletedBackupCode:
		return StateCompletedCode, uuid.Nil, true
	}
	return ChallengeState{}, uuid.Nil, false
}

var finalEvents = []domain.Event{
	domain.ChallengeApproved{}, domain.ChallengeDenied{}, domain.FraudReported{}, domain.ChallengeExpired{},
	domain.ChallengeCancelled{}, domain.ChallengeCompletedTOTP{}, domain.ChallengeCompletedBackupCode{},
}

// ChallengeStatus is what the login page awaits. Number is for the login page only: never
// send it to a device.
type ChallengeStatus struct {
	ChallengeID uuid.UUID
	AccountID   uuid.UUID
	State       ChallengeState
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

func (s ChallengeStatus) clone() ChallengeStatus {
	s.Devices = slices.Clone(s.Devices)
	s.Delivered = slices.Clone(s.Delivered)
	return s
}

// Challenges is the challenge status read model, named "challenges". It keeps every challenge
// unless told to forget old ones (RetainFor).
type Challenges struct {
	core
	byID   map[uuid.UUID]*ChallengeStatus
	retain time.Duration // 0: keep every challenge
	issued int           // challenges issued since the last sweep
}

// RetainFor makes the model forget a challenge d after it was decided, or d after it expired
// if no final event came. It sweeps every 1,024 challenges issued, by the time of the event
// that triggers the sweep (so a rebuild forgets the same ones). A serving node needs a
// challenge only while a login page may still ask about it; without a bound the model grows
// with every sign-in for as long as the node runs. Call it before the first Apply.
func (p *Challenges) RetainFor(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retain = d
}

// NewChallenges returns an empty challenge status read model.
func NewChallenges() *Challenges {
	types := typesOf(append([]domain.Event{domain.ChallengeIssued{}, domain.ChallengeDelivered{}, domain.NumberMismatched{}}, finalEvents...)...)
	return &Challenges{core: newCore("challenges", types...), byID: map[uuid.UUID]*ChallengeStatus{}}
}

// Apply folds one event; see Projection.
func (p *Challenges) Apply(ev eventstore.RecordedEvent) error { return p.apply(ev, p.fold) }

// Reset empties the read model.
func (p *Challenges) Reset() {
	p.reset(func() { p.byID, p.issued = map[uuid.UUID]*ChallengeStatus{}, 0 })
}

// Len is the number of challenges.
func (p *Challenges) Len() int { return rowsLen(&p.core, p.byID) }

// Get returns the challenge's status, or ErrNotFound.
func (p *Challenges) Get(id uuid.UUID) (ChallengeStatus, error) {
	return rowGet(&p.core, p.byID, id, (*ChallengeStatus).clone)
}

// All returns every challenge, ordered by ID.
func (p *Challenges) All() []ChallengeStatus {
	return rowsAll(&p.core, p.byID, (*ChallengeStatus).clone)
}

func (p *Challenges) fold(ev eventstore.RecordedEvent, e domain.Event) {
	if is, ok := e.(domain.ChallengeIssued); ok {
		s := &ChallengeStatus{
			ChallengeID: is.ChallengeID, AccountID: is.AccountID, State: StatePending, Number: is.Number,
			PushMuted: is.PushMuted, IssuedAt: is.At, ExpiresAt: is.ExpiresAt,
		}
		for _, d := range is.Devices {
			s.Devices = append(s.Devices, d.DeviceID)
		}
		p.byID[is.ChallengeID] = s
		if p.issued++; p.retain > 0 && p.issued >= sweepEvery {
			p.issued = 0
			p.sweep(is.At)
		}
	}
	s := p.byID[challengeOf(e)]
	if s == nil {
		return
	}
	s.Position = ev.Position
	switch e := e.(type) {
	case domain.ChallengeDelivered:
		if !slices.Contains(s.Delivered, e.DeviceID) {
			s.Delivered = append(slices.Clone(s.Delivered), e.DeviceID)
		}
	case domain.NumberMismatched:
		s.Mismatches++
	default:
		if st, by, ok := finalState(e); ok && s.State == StatePending {
			s.State, s.DecidedBy, s.DecidedAt = st, by, e.OccurredAt()
		}
	}
}

// sweepEvery is how many rows a read model that forgets old ones adds between two sweeps
// (challenges issued, sessions signed out).
const sweepEvery = 1024

// sweep forgets the challenges decided more than the retention before now, and those never
// decided that expired that long before.
func (p *Challenges) sweep(now time.Time) {
	cutoff := now.Add(-p.retain)
	for id, s := range p.byID {
		end := s.ExpiresAt // a challenge never decided ends when it expires
		if s.State.Final() {
			end = s.DecidedAt
		}
		if end.Before(cutoff) {
			delete(p.byID, id)
		}
	}
}

// challengeOf returns the challenge ID every challenge-stream event carries.
func challengeOf(e domain.Event) uuid.UUID {
	switch e := e.(type) {
	case domain.ChallengeIssued:
		return e.ChallengeID
	case domain.ChallengeDelivered:
		return e.ChallengeID
	case domain.NumberMismatched:
		return e.ChallengeID
	case domain.ChallengeApproved:
		return e.ChallengeID
	case domain.ChallengeDenied:
		return e.ChallengeID
	case domain.FraudReported:
		return e.ChallengeID
	case domain.ChallengeExpired:
		return e.ChallengeID
	case domain.ChallengeCancelled:
		return e.ChallengeID
	case domain.ChallengeCompletedTOTP:
		return e.ChallengeID
	case domain.ChallengeCompletedBackupCode:
		return e.ChallengeID
	}
	return uuid.Nil
}
