package domain

import (
	"fmt"

	"github.com/google/uuid"
)

// Outcome is how a challenge ended: the one vocabulary of outcomes that the read models, the
// login-result API, the push hub and the device client speak. Its slug (String) is stable:
// it is what APIs and the device socket send. The zero Outcome is no outcome: the challenge
// is still open.
type Outcome struct{ slug string }

// Outcomes of a challenge. Exactly one ends each challenge.
var (
	OutcomeApproved            = Outcome{"approved"}
	OutcomeDenied              = Outcome{"denied"}
	OutcomeFraudReported       = Outcome{"fraud_reported"}
	OutcomeExpired             = Outcome{"expired"}
	OutcomeCancelled           = Outcome{"cancelled"}
	OutcomeCompletedTOTP       = Outcome{"completed_totp"}
	OutcomeCompletedBackupCode = Outcome{"completed_backup_code"}
)

var outcomes = []Outcome{OutcomeApproved, OutcomeDenied, OutcomeFraudReported, OutcomeExpired,
	OutcomeCancelled, OutcomeCompletedTOTP, OutcomeCompletedBackupCode}

// Outcomes returns every outcome, in a fixed order.
func Outcomes() []Outcome { return append([]Outcome(nil), outcomes...) }

// String returns the outcome's stable slug, or "" for no outcome.
func (o Outcome) String() string { return o.slug }

// IsZero reports whether o is no outcome: the challenge is still open.
func (o Outcome) IsZero() bool { return o.slug == "" }

// Passed reports whether the sign-in may go on: approved on a device, or completed with a
// TOTP or a backup code.
func (o Outcome) Passed() bool {
	return o == OutcomeApproved || o == OutcomeCompletedTOTP || o == OutcomeCompletedBackupCode
}

// ParseOutcome returns the outcome whose slug is s.
func ParseOutcome(s string) (Outcome, error) {
	for _, o := range outcomes {
		if o.slug == s {
			return o, nil
		}
	}
	return Outcome{}, fmt.Errorf("unknown challenge outcome %q", s)
}

// MarshalText encodes the outcome's slug; no outcome is an error.
func (o Outcome) MarshalText() ([]byte, error) { return marshalEnum(o.slug, "challenge outcome") }

// UnmarshalText accepts only an outcome's slug.
func (o *Outcome) UnmarshalText(b []byte) error {
	return unmarshalEnum(b, outcomes, o, "challenge outcome")
}

// AccountEvent is an event that names the account it belongs to. Every registered event with
// an AccountID implements it (TestEventsNameTheirAccountAndChallenge), so a read model that
// needs only the account of an event asks for it instead of switching on the event's type.
type AccountEvent interface {
	Event
	// OfAccount returns the account the event belongs to.
	OfAccount() uuid.UUID
}

// ChallengeEvent is an event of a challenge's stream (every "challenge.*" type).
type ChallengeEvent interface {
	Event
	// OfChallenge returns the challenge the event belongs to.
	OfChallenge() uuid.UUID
}

// FinalEvent is the event that ends a challenge with its outcome.
type FinalEvent interface {
	ChallengeEvent
	// Outcome returns how the event ended the challenge.
	Outcome() Outcome
	// DecidedBy returns the device that answered (approved, denied or reported fraud), or
	// uuid.Nil when no device decided.
	DecidedBy() uuid.UUID
}

// The final events and their outcomes.
func (ChallengeApproved) Outcome() Outcome            { return OutcomeApproved }
func (ChallengeDenied) Outcome() Outcome              { return OutcomeDenied }
func (FraudReported) Outcome() Outcome                { return OutcomeFraudReported }
func (ChallengeExpired) Outcome() Outcome             { return OutcomeExpired }
func (ChallengeCancelled) Outcome() Outcome           { return OutcomeCancelled }
func (ChallengeCompletedTOTP) Outcome() Outcome       { return OutcomeCompletedTOTP }
func (ChallengeCompletedBackupCode) Outcome() Outcome { return OutcomeCompletedBackupCode }

