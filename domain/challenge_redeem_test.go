package domain_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

func TestRedeemChallenge(t *testing.T) {
	t.Parallel()
	approved := domain.ChallengeApproved{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Number: 42, Signature: sign(devKey, domain.AnswerApprove, 42), At: t0}
	byCode := domain.ChallengeCompletedTOTP{ChallengeID: challengeID, AccountID: accountID, SecretID: appID, Step: step0, At: t0}
	denied := domain.ChallengeDenied{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Signature: sign(devKey, domain.AnswerDeny, 0), At: t0}
	session := bytes.Repeat([]byte{7}, 32)
	asSession := domain.RedeemChallenge{Purpose: domain.RedeemSession, AccountID: accountID, SessionDigest: session}
	toDisable := domain.RedeemChallenge{Purpose: domain.RedeemDisableMFA, AccountID: accountID}
	redeemed := domain.ChallengeRedeemed{ChallengeID: challengeID, AccountID: accountID, Purpose: domain.RedeemSession, SessionDigest: session, At: t0.Add(time.Second)}
	redeem := func(cmd domain.RedeemChallenge, at time.Time) func(*domain.Challenge) domain.Decision {
		return func(c *domain.Challenge) domain.Decision { return c.Redeem(cmd, at) }
	}

	run(t, domain.LoadChallenge, []gwt[*domain.Challenge]{
		{
			name:  "an approval becomes a session",
			given: []domain.Event{issued, approved},
			when:  redeem(asSession, t0.Add(time.Second)),
			then:  []domain.Event{redeemed},
		},
		{
			name:  "a code completion becomes a step-up",
			given: []domain.Event{issued, byCode},
			when:  redeem(toDisable, t0.Add(time.Minute)),
			then:  []domain.Event{domain.ChallengeRedeemed{ChallengeID: challengeID, AccountID: accountID, Purpose: domain.RedeemDisableMFA, At: t0.Add(time.Minute)}},
		},
		{
			name:  "a second session from the same approval",
			given: []domain.Event{issued, approved, redeemed},
			when:  redeem(asSession, t0.Add(2*time.Second)),
			err:   domain.ErrChallengeRedeemed,
		},
		{
			name:  "a step-up with an approval already spent on a session",
			given: []domain.Event{issued, approved, redeemed},
			when:  redeem(toDisable, t0.Add(2*time.Second)),
			err:   domain.ErrChallengeRedeemed,
		},
		{
			name:  "a pending challenge",
			given: []domain.Event{issued},
			when:  redeem(asSession, t0),
			err:   domain.ErrSecondFactorNeeded,
		},
		{
			name:  "a denied challenge",
			given: []domain.Event{issued, denied},
			when:  redeem(asSession, t0),
			err:   domain.ErrSecondFactorNeeded,
		},
		{
			name:  "an approval older than the window",
			given: []domain.Event{issued, approved},
			when:  redeem(toDisable, t0.Add(domain.RedeemWindow+time.Second)),
			err:   domain.ErrSecondFactorNeeded,
		},
		{
			name:  "an approval of another account",
			given: []domain.Event{issued, approved},
			when:  redeem(domain.RedeemChallenge{Purpose: domain.RedeemDisableMFA, AccountID: uuid.New()}, t0),
			err:   domain.ErrSecondFactorNeeded,
		},
		{
			name:  "a session without its digest",
			given: []domain.Event{issued, approved},
			when:  redeem(domain.RedeemChallenge{Purpose: domain.RedeemSession, AccountID: accountID}, t0),
			err:   domain.ErrInvalidCommand,
		},
		{
			name:  "a step-up with a session digest",
			given: []domain.Event{issued, approved},
			when:  redeem(domain.RedeemChallenge{Purpose: domain.RedeemPhoneLink, AccountID: accountID, SessionDigest: session}, t0),
			err:   domain.ErrInvalidCommand,
		},
		{
			name:  "no purpose",
			given: []domain.Event{issued, approved},
			when:  redeem(domain.RedeemChallenge{AccountID: accountID}, t0),
			err:   domain.ErrInvalidCommand,
		},
		{
			name: "no challenge",
			when: redeem(asSession, t0),
			err:  domain.ErrChallengeNotFound,
		},
	})

	c, err := domain.LoadChallenge([]domain.Event{issued, approved, redeemed})
	if err != nil || c.Redeemed() != domain.RedeemSession || !c.Passed() {
		t.Fatalf("a redeemed challenge folds to redeemed=%v passed=%v, %v", c.Redeemed(), c.Passed(), err)
	}
}
