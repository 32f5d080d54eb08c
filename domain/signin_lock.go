package domain

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// SignInSource names where a password attempt comes from, for the sign-in lock: the client's
// address, an IPv6 address taken as its /64 (one host commonly holds a whole /64). Build one
// with SourceOfIP.
type SignInSource string

// SourceOfIP returns the source of a client address; an address that does not parse is the
// source "ip:unknown".
func SourceOfIP(addr string) SignInSource {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return "ip:unknown"
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		return SignInSource("ip:" + netip.PrefixFrom(ip, 64).Masked().String())
	}
	return SignInSource("ip:" + ip.String())
}

// maxSignInLock bounds the growing duration of a source's sign-in lock.
const maxSignInLock = 24 * time.Hour

// LockedError is a refusal while a lock holds: Lock is ErrLocked (the second factor) or
// ErrSignInLocked (passwords from one source), Until when it ends. errors.Is finds Lock.
type LockedError struct {
	Lock  error
	Until time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v until %s", e.Lock, e.Until.UTC().Format(time.RFC3339))
}

func (e *LockedError) Unwrap() error { return e.Lock }

// RetryAfter returns how long after now the lock ends (at least zero).
func (e *LockedError) RetryAfter(now time.Time) time.Duration { return max(e.Until.Sub(now), 0) }

// AsLocked returns the LockedError in err's chain, if any.
func AsLocked(err error) (*LockedError, bool) {
	var le *LockedError
	ok := errors.As(err, &le)
	return le, ok
}

type sourceFailure struct {
	source SignInSource
	at     time.Time
}

type sourceLock struct {
	source    SignInSource
	at, until time.Time
}

// maxTrackedSourceLocks bounds the source locks an account keeps in memory.
const maxTrackedSourceLocks = 1000

func (a *Account) recordSignInFailure(e SignInFailed) {
	a.signInFailures = append(a.signInFailures, sourceFailure{source: e.Source, at: e.At})
	if len(a.signInFailures) > maxTrackedFailures {
		a.signInFailures = a.signInFailures[len(a.signInFailures)-maxTrackedFailures:]
	}
}

func (a *Account) recordSignInLock(e SignInLocked) {
	a.signInFailures = slices.DeleteFunc(a.signInFailures, func(f sourceFailure) bool { return f.source == e.Source })
	a.sourceLocks = append(a.sourceLocks, sourceLock{source: e.Source, at: e.At, until: e.Until})
	if len(a.sourceLocks) > maxTrackedSourceLocks {
		a.sourceLocks = a.sourceLocks[len(a.sourceLocks)-maxTrackedSourceLocks:]
	}
}

// SignInLock reports whether passwords from src are locked out of the account at now, and
// until when.
func (a *Account) SignInLock(src SignInSource, now time.Time) (bool, time.Time) {
	var until time.Time
	for _, l := range a.sourceLocks {
		if l.source == src && l.until.After(until) {
			until = l.until
		}
	}
	return now.Before(until), until
}

// CheckSignIn is asked before a password is checked: a *LockedError while passwords from src
// are locked out (ErrSignInLocked), or while the second factor of an account with 2FA on is
// locked (ErrLocked), nil otherwise. A locked check evaluates nothing and records nothing, so
// that the answer is the same for a right and a wrong password.
func (a *Account) CheckSignIn(src SignInSource, now time.Time) error {
	if locked, until := a.SignInLock(src, now); locked {
		return &LockedError{Lock: ErrSignInLocked, Until: until}
	}
	if locked, until := a.Locked(now); locked && a.mfa {
		return &LockedError{Lock: ErrLocked, Until: until}
	}
	return nil
}

// signInFailed returns the failure event followed, when the source's failures within the
// window reach the threshold, by a SignInLocked for that source. The lock lasts
// p.LockoutDuration, doubled for each earlier lock of the source within the last 24 hours, at
// most 24 hours.
func (a *Account) signInFailed(src SignInSource, now time.Time, p Policy) []Event {
	events := []Event{SignInFailed{AccountID: a.id, Source: src, At: now}}
	if locked, _ := a.SignInLock(src, now); locked {
		return events
	}
	count := 1
	for _, f := range a.signInFailures {
		if f.source == src && f.at.After(now.Add(-p.LockoutWindow)) && !f.at.After(now) {
			count++
		}
	}
	if count < p.LockoutThreshold {
		return events
	}
	d := p.LockoutDuration
	for _, l := range a.sourceLocks {
		if l.source == src && l.at.After(now.Add(-24*time.Hour)) && d < maxSignInLock {
			d *= 2
		}
	}
	return append(events, SignInLocked{AccountID: a.id, Source: src, Failures: count, Until: now.Add(min(d, maxSignInLock)), At: now})
}

func (a *Account) lockedErr() error { return &LockedError{Lock: ErrLocked, Until: a.lockedUntil} }
