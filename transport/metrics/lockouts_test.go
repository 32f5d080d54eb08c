package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/metrics"
)

// TestEveryLockoutEventIsCounted: the events that lock something (a source locked out of an
// account, the second factor locked, pushes muted) each count as a lockout of their kind;
// other events do not.
func TestEveryLockoutEventIsCounted(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	for _, e := range []domain.Event{domain.SignInLocked{}, domain.MFALocked{}, domain.PushMuted{}, domain.SignInFailed{}} {
		m.LogEvent(e.EventType())
	}
	want := `
# HELP assent_lockouts_total Lockouts seen in the log since this node started, by kind (signin_locked, mfa_locked, push_muted).
# TYPE assent_lockouts_total counter
assent_lockouts_total{kind="mfa_locked"} 1
assent_lockouts_total{kind="push_muted"} 1
assent_lockouts_total{kind="signin_locked"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "assent_lockouts_total"); err != nil {
		t.Fatal(err)
	}
}
