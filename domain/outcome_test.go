package domain_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// uuidField returns the value of e's field name when it is a uuid.UUID.
func uuidField(e domain.Event, name string) (uuid.UUID, bool) {
	f := reflect.ValueOf(e).FieldByName(name)
	if !f.IsValid() || f.Type() != reflect.TypeFor[uuid.UUID]() {
		return uuid.Nil, false
	}
	return f.Interface().(uuid.UUID), true
}

// TestEventsNameTheirAccountAndChallenge checks, over a sample of every registered type, that
// an event names its account (AccountEvent) exactly when it has an AccountID, that every event
// of a challenge's stream names its challenge (ChallengeEvent), and that the final events
// state each outcome once, with the device that decided.
func TestEventsNameTheirAccountAndChallenge(t *testing.T) {
	t.Parallel()
	seen := map[domain.Outcome]string{}
	for _, e := range samples {
		account, hasAccount := uuidField(e, "AccountID")
		ae, isAccountEvent := e.(domain.AccountEvent)
		if hasAccount != isAccountEvent {
			t.Errorf("%s: has an AccountID %v, is an AccountEvent %v", e.EventType(), hasAccount, isAccountEvent)
		} else if isAccountEvent && ae.OfAccount() != account {
			t.Errorf("%s: OfAccount %s, want its AccountID %s", e.EventType(), ae.OfAccount(), account)
		}
		ofChallenge := strings.HasPrefix(e.EventType(), "challenge.")
		ce, isChallengeEvent := e.(domain.ChallengeEvent)
		if ofChallenge != isChallengeEvent {
			t.Errorf("%s: of a challenge's stream %v, is a ChallengeEvent %v", e.EventType(), ofChallenge, isChallengeEvent)
		} else if challenge, _ := uuidField(e, "ChallengeID"); isChallengeEvent && (ce.OfChallenge() != challenge || challenge == uuid.Nil) {
			t.Errorf("%s: OfChallenge %s, want its ChallengeID %s", e.EventType(), ce.OfChallenge(), challenge)
		}
		fe, final := e.(domain.FinalEvent)
		if !final {
			continue
		}
		if prev, dup := seen[fe.Outcome()]; dup || fe.Outcome().IsZero() {
			t.Errorf("%s states outcome %q, already stated by %q", e.EventType(), fe.Outcome(), prev)
		}
		seen[fe.Outcome()] = e.EventType()
		device, _ := uuidField(e, "DeviceID")
		if fe.DecidedBy() != device {
			t.Errorf("%s: DecidedBy %s, want its DeviceID %s", e.EventType(), fe.DecidedBy(), device)
		}
	}
	if len(seen) != len(domain.Outcomes()) {
		t.Errorf("the final events state %d outcomes, want every one of %v", len(seen), domain.Outcomes())
	}
}

func TestOutcomeSlugsRoundTrip(t *testing.T) {
	t.Parallel()
	passed := map[domain.Outcome]bool{domain.OutcomeApproved: true, domain.OutcomeCompletedTOTP: true, domain.OutcomeCompletedBackupCode: true}
	for _, o := range domain.Outcomes() {
		got, err := domain.ParseOutcome(o.String())
		if err != nil || got != o {
			t.Errorf("ParseOutcome(%q) = %v, %v", o, got, err)
		}
		text, err := o.MarshalText()
		var back domain.Outcome
		if err != nil || back.UnmarshalText(text) != nil || back != o {
			t.Errorf("%q does not survive MarshalText/UnmarshalText: %q %v -> %q", o, text, err, back)
		}
		if o.Passed() != passed[o] {
			t.Errorf("%q.Passed() = %v", o, o.Passed())
		}
	}
	if _, err := domain.ParseOutcome("pending"); err == nil {
		t.Error("pending is not an outcome")
	}
	if _, err := (domain.Outcome{}).MarshalText(); err == nil {
		t.Error("no outcome marshalled")
	}
}

// TestChallengeStatesArePendingAndTheOutcomes checks that the states are pending and one per
// outcome, sharing its slug, and that each survives its text form.
func TestChallengeStatesArePendingAndTheOutcomes(t *testing.T) {
	t.Parallel()
	states := domain.States()
	if len(states) != len(domain.Outcomes())+1 || states[0] != domain.StatePending {
		t.Fatalf("states %v", states)
	}
	if domain.StatePending.Final() || domain.StatePending.Passed() || !domain.StatePending.Outcome().IsZero() || domain.StateOf(domain.Outcome{}) != domain.StatePending {
		t.Error("pending is not pending")
	}
	for i, o := range domain.Outcomes() {
		s := domain.StateOf(o)
		if s != states[i+1] || s.String() != o.String() || s.Outcome() != o || !s.Final() || s.Passed() != o.Passed() {
			t.Errorf("the state of %q is %q (final %v, passed %v)", o, s, s.Final(), s.Passed())
		}
	}
	for _, s := range states {
		text, _ := s.MarshalText()
		var back domain.ChallengeState
		if back.UnmarshalText(text) != nil || back != s {
			t.Errorf("%q does not survive MarshalText/UnmarshalText", s)
		}
	}
	var none domain.ChallengeState
	if none.UnmarshalText([]byte("approve")) == nil || none.UnmarshalText(nil) == nil {
		t.Error("an unknown state was read")
	}
}

func TestSignatureChecksAndAnswersParse(t *testing.T) {
	t.Parallel()
	for _, c := range []domain.SignatureCheck{domain.SignatureNone, domain.SignatureVerified, domain.SignatureFailed} {
		if got, err := domain.ParseSignatureCheck(c.String()); err != nil || got != c {
			t.Errorf("ParseSignatureCheck(%q) = %v, %v", c, got, err)
		}
	}
	if _, err := domain.ParseSignatureCheck("maybe"); err == nil {
		t.Error("an unknown signature check was read")
	}
	for _, a := range domain.Answers() {
		text, err := a.MarshalText()
		var back domain.Answer
		if err != nil || back.UnmarshalText(text) != nil || back != a {
			t.Errorf("%q does not survive MarshalText/UnmarshalText", a)
		}
	}
	if _, err := (domain.Answer{}).MarshalText(); err == nil {
		t.Error("no answer marshalled")
	}
}
