package httpapi

import (
	"testing"
	"time"
)

func TestLimiterRefusesPastTheBurstAndRefills(t *testing.T) {
	t.Parallel()
	l := newLimiter(Limit{PerMinute: 60, Burst: 3})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.allow("ip-1", now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.allow("ip-1", now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("4th request: allowed=%v wait=%v, want refused with a wait of at most 1s", ok, wait)
	}
	if ok, _ := l.allow("ip-2", now); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := l.allow("ip-1", now.Add(time.Second)); !ok {
		t.Fatal("no token after a second at 60 per minute")
	}
}
