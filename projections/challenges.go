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

// Challenges is the challenge status read model, named "challenges".
type Challenges struct {
	core
	byID map[uuid.UUID]*ChallengeStatus
}

// NewChallenges returns an empty challenge status read model.
func NewChallenges() *Challenges {
	types := typesOf(append([]domain.Event{domain.ChallengeIssued{}, domain.ChallengeDelivered{}, domain.NumberMismatched{}}, finalEvents...)...)
	return &Challenges{core: newCore("challenges", types...), byID: map[uuid.UUID]*ChallengeStatus{}}
}

// Apply folds one event; see Projection.
func (p *Challenges) Apply(ev eventstore.RecordedEvent) error { return p.apply(ev, p.fold) }

// Reset empties the read model.
func (p *Challenges) Reset() { p.reset(func() { p.byID = map[uuid.UUID]*ChallengeStatus{} }) }

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
