package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// TestHelpDeskEventsAreSummarized: each help-desk act reads as a sentence that names the
// administrator and the reason, and no bypass-code hash.
func TestHelpDeskEventsAreSummarized(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	id := uuid.New()
	const why = "ticket 12: lost phone"
	for _, c := range []struct {
		e    domain.Event
		want string
	}{
		{domain.BypassCodesIssued{AccountID: id, SetID: uuid.New(), Hashes: []string{"k1:a", "k1:b"}, ExpiresAt: at, By: "alice", Reason: why, At: at}, `administrator "alice" issued 2 bypass codes`},
		{domain.SecondFactorReset{AccountID: id, By: "alice", Reason: why, EnrollBy: at, At: at}, `administrator "alice" reset the second factor`},
		{domain.AccountUnlocked{AccountID: id, By: "alice", Reason: why, At: at}, `administrator "alice" unlocked the account`},
		{domain.AccountDisabled{AccountID: id, By: "alice", Reason: why, At: at}, `administrator "alice" disabled the account`},
		{domain.AccountEnabled{AccountID: id, By: "alice", Reason: why, At: at}, `administrator "alice" enabled the account`},
	} {
		got := summarize(c.e)
		if !strings.Contains(got, c.want) || !strings.Contains(got, why) || strings.Contains(got, "k1:") {
			t.Errorf("%s: %q, want %q and the reason", c.e.EventType(), got, c.want)
		}
	}
	if got := summarize(domain.HelpDeskNoticesSeen{AccountID: id, At: at}); got == (domain.HelpDeskNoticesSeen{}).EventType() {
		t.Errorf("notices seen is not summarized: %q", got)
	}
}
