package httpapi

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst requests at once, refilled at Per requests per minute.
type Limit struct {
	PerMinute float64
	Burst     int
}

// RateLimits are the limits of the routes that guess at secrets: sign-in, code entry and
// enrollment, each per client IP and per account.
type RateLimits struct {
	SignInPerIP       Limit
	SignInPerAccount  Limit
	CodesPerIP        Limit
	CodesPerAccount   Limit
	EnrollmentPerIP   Limit
	DeviceAnswerPerIP Limit
	// DeviceAnswerPerDevice holds each device, over HTTP and the socket together.
	DeviceAnswerPerDevice Limit
}

// DefaultRateLimits are generous for people and tight for scripts.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		SignInPerIP:       Limit{PerMinute: 30, Burst: 10},
		SignInPerAccount:  Limit{PerMinute: 10, Burst: 5},
		CodesPerIP:        Limit{PerMinute: 30, Burst: 10},
		CodesPerAccount:   Limit{PerMinute: 10, Burst: 5},
		EnrollmentPerIP:   Limit{PerMinute: 20, Burst: 10},
		DeviceAnswerPerIP: Limit{PerMinute: 600, Burst: 100},
		// A person answers a few requests a minute; a script that answers more only grows
		// the log.
		DeviceAnswerPerDevice: Limit{PerMinute: 30, Burst: 10},
	}
}

// limiter keeps a token bucket per key and forgets keys idle for ten minutes.
type limiter struct {
	limit   Limit
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(l Limit) *limiter {
	return &limiter{limit: l, buckets: make(map[string]*bucket)}
}

// allow takes a token for key at now; when none is left it returns how long to wait.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.limit.PerMinute <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.limit.PerMinute/60), l.limit.Burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
