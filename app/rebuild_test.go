package app

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/projections"
)

// TestRebuildEqualsLiveProjections builds a long mixed history with 8 goroutines at once
// (accounts, devices shared between accounts, challenges with every outcome, unlinks, code
// completions, 2FA turned off, expiries), lets the live projections follow it through the
// router, then rebuilds a fresh set from position zero and compares every read model.
func TestRebuildEqualsLiveProjections(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{LockoutThreshold: 1000})
	accounts := 200
	if testing.Short() {
		accounts = 40
	}
	shared := newDevice(t) // a device linked to many accounts
	var sharedMu sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, accounts)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				if err := f.history(i, shared, &sharedMu); err != nil {
					errs <- fmt.Errorf("account %d: %w", i, err)
				}
			}
		})
	}
	for i := range accounts {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	f.clock.Advance(domain.DefaultPolicy().ChallengeTTL)
	if n, err := f.s.ExpireDueChallenges(f.ctx); err != nil || n == 0 {
		t.Fatalf("sweep: %d expired, %v", n, err)
	}
	if err := f.views.WaitFor(f.ctx, f.s.Written()); err != nil {
		t.Fatal(err)
	}
	rebuilt := projections.NewSet()
	st, err := rebuilt.Rebuild(f.ctx, f.store)
	if err != nil {
		t.Fatal(err)
	}
	if st.Position != f.views.Position() || st.Accounts != accounts || st.Challenges < accounts*5 {
		t.Fatalf("rebuild stats %+v, live position %d", st, f.views.Position())
	}
	for _, c := range []struct {
		name       string
		live, want any
	}{
		{"accounts", f.views.Accounts.All(), rebuilt.Accounts.All()},
		{"devices", f.views.Devices.All(), rebuilt.Devices.All()},
		{"pending", f.views.Pending.All(), rebuilt.Pending.All()},
		{"challenges", f.views.Challenges.All(), rebuilt.Challenges.All()},
	} {
		if !reflect.DeepEqual(c.live, c.want) {
			t.Errorf("%s: the rebuilt read model differs from the live one", c.name)
		}
	}
	states := map[domain.ChallengeState]int{}
	for _, c := range rebuilt.Challenges.All() {
		states[c.State]++
	}
	for _, s := range []domain.ChallengeState{domain.StatePending, domain.StateOf(domain.OutcomeApproved), domain.StateOf(domain.OutcomeDenied),
		domain.StateOf(domain.OutcomeFraudReported), domain.StateOf(domain.OutcomeExpired), domain.StateOf(domain.OutcomeCancelled), domain.StateOf(domain.OutcomeCompletedTOTP), domain.StateOf(domain.OutcomeCompletedBackupCode)} {
		if states[s] == 0 && s != domain.StatePending {
			t.Errorf("the history has no challenge %s", s)
		}
	}
	t.Logf("%d events, %d accounts, %d devices, %d challenges (%v), %d open", st.Events, st.Accounts, st.Devices, st.Challenges, states, st.Pending)
}

// history plays one account's life, varied by i.
func (f *fixture) history(i int, shared *device, sharedMu *sync.Mutex) error {
	id, err := f.s.register(f.ctx, mustEmail(fmt.Sprintf("user%d@example.com", i)), testHash())
	if err != nil {
		return err
	}
	phone := newDevice(f.t) // GenerateKey from crypto/rand does not fail
	res, err := f.tryEnroll(id, phone)
	if err != nil {
		return err
	}
	if i%3 == 0 {
		sharedMu.Lock()
		_, err := f.tryEnroll(id, shared)
		sharedMu.Unlock()
		if err != nil {
			return err
		}
	}
	approve := func(ch IssuedChallenge, n int) error {
		return f.s.AnswerChallenge(f.ctx, phone.id, ch.ID, domain.AnswerApprove, n, f.sign(phone, ch.ID, domain.AnswerApprove, n))
	}
	steps := []func() error{
		func() error {
			ch, err := f.issue(id)
			if err != nil {
				return err
			}
			return approve(ch, ch.Number)
		},
		func() error {
			ch, err := f.issue(id)
			if err != nil {
				return err
			}
			if err := approve(ch, otherNumber(ch.Number)); !errors.Is(err, domain.ErrWrongNumber) {
				return fmt.Errorf("wrong number: %w", err)
			}
			if err := f.s.AcknowledgeDelivery(f.ctx, phone.id, ch.ID); err != nil {
				return err
			}
			return approve(ch, ch.Number)
		},
		func() error {
			ch, err := f.issue(id)
			if err != nil {
				return err
			}
			return f.answer(phone, ch.ID, domain.AnswerDeny, 0)
		},
		func() error {
			ch, err := f.issue(id)
			if err != nil {
				return err
			}
			code, _ := phone.totp[id].Code(f.clock.Now())
			return f.s.CompleteWithTOTP(f.ctx, ch.ID, code)
		},
		func() error {
			ch, err := f.issue(id)
			if err != nil {
				return err
			}
			return f.s.CompleteWithBackupCode(f.ctx, ch.ID, res.BackupCodes[i%10])
		},
		func() error { _, err := f.issue(id); return err }, // superseded by the next one
	}
	for k, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("step %d: %w", k, err)
		}
	}
	ch, err := f.issue(id)
	if err != nil {
		return err
	}
	switch i % 4 {
	case 0:
		return f.answer(phone, ch.ID, domain.AnswerFraud, 0)
	case 1:
		// The last factor cannot be unlinked: a second device first, then the phone goes.
		if _, err := f.tryEnroll(id, newDevice(f.t)); err != nil {
			return err
		}
		return f.s.UnlinkDevice(f.ctx, id, phone.id) // the last challenge is left open: expired by the sweeper
	case 2:
		if err := approve(ch, ch.Number); err != nil {
			return err
		}
		return f.s.DisableMFA(f.ctx, id, ch.ID)
	}
	return nil // the last challenge is left open: expired by the sweeper
}

// tryEnroll is enroll that returns its error, for use off the test goroutine.
func (f *fixture) tryEnroll(accountID uuid.UUID, d *device) (EnrollmentResult, error) {
	token, _, err := f.s.StartEnrollment(f.ctx, accountID)
	if err != nil {
		return EnrollmentResult{}, err
	}
	res, err := f.s.CompleteEnrollment(f.ctx, token, d.pub, "Phone", "android")
	if err != nil {
		return EnrollmentResult{}, err
	}
	secret, err := secretFromBase32(res.TOTPSecret)
	if err != nil {
		return EnrollmentResult{}, err
	}
	d.totp[accountID] = secret
	return res, nil
}

func mustEmail(s string) domain.Email {
	e, err := domain.ParseEmail(s)
	if err != nil {
		panic(err)
	}
	return e
}
