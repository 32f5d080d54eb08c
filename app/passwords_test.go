package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/secrets"
)

func TestPasswordGateBoundsConcurrency(t *testing.T) {
	t.Parallel()
	g := newPasswordGate(2)
	var running, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := g.run(context.Background(), func() {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(20 * time.Millisecond)
				running.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := most.Load(); got != 2 {
		t.Fatalf("at most %d computations ran at once, want 2 (the gate's size)", got)
	}
}

// TestPasswordChecksWaitTheirTurn holds every turn of the service's gate and checks that each
// use case that needs argon2id waits for one, then gives up with ErrBusy (or the context's
// error) having written nothing, and that an unknown email is told the same as a known one.
func TestPasswordChecksWaitTheirTurn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("busy@example.com")
	f.s.passwords = newPasswordGate(1)
	f.s.passwords.wait = 50 * time.Millisecond
	f.s.passwords.turns <- struct{}{} // every turn taken
	before := f.types(domain.AccountStream(id))

	for _, c := range []struct{ name, email, password string }{
		{"known email, right password", "busy@example.com", testPassword},
		{"known email, wrong password", "busy@example.com", "not the password"},
		{"unknown email", "nobody@example.com", testPassword},
		{"invalid email", "not an email", testPassword},
	} {
		if _, err := f.s.SignIn(f.ctx, c.email, c.password, lc); !errors.Is(err, ErrBusy) {
			t.Errorf("sign in, %s, with no turn free: %v, want ErrBusy", c.name, err)
		}
	}
	if _, err := f.s.Register(f.ctx, "new@example.com", "a long enough password"); !errors.Is(err, ErrBusy) {
		t.Errorf("register with no turn free: %v, want ErrBusy", err)
	}
	if err := f.s.ChangePassword(f.ctx, id, testPassword, "a new long password", domain.EndSessions{Until: f.clock.Now().Add(time.Hour)}); !errors.Is(err, ErrBusy) {
		t.Errorf("change password with no turn free: %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if _, err := f.s.SignIn(ctx, "busy@example.com", testPassword, lc); !errors.Is(err, context.Canceled) {
		t.Errorf("sign in with its context ended while it waits: %v, want context.Canceled", err)
	}
	if got := f.types(domain.AccountStream(id)); !equal(got, before) {
		t.Fatalf("the account stream went from %v to %v while no check ran", before, got)
	}
	// The queue's state, as the metrics read it: one running, none waiting, six refused.
	if st := f.s.PasswordChecks(); st != (PasswordCheckStats{Running: 1, Capacity: 1, Waiting: 0, Busy: 6}) {
		t.Errorf("password checks: %+v", st)
	}
	if _, err := f.s.store.ReadStream(f.ctx, newClaimStream(t, f.s, mustEmail("new@example.com")), eventstore.ReadStreamOptions{}); err == nil {
		t.Fatal("a registration that got no turn claimed its email")
	}

	<-f.s.passwords.turns // the turn is free again
	if res, err := f.s.SignIn(f.ctx, "busy@example.com", testPassword, lc); err != nil || !res.SessionGranted {
		t.Fatalf("sign in once a turn is free: %+v, %v", res, err)
	}
	if _, err := f.s.SignIn(f.ctx, "nobody@example.com", testPassword, lc); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("unknown email once a turn is free: %v, want ErrInvalidCredentials", err)
	}
}

// TestPasswordKeysThatFailAreBusy: when the configured key derivation fails (a password
// worker that died twice), a sign-in, a registration and a password change fail with ErrBusy,
// without the password in the error, having written nothing; once it works again, so do they.
func TestPasswordKeysThatFailAreBusy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, domain.Policy{})
	id := f.account("worker@example.com")
	var broken atomic.Bool
	broken.Store(true)
	f.s.keys = func(ctx context.Context, password, salt []byte, p secrets.Argon2Params) ([]byte, error) {
		if broken.Load() {
			return nil, errors.New("the worker ended while computing the key")
		}
		return secrets.IDKey(ctx, password, salt, p)
	}
	before := f.types(domain.AccountStream(id))
	_, err := f.s.SignIn(f.ctx, "worker@example.com", testPassword, lc)
	if !errors.Is(err, ErrBusy) || strings.Contains(err.Error(), testPassword) {
		t.Errorf("sign in: %v, want ErrBusy without the password", err)
	}
	if _, err := f.s.Register(f.ctx, "new-worker@example.com", "a long enough password"); !errors.Is(err, ErrBusy) {
		t.Errorf("register: %v, want ErrBusy", err)
	}
	if err := f.s.ChangePassword(f.ctx, id, testPassword, "a new long password", domain.EndSessions{Until: f.clock.Now().Add(time.Hour)}); !errors.Is(err, ErrBusy) {
		t.Errorf("change password: %v, want ErrBusy", err)
	}
	if got := f.types(domain.AccountStream(id)); !equal(got, before) {
		t.Fatalf("the account stream went from %v to %v while no key could be derived", before, got)
	}
	broken.Store(false)
	if res, err := f.s.SignIn(f.ctx, "worker@example.com", testPassword, lc); err != nil || !res.SessionGranted {
		t.Fatalf("sign in once the keys work: %+v, %v", res, err)
	}
}
