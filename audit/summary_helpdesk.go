package audit

import (
	"fmt"

	"github.com/assent-dev/assent/domain"
)

// summarizeHelpDesk tells what the help desk did to an account: who, why, and what it means;
// ok is false for any other event. Bypass codes are told by count only: the log holds keyed
// hashes, and the output withholds even those.
func summarizeHelpDesk(e domain.Event) (string, bool) {
	switch e := e.(type) {
	case domain.BypassCodesIssued:
		if e.By == "" {
			return "", false // an integration user's codes: summarizeIntegration tells them
		}
		return fmt.Sprintf("help desk: administrator %q issued %d bypass codes, set %s, valid until %s (keyed hashes, not shown); reason: %q",
			e.By, len(e.Hashes), short(e.SetID), e.ExpiresAt.UTC().Format("2006-01-02 15:04:05Z"), e.Reason), true
	case domain.SecondFactorReset:
		return fmt.Sprintf("help desk: administrator %q reset the second factor (devices unlinked, apps and codes revoked, sessions ended); a new one is due by %s; reason: %q",
			e.By, e.EnrollBy.UTC().Format("2006-01-02 15:04:05Z"), e.Reason), true
	case domain.AccountUnlocked:
		return fmt.Sprintf("help desk: administrator %q unlocked the account; reason: %q", e.By, e.Reason), true
	case domain.AccountDisabled:
		return fmt.Sprintf("help desk: administrator %q disabled the account (sessions ended); reason: %q", e.By, e.Reason), true
	case domain.AccountEnabled:
		return fmt.Sprintf("help desk: administrator %q enabled the account; reason: %q", e.By, e.Reason), true
	case domain.HelpDeskNoticesSeen:
		return "the person read the help desk's notices", true
	}
	return "", false
}
