package app

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// sessionDigest is a stand-in for the SHA-256 of a new session's ID.
func sessionDigest(n byte) []byte { return bytes.Repeat([]byte{n}, 32) }

// approved issues a challenge for the account and approves it on d.
func (f *fixture) approved(accountID uuid.UUID, d *device) IssuedChallenge {
	f.t.Helper()
	ch := f.challenge(accountID)
	if err := f.answer(d, ch.ID, domain.AnswerApprove, ch.Number); err != nil {
		f.t.Fatal(err)
	}
	return ch
}

func TestConcurrentSessionExchangesOneWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("exchange@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	redeemed := domain.ChallengeRedeemed{}.EventType()
	for round := range 5 {
		ch := f.approved(id, phone)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				errs[i] = f.s.RedeemChallenge(f.ctx, ch.ID, id, domain.RedeemSession, sessionDigest(byte(i)))
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, domain.ErrChallengeRedeemed):
				t.Fatalf("round %d, exchange %d: %v", round, i, err)
			}
		}
		if n := f.count(domain.ChallengeStream(ch.ID), redeemed); won != 1 || n != 1 {
			t.Fatalf("round %d: %d exchanges won, %d recorded; want 1 and 1", round, won, n)
		}
	}
}

// Two exchanges decided on the same version of the challenge: the second append conflicts,
// and, decided again on the challenge as it now is, is refused.
func TestExchangeDecidedOnTheSameVersionConflicts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("same-version@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	ch := f.approved(id, phone)
	_, first, err := f.s.readChallenge(f.ctx, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, second, err := f.s.readChallenge(f.ctx, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := first.expected.ExactVersion(); !ok {
		t.Fatalf("a challenge is loaded at %v, want an exact version", first.expected)
	} else if recs, err := f.store.ReadStream(f.ctx, domain.ChallengeStream(ch.ID), eventstore.ReadStreamOptions{}); err != nil || recs[len(recs)-1].Version != v {
		t.Fatalf("loaded at version %d, the stream's head is elsewhere (%v)", v, err)
	}
	decisions := 0
	redeem := func(l *loaded, n byte) error {
		_, err := f.s.op(f.ctx, systemActor).updateChallengeFrom(ch.ID, l, func(c *domain.Challenge, now time.Time) domain.Decision {
			decisions++
			return c.Redeem(domain.RedeemChallenge{Purpose: domain.RedeemSession, AccountID: id, SessionDigest: sessionDigest(n)}, now)
		})
		return err
	}
	if err := redeem(first, 1); err != nil {
		t.Fatal(err)
	}
	if err := redeem(second, 2); !errors.Is(err, domain.ErrChallengeRedeemed) {
		t.Fatalf("second exchange on the same version: %v, want ErrChallengeRedeemed", err)
	}
	if decisions != 3 {
		t.Fatalf("%d decisions, want 3 (the second exchange conflicted and decided again)", decisions)
	}
}

func TestAnApprovalIsSpentOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("once@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)

	// Exchanged for a session, an approval cannot also turn 2FA off.
	ch := f.approved(id, phone)
	if err := f.s.RedeemChallenge(f.ctx, ch.ID, id, domain.RedeemSession, sessionDigest(1)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DisableMFA(f.ctx, id, ch.ID); !errors.Is(err, domain.ErrChallengeRedeemed) {
		t.Fatalf("disable with an approval exchanged for a session: %v, want ErrChallengeRedeemed", err)
	}

	// Spent on turning 2FA off once, it does not do it twice, nor mint a session.
	ch = f.approved(id, phone)
	if err := f.s.DisableMFA(f.ctx, id, ch.ID); err != nil {
		t.Fatal(err)
	}
	f.enroll(id, phone) // 2FA on again
	if err := f.s.DisableMFA(f.ctx, id, ch.ID); !errors.Is(err, domain.ErrChallengeRedeemed) {
		t.Fatalf("disable twice with one approval: %v, want ErrChallengeRedeemed", err)
	}
	if err := f.s.RedeemChallenge(f.ctx, ch.ID, id, domain.RedeemSession, sessionDigest(2)); !errors.Is(err, domain.ErrChallengeRedeemed) {
		t.Fatalf("session from an approval spent on turning 2FA off: %v, want ErrChallengeRedeemed", err)
	}

	// A refusal of the account leaves the challenge unspent.
	other := f.account("other@example.com")
	ch = f.approved(id, phone)
	if err := f.s.DisableMFA(f.ctx, other, ch.ID); !errors.Is(err, domain.ErrMFANotEnabled) {
		t.Fatalf("disable on an account without 2FA: %v, want ErrMFANotEnabled", err)
	}
	if err := f.s.RedeemChallenge(f.ctx, ch.ID, id, domain.RedeemSession, sessionDigest(3)); err != nil {
		t.Fatalf("the challenge was spent by a refused request: %v", err)
	}
}

func TestPhoneLinkSpendsTheApproval(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("phone-once@example.com")
	phone := newDevice(t)
	f.enroll(id, phone)
	ch := f.approved(id, phone)
	second, third := newDevice(t), newDevice(t)
	req := PhoneLinkRequest{Email: "phone-once@example.com", Password: testPassword, PublicKey: second.pub, Name: "Tab", Platform: "android", ChallengeID: ch.ID}
	if _, err := f.s.PhoneLinkAuthorize(f.ctx, req); err != nil {
		t.Fatal(err)
	}
	req.PublicKey = third.pub
	if _, err := f.s.PhoneLinkAuthorize(f.ctx, req); !errors.Is(err, domain.ErrChallengeRedeemed) {
		t.Fatalf("a second phone link with one approval: %v, want ErrChallengeRedeemed", err)
	}
}
