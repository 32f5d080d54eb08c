package domain_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

var (
	bypassSet    = uuid.MustParse("0195a1b2-0000-7000-8000-0000000000b2")
	bypassIssued = domain.BypassCodesIssued{AccountID: accountID, SetID: bypassSet, Hashes: hashes("bypass")[:3], ExpiresAt: t0.Add(time.Hour), At: t0.Add(-time.Minute)}
)

func init() { samples = append(samples, bypassIssued) }

func TestBypassCodes(t *testing.T) {
	t.Parallel()
	use := func(h string) func(*domain.Account) domain.Decision {
		return func(a *domain.Account) domain.Decision {
			return a.UseBackupCode(domain.UseBackupCode{ChallengeID: challengeID, Candidates: []string{h}}, t0, policy)
		}
	}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "issue",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.IssueBypassCodes(domain.IssueBypassCodes{SetID: bypassSet, Hashes: hashes("bypass")[:3], ExpiresAt: t0.Add(time.Hour)}, t0.Add(-time.Minute))
			},
			then: []domain.Event{bypassIssued},
		},
		{
			name:  "issue without a second factor",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.IssueBypassCodes(domain.IssueBypassCodes{SetID: bypassSet, Hashes: hashes("bypass")[:3], ExpiresAt: t0.Add(time.Hour)}, t0)
			},
			err: domain.ErrMFANotEnabled,
		},
		{
			name:  "issue eleven",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.IssueBypassCodes(domain.IssueBypassCodes{SetID: bypassSet, Hashes: append(hashes("bypass"), "k1:extra"), ExpiresAt: t0.Add(time.Hour)}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "issue expired",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.IssueBypassCodes(domain.IssueBypassCodes{SetID: bypassSet, Hashes: hashes("bypass")[:3], ExpiresAt: t0}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "use a bypass code",
			given: concat(withMFA, []domain.Event{bypassIssued}),
			when:  use(hashes("bypass")[2]),
			then:  []domain.Event{domain.BackupCodeUsed{AccountID: accountID, SetID: bypassSet, Index: 2, ChallengeID: challengeID, At: t0}},
		},
		{
			name:  "a backup code still works beside them",
			given: concat(withMFA, []domain.Event{bypassIssued}),
			when:  use(hashes("old")[1]),
			then:  []domain.Event{domain.BackupCodeUsed{AccountID: accountID, SetID: setID, Index: 1, ChallengeID: challengeID, At: t0}},
		},
		{
			name:  "a bypass code used before",
			given: concat(withMFA, []domain.Event{bypassIssued, domain.BackupCodeUsed{AccountID: accountID, SetID: bypassSet, Index: 2, ChallengeID: challengeID, At: t0}}),
			when:  use(hashes("bypass")[2]),
			then:  []domain.Event{domain.BackupCodeCheckFailed{AccountID: accountID, ChallengeID: challengeID, Reason: domain.FailureReusedBackupCode, At: t0}},
			err:   domain.ErrCodeReused,
		},
		{
			name: "an expired bypass code",
			given: concat(withMFA, []domain.Event{domain.BypassCodesIssued{
				AccountID: accountID, SetID: bypassSet, Hashes: hashes("bypass")[:3], ExpiresAt: t0, At: t0.Add(-time.Hour),
			}}),
			when: use(hashes("bypass")[0]),
			then: []domain.Event{domain.BackupCodeCheckFailed{AccountID: accountID, ChallengeID: challengeID, Reason: domain.FailureWrongBackupCode, At: t0}},
			err:  domain.ErrWrongCode,
		},
	})
	a, _ := domain.LoadAccount(concat(withMFA, []domain.Event{bypassIssued}))
	if a.BypassCodesLeft(t0) != 3 || a.BypassCodesLeft(t0.Add(time.Hour)) != 0 {
		t.Fatalf("bypass codes left %d, then %d", a.BypassCodesLeft(t0), a.BypassCodesLeft(t0.Add(time.Hour)))
	}
}
