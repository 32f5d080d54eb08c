package domain_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

var (
	loginCtx = domain.LoginContext{UserAgent: "Firefox/140", IP: "203.0.113.7", Place: "Lyon, FR", At: t0}
	digest   = func() []byte { d := loginCtx.Digest(); return d[:] }()
	issued   = domain.ChallengeIssued{
		ChallengeID: challengeID, AccountID: accountID, Number: 42, Context: loginCtx, ContextDigest: digest,
		Devices:   []domain.ChallengeDevice{{DeviceID: deviceID, PublicKey: devPub}},
		ExpiresAt: t0.Add(2 * time.Minute), At: t0.Add(-time.Second),
	}
)

func sign(key ed25519.PrivateKey, a domain.Answer, n domain.MatchNumber) []byte {
	return ed25519.Sign(key, domain.SignedAnswerPayload(challengeID, a, n, digest))
}

func TestIssueChallenge(t *testing.T) {
	t.Parallel()
	cmd := domain.IssueChallenge{ChallengeID: challenge2, Number: 42, Context: domain.LoginContext{UserAgent: "Firefox/140", IP: "::ffff:203.0.113.7", At: t0.Add(300 * time.Millisecond)}}
	wantCtx := domain.LoginContext{UserAgent: "Firefox/140", IP: "203.0.113.7", At: t0, IssuedAt: t0}
	d := wantCtx.Digest()

	t.Run("sends to every linked device and supersedes the pending one", func(t *testing.T) {
		t.Parallel()
		a, _ := domain.LoadAccount(concat(withMFA, []domain.Event{device2Linked}))
		got, err := a.IssueChallenge(cmd, t0, policy)
		if err != nil {
			t.Fatal(err)
		}
		want := domain.ChallengeIssue{
			ChallengeID:   challenge2,
			AccountEvents: []domain.Event{domain.SignInChallenged{AccountID: accountID, ChallengeID: challenge2, Superseded: challengeID, ExpiresAt: t0.Add(120 * time.Second), At: t0}},
			ChallengeEvents: []domain.Event{domain.ChallengeIssued{
				ChallengeID: challenge2, AccountID: accountID, Number: 42, Context: wantCtx, ContextDigest: d[:],
				Devices:   []domain.ChallengeDevice{{DeviceID: deviceID, PublicKey: devPub}, {DeviceID: device2ID, PublicKey: dev2Pub}},
				ExpiresAt: t0.Add(120 * time.Second), At: t0,
			}},
			Superseded: challengeID,
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %#v\nwant %#v", got, want)
		}
	})
	t.Run("muted pushes give a challenge without devices", func(t *testing.T) {
		t.Parallel()
		a, _ := domain.LoadAccount(concat(withMFA, []domain.Event{domain.PushMuted{AccountID: accountID, ChallengeID: challengeID, Until: t0.Add(time.Minute), At: t0}}))
		got, err := a.IssueChallenge(cmd, t0, policy)
		if err != nil {
			t.Fatal(err)
		}
		ci := got.ChallengeEvents[0].(domain.ChallengeIssued)
		if !ci.PushMuted || len(ci.Devices) != 0 {
			t.Fatalf("muted challenge: push_muted=%v devices=%v", ci.PushMuted, ci.Devices)
		}
	})
	t.Run("no pending challenge to supersede once it expired", func(t *testing.T) {
		t.Parallel()
		a, _ := domain.LoadAccount(withMFA)
		got, err := a.IssueChallenge(cmd, t0.Add(time.Hour), policy)
		if err != nil || got.Superseded != uuid.Nil {
			t.Fatalf("superseded = %s, %v", got.Superseded, err)
		}
	})
	for _, c := range []struct {
		name  string
		given []domain.Event
		cmd   domain.IssueChallenge
		err   error
	}{
		{"unknown account", nil, cmd, domain.ErrAccountNotFound},
		{"2FA off", []domain.Event{registered}, cmd, domain.ErrMFANotEnabled},
		{"locked", concat(withMFA, []domain.Event{domain.MFALocked{AccountID: accountID, Failures: 10, Until: t0.Add(time.Minute), At: t0}}), cmd, domain.ErrLocked},
		{"number out of range", withMFA, domain.IssueChallenge{ChallengeID: challenge2, Number: 7, Context: cmd.Context}, domain.ErrInvalidNumber},
		{"bad IP", withMFA, domain.IssueChallenge{ChallengeID: challenge2, Number: 42, Context: domain.LoginContext{IP: "not-an-ip"}}, domain.ErrInvalidCommand},
		{"no challenge ID", withMFA, domain.IssueChallenge{Number: 42, Context: cmd.Context}, domain.ErrInvalidCommand},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, _ := domain.LoadAccount(c.given)
			if _, err := a.IssueChallenge(c.cmd, t0, policy); !errors.Is(err, c.err) {
				t.Fatalf("error = %v, want %v", err, c.err)
			}
		})
	}
}

