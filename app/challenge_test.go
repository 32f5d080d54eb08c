package app

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// otherNumber returns a valid number that is not n.
func otherNumber(n int) int {
	if n == 99 {
		return 10
	}
	return n + 1
}

func TestApproveWithNumberMatching(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("approve@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	ctx := WithCorrelationID(f.ctx, "req-42")
	res, err := f.s.SignIn(ctx, "approve@example.com", testPassword, lc)
	if err != nil || res.Challenge == nil || res.Challenge.Devices != 1 || res.Challenge.Number < 10 || res.Challenge.Number > 99 {
		t.Fatalf("sign in = %+v, %v; want a challenge pushed to one device", res, err)
	}
	ch := res.Challenge
	pending, err := f.s.PendingChallengesForDevice(f.ctx, phone.id)
	if err != nil || len(pending) != 1 || pending[0].ChallengeID != ch.ID || pending[0].Context.IP != lc.IP {
		t.Fatalf("pending for the device = %+v, %v", pending, err)
	}
	if err := f.s.AcknowledgeDelivery(f.ctx, phone.id, ch.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.s.AcknowledgeDelivery(f.ctx, phone.id, ch.ID); err != nil {
		t.Fatalf("repeated acknowledgement: %v", err)
	}
	wrong := otherNumber(ch.Number)
	if err := f.answer(phone, ch.ID, domain.AnswerApprove, wrong); !errors.Is(err, domain.ErrWrongNumber) {
		t.Fatalf("wrong number: %v, want ErrWrongNumber", err)
	}
	bad := f.sign(phone, ch.ID, domain.AnswerApprove, wrong) // signed for another number
	if err := f.s.AnswerChallenge(f.ctx, phone.id, ch.ID, domain.AnswerApprove, ch.Number, bad); !errors.Is(err, domain.ErrBadSignature) {
		t.Fatalf("bad signature: %v, want ErrBadSignature", err)
	}
	if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); err != nil {
		t.Fatal(err)
	}
	if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); !errors.Is(err, domain.ErrChallengeAlreadyDecided) {
		t.Fatalf("second answer: %v, want ErrChallengeAlreadyDecided", err)
	}
	want := []string{"challenge.issued", "challenge.delivered", "challenge.number.mismatched", "challenge.approved"}
	if got := f.types(domain.ChallengeStream(ch.ID)); !equal(got, want) {
		t.Fatalf("challenge stream = %v, want %v", got, want)
	}
	if f.count(domain.AccountStream(id), "account.challenge.failed") != 1 {
		t.Fatalf("the wrong number was not mirrored on the account: %v", f.types(domain.AccountStream(id)))
	}
	st, err := f.s.ChallengeStatus(f.ctx, ch.ID)
	if err != nil || st.State != domain.StateOf(domain.OutcomeApproved) || st.DecidedBy != phone.id || st.Mismatches != 1 || len(st.Delivered) != 1 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if pending, _ := f.s.PendingChallengesForDevice(f.ctx, phone.id); len(pending) != 0 {
		t.Fatalf("pending after approval = %+v, want none", pending)
	}
	// Metadata: the correlation ID of the request, the device as the actor of its answer.
	recs, err := f.store.ReadStream(f.ctx, domain.ChallengeStream(ch.ID), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if md := recs[0].Metadata; md.CorrelationID != "req-42" || md.Actor != accountActor(id) {
		t.Fatalf("challenge.issued metadata = %+v", md)
	}
	if md := recs[3].Metadata; md.Actor != deviceActor(phone.id) || md.CorrelationID == "" || recs[3].ID.Version() != 7 {
		t.Fatalf("challenge.approved metadata = %+v, ID %s", md, recs[3].ID)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDenialAndFraudCountAndFraudMutesPushes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("fraud@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	ch := f.challenge(id)
	if err := f.s.AnswerChallenge(f.ctx, phone.id, ch.ID, domain.AnswerDeny, 5, nil); !errors.Is(err, ErrInvalidAnswer) {
		t.Fatalf("deny with a number: %v, want ErrInvalidAnswer", err)
	}
	if err := f.answer(phone, ch.ID, domain.AnswerDeny, 0); err != nil {
		t.Fatal(err)
	}
	ch = f.challenge(id)
	if err := f.answer(phone, ch.ID, domain.AnswerFraud, 0); err != nil {
		t.Fatal(err)
	}
	stream := domain.AccountStream(id)
	if f.count(stream, "account.challenge.failed") != 2 || f.count(stream, "account.push.muted") != 1 {
		t.Fatalf("account stream = %v: want 2 challenge failures and a push mute", f.types(stream))
	}
	muted := f.challenge(id)
	if !muted.PushMuted || muted.Devices != 0 {
		t.Fatalf("challenge while muted = %+v: want no device", muted)
	}
	if pending, _ := f.s.PendingChallengesForDevice(f.ctx, phone.id); len(pending) != 0 {
		t.Fatalf("a muted challenge reached the device: %+v", pending)
	}
	view, err := f.s.Account(f.ctx, id)
	if err != nil || !view.MutedUntil.After(f.clock.Now()) {
		t.Fatalf("account view = %+v, %v: want muted", view, err)
	}
}

func TestNewerChallengeCancelsOlder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("newer@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	old := f.challenge(id)
	newer := f.challenge(id)
	st, err := f.s.ChallengeStatus(f.ctx, old.ID)
	if err != nil || st.State != domain.StateOf(domain.OutcomeCancelled) {
		t.Fatalf("older challenge = %+v, %v; want cancelled", st, err)
	}
	if err := f.answer(phone, old.ID, domain.AnswerApprove, old.Number); !errors.Is(err, domain.ErrChallengeAlreadyDecided) {
		t.Fatalf("answer to the cancelled challenge: %v", err)
	}
	pending, _ := f.s.PendingChallengesForDevice(f.ctx, phone.id)
	if len(pending) != 1 || pending[0].ChallengeID != newer.ID {
		t.Fatalf("pending = %+v, want only the newer challenge", pending)
	}
}

func TestOnlyLinkedDevicesMayAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	a, b := f.account("a@example.com"), f.account("b@example.com")
	phoneA, phoneB, spare := newDevice(t), newDevice(t), newDevice(t)
	f.enroll(a, phoneA)
	f.enroll(a, spare)
	f.enroll(b, phoneB)
	ch := f.challenge(a)
	if err := f.answer(phoneB, ch.ID, domain.AnswerApprove, ch.Number); !errors.Is(err, domain.ErrDeviceNotLinked) {
		t.Fatalf("device of another account: %v, want ErrDeviceNotLinked", err)
	}
	if err := f.s.UnlinkDevice(f.ctx, a, spare.id); err != nil {
		t.Fatal(err)
	}
	if err := f.answer(spare, ch.ID, domain.AnswerApprove, ch.Number); !errors.Is(err, domain.ErrDeviceNotLinked) {
		t.Fatalf("device unlinked after the challenge was issued: %v, want ErrDeviceNotLinked", err)
	}
	if pending, _ := f.s.PendingChallengesForDevice(f.ctx, spare.id); len(pending) != 0 {
		t.Fatalf("unlinked device still has pending challenges: %+v", pending)
	}
	if got := f.types(domain.ChallengeStream(ch.ID)); len(got) != 1 {
		t.Fatalf("refused answers wrote to the challenge: %v", got)
	}
	if err := f.answer(phoneA, ch.ID, domain.AnswerApprove, ch.Number); err != nil {
		t.Fatal(err)
	}
}

func TestTwoAnswersRaceOneWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("race@example.com")
	devices := []*device{newDevice(t), newDevice(t), newDevice(t), newDevice(t)}
	for _, d := range devices {
		f.enroll(id, d)
	}
	for round := range 5 {
		ch := f.challenge(id)
		sigs := make([][]byte, len(devices))
		for i, d := range devices {
			answer, n := domain.AnswerApprove, ch.Number
			if i%2 == 1 {
				answer, n = domain.AnswerDeny, 0
			}
			sigs[i] = f.sign(d, ch.ID, answer, n)
		}
		errs := make([]error, len(devices))
		var wg sync.WaitGroup
		for i, d := range devices {
			wg.Go(func() {
				answer, n := domain.AnswerApprove, ch.Number
				if i%2 == 1 {
					answer, n = domain.AnswerDeny, 0
				}
				errs[i] = f.s.AnswerChallenge(f.ctx, d.id, ch.ID, answer, n, sigs[i])
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, domain.ErrChallengeAlreadyDecided):
				t.Fatalf("round %d, device %d: %v", round, i, err)
			}
		}
		finals := len(f.types(domain.ChallengeStream(ch.ID))) - 1
		if won != 1 || finals != 1 {
			t.Fatalf("round %d: %d answers won, %d outcomes recorded; want 1 and 1", round, won, finals)
		}
	}
}

func TestSweeperExpiresDueChallenges(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("sweep@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	ch := f.challenge(id)
	if n, err := f.s.ExpireDueChallenges(f.ctx); err != nil || n != 0 {
		t.Fatalf("sweep before expiry = %d, %v; want 0", n, err)
	}
	f.clock.Advance(domain.DefaultPolicy().ChallengeTTL)
	if n, err := f.s.ExpireDueChallenges(f.ctx); err != nil || n != 1 {
		t.Fatalf("sweep at expiry = %d, %v; want 1", n, err)
	}
	st, err := f.s.ChallengeStatus(f.ctx, ch.ID)
	if err != nil || st.State != domain.StateOf(domain.OutcomeExpired) {
		t.Fatalf("status = %+v, %v; want expired", st, err)
	}
	if n, err := f.s.ExpireDueChallenges(f.ctx); err != nil || n != 0 {
		t.Fatalf("second sweep = %d, %v; want 0", n, err)
	}
	if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); !errors.Is(err, domain.ErrChallengeAlreadyDecided) {
		t.Fatalf("late answer: %v", err)
	}
	// A late answer before any sweep records the expiry itself.
	late := f.challenge(id)
	f.clock.Advance(domain.DefaultPolicy().ChallengeTTL + time.Second)
	if err := f.answer(phone, late.ID, domain.AnswerApprove, late.Number); !errors.Is(err, domain.ErrChallengeExpired) {
		t.Fatalf("late answer: %v, want ErrChallengeExpired", err)
	}
	if got := f.count(domain.ChallengeStream(late.ID), "challenge.expired"); got != 1 {
		t.Fatalf("the late answer recorded %d expiries, want 1", got)
	}
}