func (e ChallengeApproved) DecidedBy() uuid.UUID          { return e.DeviceID }
func (e ChallengeDenied) DecidedBy() uuid.UUID            { return e.DeviceID }
func (e FraudReported) DecidedBy() uuid.UUID              { return e.DeviceID }
func (ChallengeExpired) DecidedBy() uuid.UUID             { return uuid.Nil }
func (ChallengeCancelled) DecidedBy() uuid.UUID           { return uuid.Nil }
func (ChallengeCompletedTOTP) DecidedBy() uuid.UUID       { return uuid.Nil }
func (ChallengeCompletedBackupCode) DecidedBy() uuid.UUID { return uuid.Nil }

// The events of a challenge's stream.
func (e ChallengeIssued) OfChallenge() uuid.UUID              { return e.ChallengeID }
func (e ChallengeDelivered) OfChallenge() uuid.UUID           { return e.ChallengeID }
func (e NumberMismatched) OfChallenge() uuid.UUID             { return e.ChallengeID }
func (e ChallengeApproved) OfChallenge() uuid.UUID            { return e.ChallengeID }
func (e ChallengeDenied) OfChallenge() uuid.UUID              { return e.ChallengeID }
func (e FraudReported) OfChallenge() uuid.UUID                { return e.ChallengeID }
func (e ChallengeExpired) OfChallenge() uuid.UUID             { return e.ChallengeID }
func (e ChallengeCancelled) OfChallenge() uuid.UUID           { return e.ChallengeID }
func (e ChallengeCompletedTOTP) OfChallenge() uuid.UUID       { return e.ChallengeID }
func (e ChallengeCompletedBackupCode) OfChallenge() uuid.UUID { return e.ChallengeID }
func (e ChallengeRedeemed) OfChallenge() uuid.UUID            { return e.ChallengeID }

// The events that name their account.
func (e AccountDisabled) OfAccount() uuid.UUID                { return e.AccountID }
func (e AccountEnabled) OfAccount() uuid.UUID                 { return e.AccountID }
func (e AccountErased) OfAccount() uuid.UUID                  { return e.AccountID }
func (e AccountRegistered) OfAccount() uuid.UUID              { return e.AccountID }
func (e AccountUnlocked) OfAccount() uuid.UUID                { return e.AccountID }
func (e BackupCodeCheckFailed) OfAccount() uuid.UUID          { return e.AccountID }
func (e BackupCodeUsed) OfAccount() uuid.UUID                 { return e.AccountID }
func (e BackupCodesIssued) OfAccount() uuid.UUID              { return e.AccountID }
func (e BypassCodesIssued) OfAccount() uuid.UUID              { return e.AccountID }
func (e ChallengeApproved) OfAccount() uuid.UUID              { return e.AccountID }
func (e ChallengeCancelled) OfAccount() uuid.UUID             { return e.AccountID }
func (e ChallengeCompletedBackupCode) OfAccount() uuid.UUID   { return e.AccountID }
func (e ChallengeCompletedTOTP) OfAccount() uuid.UUID         { return e.AccountID }
func (e ChallengeDenied) OfAccount() uuid.UUID                { return e.AccountID }
func (e ChallengeExpired) OfAccount() uuid.UUID               { return e.AccountID }
func (e ChallengeFailed) OfAccount() uuid.UUID                { return e.AccountID }
func (e ChallengeIssued) OfAccount() uuid.UUID                { return e.AccountID }
func (e ChallengeRedeemed) OfAccount() uuid.UUID              { return e.AccountID }
func (e DeviceLinked) OfAccount() uuid.UUID                   { return e.AccountID }
func (e DeviceRenamed) OfAccount() uuid.UUID                  { return e.AccountID }
func (e DeviceUnlinked) OfAccount() uuid.UUID                 { return e.AccountID }
func (e EmailClaimed) OfAccount() uuid.UUID                   { return e.AccountID }
func (e EnrollmentCompleted) OfAccount() uuid.UUID            { return e.AccountID }
func (e EnrollmentExpired) OfAccount() uuid.UUID              { return e.AccountID }
func (e EnrollmentStarted) OfAccount() uuid.UUID              { return e.AccountID }
func (e FraudReported) OfAccount() uuid.UUID                  { return e.AccountID }
func (e HelpDeskNoticesSeen) OfAccount() uuid.UUID            { return e.AccountID }
func (e IntegrationUserCreated) OfAccount() uuid.UUID         { return e.AccountID }
func (e MFADisabled) OfAccount() uuid.UUID                    { return e.AccountID }
func (e MFAEnabled) OfAccount() uuid.UUID                     { return e.AccountID }
func (e MFALocked) OfAccount() uuid.UUID                      { return e.AccountID }
func (e NumberMismatched) OfAccount() uuid.UUID               { return e.AccountID }
func (e OIDCAuthorizationAuthenticated) OfAccount() uuid.UUID { return e.AccountID }
func (e OIDCConsentGranted) OfAccount() uuid.UUID             { return e.AccountID }
func (e PasswordChanged) OfAccount() uuid.UUID                { return e.AccountID }
func (e PushMuted) OfAccount() uuid.UUID                      { return e.AccountID }
func (e PushResumed) OfAccount() uuid.UUID                    { return e.AccountID }
func (e SecondFactorReset) OfAccount() uuid.UUID              { return e.AccountID }
func (e SessionSeen) OfAccount() uuid.UUID                    { return e.AccountID }
func (e SessionStarted) OfAccount() uuid.UUID                 { return e.AccountID }
func (e SessionsEnded) OfAccount() uuid.UUID                  { return e.AccountID }
func (e SignInChallenged) OfAccount() uuid.UUID               { return e.AccountID }
func (e SignInFailed) OfAccount() uuid.UUID                   { return e.AccountID }
func (e SignInLocked) OfAccount() uuid.UUID                   { return e.AccountID }
func (e SignedOut) OfAccount() uuid.UUID                      { return e.AccountID }
func (e TOTPAppAdded) OfAccount() uuid.UUID                   { return e.AccountID }
func (e TOTPAppConfirmed) OfAccount() uuid.UUID               { return e.AccountID }
func (e TOTPAppRemoved) OfAccount() uuid.UUID                 { return e.AccountID }
func (e TOTPAppRenamed) OfAccount() uuid.UUID                 { return e.AccountID }
func (e TOTPCheckFailed) OfAccount() uuid.UUID                { return e.AccountID }
func (e TOTPCodeUsed) OfAccount() uuid.UUID                   { return e.AccountID }