func TestChallengeAnswers(t *testing.T) {
	t.Parallel()
	late := t0.Add(3 * time.Minute)
	approved := domain.ChallengeApproved{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Number: 42, Signature: sign(devKey, domain.AnswerApprove, 42), At: t0}
	expired := domain.ChallengeExpired{ChallengeID: challengeID, AccountID: accountID, At: late}
	run(t, domain.LoadChallenge, []gwt[*domain.Challenge]{
		{
			name:  "approve with the right number and a valid signature",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 42, Signature: sign(devKey, domain.AnswerApprove, 42)}, t0)
			},
			then: []domain.Event{approved},
		},
		{
			name:  "a wrong number is recorded and refused; the challenge stays open",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 24, Signature: sign(devKey, domain.AnswerApprove, 24), Lockout: domain.Lockout{FailuresLeft: 2}}, t0)
			},
			then: []domain.Event{domain.NumberMismatched{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Typed: 24, Signature: sign(devKey, domain.AnswerApprove, 24), At: t0}},
			err:  domain.ErrWrongNumber,
		},
		{
			name:  "a wrong number that locks the account ends the challenge in the same decision",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 24, Signature: sign(devKey, domain.AnswerApprove, 24), Lockout: domain.Lockout{FailuresLeft: 1}}, t0)
			},
			then: []domain.Event{
				domain.NumberMismatched{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Typed: 24, Signature: sign(devKey, domain.AnswerApprove, 24), At: t0},
				domain.ChallengeCancelled{ChallengeID: challengeID, AccountID: accountID, Reason: domain.CancelLocked, At: t0},
			},
			err: domain.ErrWrongNumber,
		},
		{
			name:  "while the account is locked, even the right number ends the challenge unevaluated",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 42, Signature: sign(devKey, domain.AnswerApprove, 42), Lockout: domain.Lockout{Locked: true, Until: t0.Add(time.Minute)}}, t0)
			},
			then: []domain.Event{domain.ChallengeCancelled{ChallengeID: challengeID, AccountID: accountID, Reason: domain.CancelLocked, At: t0}},
			err:  domain.ErrChallengeLocked,
		},
		{
			name:  "a challenge the lockout ended refuses the right number",
			given: []domain.Event{issued, domain.ChallengeCancelled{ChallengeID: challengeID, AccountID: accountID, Reason: domain.CancelLocked, At: t0}},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 42, Signature: sign(devKey, domain.AnswerApprove, 42), Lockout: domain.Lockout{FailuresLeft: 10}}, t0)
			},
			err: domain.ErrChallengeLocked,
		},
		{
			name:  "approve after a mismatch",
			given: []domain.Event{issued, domain.NumberMismatched{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Typed: 24, At: t0}},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 42, Signature: sign(devKey, domain.AnswerApprove, 42)}, t0)
			},
			then: []domain.Event{approved},
		},
		{
			name:  "a signature over another number",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 42, Signature: sign(devKey, domain.AnswerApprove, 24)}, t0)
			},
			err: domain.ErrBadSignature,
		},
		{
			name:  "a signature by another key",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 42, Signature: sign(dev2Key, domain.AnswerApprove, 42)}, t0)
			},
			err: domain.ErrBadSignature,
		},
		{
			name:  "a deny signature replayed as an approval",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 0, Signature: sign(devKey, domain.AnswerDeny, 0)}, t0)
			},
			err: domain.ErrBadSignature,
		},
		{
			name:  "a device the challenge was not sent to",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: device2ID, Number: 42, Signature: sign(dev2Key, domain.AnswerApprove, 42)}, t0)
			},
			err: domain.ErrDeviceNotLinked,
		},
		{
			name:  "a second answer",
			given: []domain.Event{issued, approved},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Deny(domain.DenyChallenge{DeviceID: deviceID, Signature: sign(devKey, domain.AnswerDeny, 0)}, t0)
			},
			err: domain.ErrChallengeAlreadyDecided,
		},
		{
			name:  "a late answer expires the challenge",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 42, Signature: sign(devKey, domain.AnswerApprove, 42)}, late)
			},
			then: []domain.Event{expired},
			err:  domain.ErrChallengeExpired,
		},
		{
			name: "an answer to an unknown challenge",
			when: func(c *domain.Challenge) domain.Decision {
				return c.Approve(domain.ApproveChallenge{DeviceID: deviceID, Number: 42}, t0)
			},
			err: domain.ErrChallengeNotFound,
		},
		{
			name:  "deny",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Deny(domain.DenyChallenge{DeviceID: deviceID, Signature: sign(devKey, domain.AnswerDeny, 0)}, t0)
			},
			then: []domain.Event{domain.ChallengeDenied{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Signature: sign(devKey, domain.AnswerDeny, 0), At: t0}},
		},
		{
			name:  "deny with an approval's signature",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Deny(domain.DenyChallenge{DeviceID: deviceID, Signature: sign(devKey, domain.AnswerApprove, 42)}, t0)
			},
			err: domain.ErrBadSignature,
		},
		{
			name:  "report fraud",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.ReportFraud(domain.ReportFraud{DeviceID: deviceID, Signature: sign(devKey, domain.AnswerFraud, 0)}, t0)
			},
			then: []domain.Event{domain.FraudReported{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, Signature: sign(devKey, domain.AnswerFraud, 0), At: t0}},
		},
		{
			name:  "report fraud from an unlisted device",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.ReportFraud(domain.ReportFraud{DeviceID: device2ID, Signature: sign(dev2Key, domain.AnswerFraud, 0)}, t0)
			},
			err: domain.ErrDeviceNotLinked,
		},
	})
}

