package domain

import (
	"errors"
	"fmt"
	"time"
)

// Policy holds the limits the decisions apply. Zero fields take their defaults with
// SetDefaults; Validate reports every problem at once.
type Policy struct {
	// LockoutThreshold is the number of failures within LockoutWindow that locks: wrong
	// passwords from one source lock that source out of the account (SignInLocked); wrong
	// codes, numbers and denials lock the account's second factor (MFALocked). Default 10.
	LockoutThreshold int
	// LockoutWindow is how far back failures count. Default 15 minutes.
	LockoutWindow time.Duration
	// LockoutDuration is how long a lockout lasts; a source's sign-in lock doubles with each
	// earlier lock of that source within a day, up to 24 hours. Default 15 minutes.
	LockoutDuration time.Duration
	// PushMuteDuration is how long a fraud report mutes pushes for the account. Default 20 minutes.
	PushMuteDuration time.Duration
	// EnrollmentTTL is how long an enrollment link stays usable. Default 5 minutes.
	EnrollmentTTL time.Duration
	// ChallengeTTL is how long a challenge waits for an answer. Default 120 seconds.
	ChallengeTTL time.Duration
}

// DefaultPolicy returns the defaults.
func DefaultPolicy() Policy {
	var p Policy
	p.SetDefaults()
	return p
}

// SetDefaults fills every zero field with its default.
func (p *Policy) SetDefaults() {
	if p.LockoutThreshold == 0 {
		p.LockoutThreshold = 10
	}
	if p.LockoutWindow == 0 {
		p.LockoutWindow = 15 * time.Minute
	}
	if p.LockoutDuration == 0 {
		p.LockoutDuration = 15 * time.Minute
	}
	if p.PushMuteDuration == 0 {
		p.PushMuteDuration = 20 * time.Minute
	}
	if p.EnrollmentTTL == 0 {
		p.EnrollmentTTL = 5 * time.Minute
	}
	if p.ChallengeTTL == 0 {
		p.ChallengeTTL = 120 * time.Second
	}
}

// maxTrackedFailures bounds the failures an account keeps in memory, and so the threshold.
const maxTrackedFailures = 1000

// Validate returns every problem at once, in the form
// "policy: option 'challenge_ttl' must be between 10s and 10m0s but it's configured as '1s'".
func (p Policy) Validate() error {
	var errs []error
	if p.LockoutThreshold < 1 || p.LockoutThreshold > maxTrackedFailures {
		errs = append(errs, fmt.Errorf("policy: option 'lockout_threshold' must be between 1 and %d but it's configured as '%d'", maxTrackedFailures, p.LockoutThreshold))
	}
	for _, o := range []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"lockout_window", p.LockoutWindow, time.Minute, 24 * time.Hour},
		{"lockout_duration", p.LockoutDuration, time.Minute, 24 * time.Hour},
		{"push_mute_duration", p.PushMuteDuration, time.Minute, 24 * time.Hour},
		{"enrollment_ttl", p.EnrollmentTTL, 30 * time.Second, time.Hour},
		{"challenge_ttl", p.ChallengeTTL, 10 * time.Second, 10 * time.Minute},
	} {
		if o.v < o.min || o.v > o.max {
			errs = append(errs, fmt.Errorf("policy: option '%s' must be between %s and %s but it's configured as '%s'", o.name, o.min, o.max, o.v))
		}
	}
	return errors.Join(errs...)
}