// ChallengeState is where a challenge stands, as read models and APIs tell it: pending, or
// ended with an Outcome, whose slug it then shares. The zero value is not a state.
type ChallengeState struct{ slug string }

// StatePending is the state of a challenge that waits for its outcome.
var StatePending = ChallengeState{"pending"}

// StateOf is the state of a challenge that ended with o; the zero Outcome gives
// StatePending.
func StateOf(o Outcome) ChallengeState {
	if o.IsZero() {
		return StatePending
	}
	return ChallengeState(o)
}

// States returns every state: pending, then the outcomes in the order of Outcomes.
func States() []ChallengeState {
	out := []ChallengeState{StatePending}
	for _, o := range outcomes {
		out = append(out, StateOf(o))
	}
	return out
}

// ParseChallengeState returns the state whose slug is s.
func ParseChallengeState(s string) (ChallengeState, error) {
	if s == StatePending.slug {
		return StatePending, nil
	}
	o, err := ParseOutcome(s)
	if err != nil {
		return ChallengeState{}, fmt.Errorf("unknown challenge state %q", s)
	}
	return StateOf(o), nil
}

// Outcome returns the outcome the state is, or the zero Outcome while pending.
func (s ChallengeState) Outcome() Outcome {
	if s == StatePending {
		return Outcome{}
	}
	return Outcome(s)
}

// String returns the state's stable slug, for APIs.
func (s ChallengeState) String() string { return s.slug }

// Final reports whether the state is an outcome.
func (s ChallengeState) Final() bool { return s.slug != "" && s != StatePending }

// Passed reports whether the sign-in may go on: approved or completed with a code.
func (s ChallengeState) Passed() bool { return s.Outcome().Passed() }

// MarshalText makes the state its slug in rows and in JSON.
func (s ChallengeState) MarshalText() ([]byte, error) { return []byte(s.slug), nil }

// UnmarshalText reads a slug written by MarshalText.
func (s *ChallengeState) UnmarshalText(b []byte) error {
	st, err := ParseChallengeState(string(b))
	if err != nil {
		return err
	}
	*s = st
	return nil
}