func TestChallengeLifecycle(t *testing.T) {
	t.Parallel()
	late := t0.Add(3 * time.Minute)
	cancelled := domain.ChallengeCancelled{ChallengeID: challengeID, AccountID: accountID, Reason: domain.CancelSuperseded, At: t0}
	run(t, domain.LoadChallenge, []gwt[*domain.Challenge]{
		{
			name:  "acknowledge delivery",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.AcknowledgeDelivery(domain.AcknowledgeDelivery{DeviceID: deviceID}, t0)
			},
			then: []domain.Event{domain.ChallengeDelivered{ChallengeID: challengeID, DeviceID: deviceID, At: t0}},
		},
		{
			name:  "a second acknowledgement is a no-op",
			given: []domain.Event{issued, domain.ChallengeDelivered{ChallengeID: challengeID, DeviceID: deviceID, At: t0}},
			when: func(c *domain.Challenge) domain.Decision {
				return c.AcknowledgeDelivery(domain.AcknowledgeDelivery{DeviceID: deviceID}, t0)
			},
		},
		{
			name:  "acknowledgement from an unlisted device",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.AcknowledgeDelivery(domain.AcknowledgeDelivery{DeviceID: device2ID}, t0)
			},
			err: domain.ErrDeviceNotLinked,
		},
		{
			name:  "acknowledgement after the outcome",
			given: []domain.Event{issued, cancelled},
			when: func(c *domain.Challenge) domain.Decision {
				return c.AcknowledgeDelivery(domain.AcknowledgeDelivery{DeviceID: deviceID}, t0)
			},
			err: domain.ErrChallengeAlreadyDecided,
		},
		{
			name:  "expire after the expiry",
			given: []domain.Event{issued},
			when:  func(c *domain.Challenge) domain.Decision { return c.Expire(domain.ExpireChallenge{}, late) },
			then:  []domain.Event{domain.ChallengeExpired{ChallengeID: challengeID, AccountID: accountID, At: late}},
		},
		{
			name:  "expire before the expiry",
			given: []domain.Event{issued},
			when:  func(c *domain.Challenge) domain.Decision { return c.Expire(domain.ExpireChallenge{}, t0) },
			err:   domain.ErrChallengeNotExpired,
		},
		{
			name:  "expire a decided challenge",
			given: []domain.Event{issued, cancelled},
			when:  func(c *domain.Challenge) domain.Decision { return c.Expire(domain.ExpireChallenge{}, late) },
			err:   domain.ErrChallengeAlreadyDecided,
		},
		{
			name:  "cancel",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Cancel(domain.CancelChallenge{Reason: domain.CancelSuperseded}, t0)
			},
			then: []domain.Event{cancelled},
		},
		{
			name:  "cancel without a reason",
			given: []domain.Event{issued},
			when:  func(c *domain.Challenge) domain.Decision { return c.Cancel(domain.CancelChallenge{}, t0) },
			err:   domain.ErrInvalidCommand,
		},
		{
			name:  "cancel twice",
			given: []domain.Event{issued, cancelled},
			when: func(c *domain.Challenge) domain.Decision {
				return c.Cancel(domain.CancelChallenge{Reason: domain.CancelAbandoned}, t0)
			},
			err: domain.ErrChallengeAlreadyDecided,
		},
		{
			name:  "complete with a TOTP code",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.CompleteWithTOTP(domain.CompleteWithTOTP{SecretID: deviceID, Step: step0}, t0)
			},
			then: []domain.Event{domain.ChallengeCompletedTOTP{ChallengeID: challengeID, AccountID: accountID, SecretID: deviceID, Step: step0, At: t0}},
		},
		{
			name:  "complete with a TOTP code too late",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.CompleteWithTOTP(domain.CompleteWithTOTP{SecretID: deviceID, Step: step0}, late)
			},
			then: []domain.Event{domain.ChallengeExpired{ChallengeID: challengeID, AccountID: accountID, At: late}},
			err:  domain.ErrChallengeExpired,
		},
		{
			name:  "complete with a TOTP code without a secret",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.CompleteWithTOTP(domain.CompleteWithTOTP{Step: step0}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "complete with a backup code",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.CompleteWithBackupCode(domain.CompleteWithBackupCode{SetID: setID, Index: 3}, t0)
			},
			then: []domain.Event{domain.ChallengeCompletedBackupCode{ChallengeID: challengeID, AccountID: accountID, SetID: setID, Index: 3, At: t0}},
		},
		{
			name:  "complete with a backup code after cancellation",
			given: []domain.Event{issued, cancelled},
			when: func(c *domain.Challenge) domain.Decision {
				return c.CompleteWithBackupCode(domain.CompleteWithBackupCode{SetID: setID, Index: 3}, t0)
			},
			err: domain.ErrChallengeAlreadyDecided,
		},
		{
			name:  "complete with a backup code index out of range",
			given: []domain.Event{issued},
			when: func(c *domain.Challenge) domain.Decision {
				return c.CompleteWithBackupCode(domain.CompleteWithBackupCode{SetID: setID, Index: 10}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
	})
}

