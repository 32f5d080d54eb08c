package app

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// TestLockoutEndsThePendingChallenge checks that the lock ends the challenge on which the
// failures were made, whether they are wrong numbers on the device or wrong codes on the login
// page: from then on neither the right number nor a right code is evaluated.
func TestLockoutEndsThePendingChallenge(t *testing.T) {
	t.Parallel()
	t.Run("wrong numbers", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, domain.Policy{LockoutThreshold: 3})
		id := f.account("numbers@example.com")
		phone := newDevice(t)
		f.enroll(id, phone)
		ch := f.challenge(id)
		for i := range 3 {
			if err := f.answer(phone, ch.ID, domain.AnswerApprove, otherNumber(ch.Number)); !errors.Is(err, domain.ErrWrongNumber) {
				t.Fatalf("wrong number %d: %v, want ErrWrongNumber", i, err)
			}
		}
		for _, n := range []int{otherNumber(ch.Number), ch.Number} {
			if err := f.answer(phone, ch.ID, domain.AnswerApprove, n); !errors.Is(err, domain.ErrChallengeLocked) {
				t.Fatalf("number %d after the lock: %v, want ErrChallengeLocked", n, err)
			}
		}
		stream := domain.ChallengeStream(ch.ID)
		if f.count(stream, "challenge.number.mismatched") != 3 || f.count(stream, "challenge.cancelled") != 1 || f.count(stream, "challenge.approved") != 0 {
			t.Fatalf("challenge stream %v: want 3 mismatches, then the cancellation, and no approval", f.types(stream))
		}
		if f.count(domain.AccountStream(id), "account.mfa.locked") != 1 {
			t.Fatalf("account stream %v: want one lockout", f.types(domain.AccountStream(id)))
		}
		if err := f.s.CompleteWithTOTP(f.ctx, ch.ID, mustCode(t, phone, id, f)); !errors.Is(err, domain.ErrChallengeLocked) {
			t.Fatalf("a right code after the lock: %v, want ErrChallengeLocked", err)
		}
	})
	t.Run("wrong codes", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, domain.Policy{LockoutThreshold: 3})
		id := f.account("codes@example.com")
		phone := newDevice(t)
		f.enroll(id, phone)
		ch := f.challenge(id)
		for i := range 3 {
			if err := f.s.CompleteWithTOTP(f.ctx, ch.ID, "000000"); !errors.Is(err, domain.ErrWrongCode) {
				t.Fatalf("wrong code %d: %v, want ErrWrongCode", i, err)
			}
		}
		if err := f.s.CompleteWithTOTP(f.ctx, ch.ID, mustCode(t, phone, id, f)); !errors.Is(err, domain.ErrChallengeLocked) {
			t.Fatalf("the right code after the lock: %v, want ErrChallengeLocked", err)
		}
		if err := f.answer(phone, ch.ID, domain.AnswerApprove, ch.Number); !errors.Is(err, domain.ErrChallengeLocked) {
			t.Fatalf("the right number after the lock: %v, want ErrChallengeLocked", err)
		}
		st, err := f.s.ChallengeStatus(f.ctx, ch.ID)
		if err != nil || !st.State.Final() || st.State.Passed() {
			t.Fatalf("challenge status %+v, %v: want a final outcome that did not pass", st, err)
		}
	})
}

func mustCode(t *testing.T, d *device, account uuid.UUID, f *fixture) string {
	t.Helper()
	code, err := d.totp[account].Code(f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}
