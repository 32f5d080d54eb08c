package httpapi

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/projections"
	"github.com/assent-dev/assent/transport/apierror"
	"github.com/assent-dev/assent/transport/push"
)

// TestLoginStatusEnumIsTheOutcomes checks that the statuses the OpenAPI document lists for a
// login are pending and every domain outcome, none missing and none invented.
func TestLoginStatusEnumIsTheOutcomes(t *testing.T) {
	t.Parallel()
	f, _ := reflect.TypeFor[LoginStatus]().FieldByName("Status")
	listed := strings.Split(f.Tag.Get("enum"), ",")
	want := []string{domain.StatePending.String()}
	for _, o := range domain.Outcomes() {
		want = append(want, o.String())
	}
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Fatalf("LoginStatus lists %v, want %v", listed, want)
	}
}

// TestRefusalOfEveryOutcome checks what a login page is told when it asks for a session,
// for every outcome: nothing when the sign-in passed, else the refusal that names it.
func TestRefusalOfEveryOutcome(t *testing.T) {
	t.Parallel()
	code := func(err error) (int, string) {
		var p *apierror.Problem
		if !errors.As(err, &p) {
			return 0, ""
		}
		return p.Status, p.Code
	}
	if st, c := code(refusalOf(nil)); st != 409 || c != "challenge_pending" {
		t.Errorf("pending: %d %s", st, c)
	}
	want := map[domain.Outcome]string{
		domain.OutcomeExpired: "challenge_expired", domain.OutcomeDenied: "challenge_denied",
		domain.OutcomeFraudReported: "challenge_fraud_reported", domain.OutcomeCancelled: "challenge_cancelled",
	}
	for _, o := range domain.Outcomes() {
		err := refusalOf(&push.Outcome{ChallengeID: uuid.New(), Status: o.String()})
		st, c := code(err)
		switch {
		case o.Passed():
			if err != nil {
				t.Errorf("%s: refused with %v", o, err)
			}
		case c != want[o] || (st != 409 && st != 410) || (o == domain.OutcomeExpired) != (st == 410):
			t.Errorf("%s: %d %s, want %s", o, st, c, want[o])
		}
		if got := statusOf(uuid.Nil, &push.Outcome{Status: o.String()}); got.Approved != o.Passed() || got.Status != o.String() {
			t.Errorf("%s: login status %+v", o, got)
		}
	}
}

// TestAnswerEnumIsTheDomainAnswers checks that the answers the OpenAPI document lists for the
// HTTP answer route are the domain's, none missing and none invented.
func TestAnswerEnumIsTheDomainAnswers(t *testing.T) {
	t.Parallel()
	body, _ := reflect.TypeFor[answerInput]().FieldByName("Body")
	f, _ := body.Type.FieldByName("Answer")
	listed := strings.Split(f.Tag.Get("enum"), ",")
	var want []string
	for _, a := range domain.Answers() {
		want = append(want, a.String())
	}
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Fatalf("the answer route lists %v, want %v", listed, want)
	}
}

// TestLoginStatusOfEveryState checks the login status a page is told for every challenge
// state of the read model: the state's slug, approved exactly when it passed.
func TestLoginStatusOfEveryState(t *testing.T) {
	t.Parallel()
	for _, s := range domain.States() {
		id := uuid.New()
		got := statusOf(id, outcomeOf(projections.ChallengeStatus{ChallengeID: id, State: s}))
		if got.Status != s.String() || got.Approved != s.Passed() || got.ChallengeID != id {
			t.Errorf("%v: login status %+v", s, got)
		}
	}
}
