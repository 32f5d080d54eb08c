package wire_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push/wire"
)

// The wire spellings clients rely on, written out here once more on purpose: a change of a
// domain slug must fail this test, not change the socket's messages or the HTTP API.
var (
	outcomeSpellings = map[domain.Outcome]string{
		domain.OutcomeApproved:            "approved",
		domain.OutcomeDenied:              "denied",
		domain.OutcomeFraudReported:       "fraud_reported",
		domain.OutcomeExpired:             "expired",
		domain.OutcomeCancelled:           "cancelled",
		domain.OutcomeCompletedTOTP:       "completed_totp",
		domain.OutcomeCompletedBackupCode: "completed_backup_code",
	}
	answerSpellings = map[domain.Answer]string{
		domain.AnswerApprove: "approve",
		domain.AnswerDeny:    "deny",
		domain.AnswerFraud:   "fraud",
	}
)

// TestEveryOutcomeHasItsWireStatusAndBack checks, for every domain outcome, the status the
// socket's outcome message carries, that it reads back as the same outcome, and that the
// message's JSON is unchanged.
func TestEveryOutcomeHasItsWireStatusAndBack(t *testing.T) {
	t.Parallel()
	if len(outcomeSpellings) != len(domain.Outcomes()) {
		t.Fatalf("%d spellings for %d outcomes: a new outcome needs its wire status here", len(outcomeSpellings), len(domain.Outcomes()))
	}
	challenge, device := uuid.MustParse("0b8c4f3e-1c55-4b6e-9d35-7c1f1e2a9a01"), uuid.MustParse("5e0f2a8b-2a1d-4c3b-8e4f-0a9b8c7d6e5f")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, o := range domain.Outcomes() {
		want, ok := outcomeSpellings[o]
		if !ok {
			t.Errorf("%v: no wire status listed", o)
			continue
		}
		if got := wire.StatusOf(o); got != want {
			t.Errorf("StatusOf(%v) = %q, want %q", o, got, want)
		}
		if back, err := wire.ParseStatus(want); err != nil || back != o {
			t.Errorf("ParseStatus(%q) = %v, %v; want %v", want, back, err, o)
		}
		msg := wire.NewOutcome(challenge, o, device, at)
		b, err := json.Marshal(wire.Message{Type: wire.TypeOutcome, Outcome: &msg})
		if err != nil {
			t.Fatal(err)
		}
		wantJSON := `{"type":"outcome","outcome":{"challenge_id":"` + challenge.String() + `","status":"` + want +
			`","device_id":"` + device.String() + `","at":"2026-03-01T12:00:00Z"}}`
		if string(b) != wantJSON {
			t.Errorf("%v: the message is\n%s\nwant\n%s", o, b, wantJSON)
		}
		var read wire.Message
		if err := json.Unmarshal(b, &read); err != nil || read.Outcome == nil || read.Outcome.Result() != o || read.Outcome.Approved() != o.Passed() {
			t.Errorf("%v does not read back from %s: %+v %v", o, b, read.Outcome, err)
		}
	}
}

// TestUnknownWireStatusIsNoOutcome: a status a newer server adds reads as no outcome, not
// as an error, and is not approved.
func TestUnknownWireStatusIsNoOutcome(t *testing.T) {
	t.Parallel()
	var m wire.Message
	if err := json.Unmarshal([]byte(`{"type":"outcome","outcome":{"challenge_id":"0b8c4f3e-1c55-4b6e-9d35-7c1f1e2a9a01","status":"withdrawn_by_moon","at":"2026-03-01T12:00:00Z"}}`), &m); err != nil {
		t.Fatal(err)
	}
	if !m.Outcome.Result().IsZero() || m.Outcome.Approved() || m.Outcome.Status != "withdrawn_by_moon" {
		t.Fatalf("an unknown status read as %v (approved %v, status %q)", m.Outcome.Result(), m.Outcome.Approved(), m.Outcome.Status)
	}
	if _, err := wire.ParseStatus("pending"); err == nil {
		t.Fatal("pending parsed as an outcome")
	}
}

// TestEveryAnswerHasItsWireSpellingAndBack checks the answer a device sends for every
// domain answer, and that the server's parse gives it back.
func TestEveryAnswerHasItsWireSpellingAndBack(t *testing.T) {
	t.Parallel()
	if len(answerSpellings) != len(domain.Answers()) {
		t.Fatalf("%d spellings for %d answers", len(answerSpellings), len(domain.Answers()))
	}
	for _, a := range domain.Answers() {
		want := answerSpellings[a]
		b, err := json.Marshal(wire.Message{Type: wire.TypeAnswer, Answer: a.String()})
		if err != nil || !strings.Contains(string(b), `"answer":"`+want+`"`) {
			t.Errorf("%v: the answer message is %s (%v), want answer %q", a, b, err, want)
		}
		if back, err := domain.ParseAnswer(want); err != nil || back != a {
			t.Errorf("ParseAnswer(%q) = %v, %v; want %v", want, back, err, a)
		}
	}
}
