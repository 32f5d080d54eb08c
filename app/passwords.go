package app

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/assent-dev/assent/secrets"
)

// passwordQueueWait is how long a password check waits for its turn before it gives up with
// ErrBusy.
const passwordQueueWait = 5 * time.Second

// passwordGate bounds the argon2id computations (hashing a new password, checking one) that run
// at once. Each takes the memory its parameters say (19 MiB by default) and a core for tens of
// milliseconds; unbounded, a burst of sign-ins would take memory in proportion to the burst and
// slow every one of them alike. A computation waits for its turn up to passwordQueueWait, then
// fails with ErrBusy; the end of its context ends the wait too.
type passwordGate struct {
	turns chan struct{} // one element per computation running
	wait  time.Duration // passwordQueueWait; shorter in tests
	// waiting counts the computations waiting for a turn, busy those refused (PasswordChecks).
	waiting *atomic.Int64
	busy    *atomic.Uint64
}

func newPasswordGate(n int) passwordGate {
	return passwordGate{turns: make(chan struct{}, n), wait: passwordQueueWait, waiting: new(atomic.Int64), busy: new(atomic.Uint64)}
}

// PasswordCheckStats describe the queue of password checks (argon2id) of a Service.
type PasswordCheckStats struct {
	Running, Capacity, Waiting int
	// Busy counts the checks refused with ErrBusy since the service started.
	Busy uint64
}

// PasswordChecks returns the state of the password-check queue, for metrics.
func (s *Service) PasswordChecks() PasswordCheckStats {
	g := s.passwords
	return PasswordCheckStats{Running: len(g.turns), Capacity: cap(g.turns), Waiting: int(g.waiting.Load()), Busy: g.busy.Load()}
}

// run runs f in its turn, or returns ErrBusy or the context's error without running it.
func (g passwordGate) run(ctx context.Context, f func()) error {
	select {
	case g.turns <- struct{}{}:
	default:
		g.waiting.Add(1)
		t := time.NewTimer(g.wait)
		defer t.Stop()
		select {
		case g.turns <- struct{}{}:
			g.waiting.Add(-1)
		case <-ctx.Done():
			g.waiting.Add(-1)
			return ctx.Err()
		case <-t.C:
			g.waiting.Add(-1)
			g.busy.Add(1)
			return ErrBusy
		}
	}
	defer func() { <-g.turns }()
	f()
	return nil
}

// passwordKey derives an argon2id key with the configured KeyFunc (Config.PasswordKeys). A
// KeyFunc that fails (a worker process that died twice) fails the check with ErrBusy: the
// person may try again.
func (s *Service) passwordKey(ctx context.Context, password, salt []byte, p secrets.Argon2Params) ([]byte, error) {
	k, err := s.keys(ctx, password, salt, p)
	if err != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return k, err
}

// hashPassword makes the argon2id hash of a new password, in its turn.
func (s *Service) hashPassword(ctx context.Context, password string) (hash string, err error) {
	if gerr := s.passwords.run(ctx, func() { hash, err = s.argon2.HashWith(ctx, password, s.rand, s.passwordKey) }); gerr != nil {
		return "", gerr
	}
	return hash, err
}

// verifyPassword checks password against an argon2id hash, in its turn.
func (s *Service) verifyPassword(ctx context.Context, password, encoded string) (ok bool, err error) {
	if gerr := s.passwords.run(ctx, func() { ok, err = secrets.VerifyPasswordWith(ctx, password, encoded, s.passwordKey) }); gerr != nil {
		return false, gerr
	}
	return ok, err
}

// burnPasswordCheck spends the time of a password check on a hash of nothing, in its turn like
// any other, so that an unknown email does not answer faster than a known one, nor differently
// when the server is busy. It returns only the gate's error (ErrBusy, or the context's).
func (s *Service) burnPasswordCheck(ctx context.Context, password string) error {
	s.dummyOnce.Do(func() { s.dummyHash, _ = s.argon2.Hash("assent-dummy-password", s.rand) })
	return s.passwords.run(ctx, func() { _, _ = secrets.VerifyPasswordWith(ctx, password, s.dummyHash, s.passwordKey) })
}