func TestChallengeQueries(t *testing.T) {
	t.Parallel()
	c, err := domain.LoadChallenge([]domain.Event{issued})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Pending(t0) || !c.PendingFor(deviceID, t0) || c.PendingFor(device2ID, t0) || c.Pending(t0.Add(time.Hour)) || c.Passed() {
		t.Fatal("pending queries disagree with the events")
	}
	c, _ = domain.LoadChallenge([]domain.Event{issued, domain.ChallengeDenied{ChallengeID: challengeID, AccountID: accountID, DeviceID: deviceID, At: t0}})
	if c.Pending(t0) || c.Passed() || c.Outcome() != domain.OutcomeDenied || !c.DecidedAt().Equal(t0) {
		t.Fatalf("denied challenge: outcome %q passed %v", c.Outcome(), c.Passed())
	}
}

func TestSignedAnswerPayloadIsCanonical(t *testing.T) {
	t.Parallel()
	got := domain.SignedAnswerPayload(challengeID, domain.AnswerApprove, 7, []byte{0xab, 0x01})
	want := "assent.challenge-answer.v1\nchallenge:0195a1b2-0000-7000-8000-0000000000c1\nanswer:approve\nnumber:07\ncontext:ab01\n"
	if string(got) != want {
		t.Fatalf("payload:\n%q\nwant\n%q", got, want)
	}
	// Length prefixes keep the context digest unambiguous when values hold separators.
	a := domain.LoginContext{UserAgent: "x\nip:1:y", IP: "1.2.3.4", At: t0}.Digest()
	b := domain.LoginContext{UserAgent: "x", IP: "y\nip:7:1.2.3.4", At: t0}.Digest()
	if bytes.Equal(a[:], b[:]) {
		t.Fatal("two different contexts share a digest")
	}
}

// TestIssuedChallengeCarriesItsDecisionTime: the context keeps the sign-in's time in whole
// seconds and carries the decision's time to the clock's precision, which the digest leaves
// out so that devices rebuild it as before.
func TestIssuedChallengeCarriesItsDecisionTime(t *testing.T) {
	t.Parallel()
	now := t0.Add(1234567 * time.Nanosecond).In(time.FixedZone("CET", 3600))
	a, _ := domain.LoadAccount(withMFA)
	got, err := a.IssueChallenge(domain.IssueChallenge{ChallengeID: challenge2, Number: 42,
		Context: domain.LoginContext{UserAgent: "Firefox/140", IP: "203.0.113.7"}}, now, policy)
	if err != nil {
		t.Fatal(err)
	}
	ci := got.ChallengeEvents[0].(domain.ChallengeIssued)
	if !ci.Context.IssuedAt.Equal(now) || ci.Context.IssuedAt.Location() != time.UTC {
		t.Fatalf("issued_at %v, want %v in UTC", ci.Context.IssuedAt, now)
	}
	if !ci.Context.At.Equal(t0) {
		t.Fatalf("at %v, want the whole second %v", ci.Context.At, t0)
	}
	bare := ci.Context
	bare.IssuedAt = time.Time{}
	if d := bare.Digest(); !bytes.Equal(ci.ContextDigest, d[:]) {
		t.Fatal("the digest depends on issued_at")
	}
}
