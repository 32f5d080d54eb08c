package domain_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
)

var ikey = mustIntegrationKey("DIWJ8X6AEYOR5OMC6TQ1")

func mustIntegrationKey(s string) domain.IntegrationKey {
	k, err := domain.ParseIntegrationKey(s)
	if err != nil {
		panic(err)
	}
	return k
}

func init() {
	samples = append(samples,
		domain.IntegrationCreated{Key: ikey, Name: "VPN", SealedSecret: sealed, NumberMatching: true, LegacyV1: true, At: t0},
		domain.IntegrationSecretRotated{Key: ikey, SealedSecret: sealed, At: t0},
		domain.IntegrationDisabled{Key: ikey, At: t0},
		userCreated,
	)
}

func TestParseIntegrationKey(t *testing.T) {
	t.Parallel()
	for s, ok := range map[string]bool{
		"DIWJ8X6AEYOR5OMC6TQ1":  true,
		"DIWJ8X6AEYOR5OMC6TQ":   false, // 19
		"DIWJ8X6AEYOR5OMC6TQ12": false, // 21
		"XXWJ8X6AEYOR5OMC6TQ1":  false,
		"DIwj8X6AEYOR5OMC6TQ1":  false,
		"DIWJ8X6AEYOR5OMC6TQ-":  false,
		"":                      false,
	} {
		_, err := domain.ParseIntegrationKey(s)
		if (err == nil) != ok {
			t.Errorf("ParseIntegrationKey(%q) = %v, want ok=%v", s, err, ok)
		}
		if !ok && !errors.Is(err, domain.ErrInvalidIntegrationKey) {
			t.Errorf("ParseIntegrationKey(%q) = %v, want ErrInvalidIntegrationKey", s, err)
		}
	}
}

func TestIntegrationDecisions(t *testing.T) {
	t.Parallel()
	created := domain.IntegrationCreated{Key: ikey, Name: "VPN", SealedSecret: sealed, At: t0}
	disabled := domain.IntegrationDisabled{Key: ikey, At: t0}
	run(t, domain.LoadIntegration, []gwt[*domain.Integration]{
		{
			name: "create",
			when: func(i *domain.Integration) domain.Decision {
				return i.Create(domain.CreateIntegration{Key: ikey, Name: "VPN", SealedSecret: sealed}, t0)
			},
			then: []domain.Event{created},
		},
		{
			name:  "create twice",
			given: []domain.Event{created},
			when: func(i *domain.Integration) domain.Decision {
				return i.Create(domain.CreateIntegration{Key: ikey, Name: "VPN", SealedSecret: sealed}, t0)
			},
			err: domain.ErrIntegrationExists,
		},
		{
			name: "create without a name",
			when: func(i *domain.Integration) domain.Decision {
				return i.Create(domain.CreateIntegration{Key: ikey, Name: " ", SealedSecret: sealed}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name: "create without a secret",
			when: func(i *domain.Integration) domain.Decision {
				return i.Create(domain.CreateIntegration{Key: ikey, Name: "VPN"}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "rotate",
			given: []domain.Event{created},
			when: func(i *domain.Integration) domain.Decision {
				return i.RotateSecret(domain.RotateIntegrationSecret{SealedSecret: []byte{7}}, t0)
			},
			then: []domain.Event{domain.IntegrationSecretRotated{Key: ikey, SealedSecret: []byte{7}, At: t0}},
		},
		{
			name: "rotate unknown",
			when: func(i *domain.Integration) domain.Decision {
				return i.RotateSecret(domain.RotateIntegrationSecret{SealedSecret: []byte{7}}, t0)
			},
			err: domain.ErrIntegrationNotFound,
		},
		{
			name:  "rotate disabled",
			given: []domain.Event{created, disabled},
			when: func(i *domain.Integration) domain.Decision {
				return i.RotateSecret(domain.RotateIntegrationSecret{SealedSecret: []byte{7}}, t0)
			},
			err: domain.ErrIntegrationDisabled,
		},
		{
			name:  "disable",
			given: []domain.Event{created},
			when:  func(i *domain.Integration) domain.Decision { return i.Disable(domain.DisableIntegration{}, t0) },
			then:  []domain.Event{disabled},
		},
		{
			name:  "disable twice",
			given: []domain.Event{created, disabled},
			when:  func(i *domain.Integration) domain.Decision { return i.Disable(domain.DisableIntegration{}, t0) },
			err:   domain.ErrIntegrationDisabled,
		},
	})
}

func TestLoadIntegrationFoldsTheLatestSecret(t *testing.T) {
	t.Parallel()
	i, err := domain.LoadIntegration([]domain.Event{
		domain.IntegrationCreated{Key: ikey, Name: "VPN", SealedSecret: sealed, At: t0},
		domain.IntegrationSecretRotated{Key: ikey, SealedSecret: []byte{7}, At: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(i.SealedSecret()) != string([]byte{7}) || i.Disabled() || i.Name() != "VPN" || i.Key() != ikey {
		t.Fatalf("folded %+v", i)
	}
	if _, err := domain.LoadIntegration([]domain.Event{domain.SignInFailed{AccountID: accountID, At: t0}}); !errors.Is(err, domain.ErrMalformedEvent) {
		t.Fatalf("an account event in an integration stream: %v", err)
	}
}

var userCreated = domain.IntegrationUserCreated{AccountID: accountID, Integration: ikey, Username: "ada", At: t0.Add(-time.Hour)}

func TestCreateIntegrationUser(t *testing.T) {
	t.Parallel()
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name: "create",
			when: func(a *domain.Account) domain.Decision {
				return a.CreateIntegrationUser(domain.CreateIntegrationUser{AccountID: accountID, Integration: ikey, Username: "ada"}, t0.Add(-time.Hour))
			},
			then: []domain.Event{userCreated},
		},
		{
			name:  "twice",
			given: []domain.Event{userCreated},
			when: func(a *domain.Account) domain.Decision {
				return a.CreateIntegrationUser(domain.CreateIntegrationUser{AccountID: accountID, Integration: ikey, Username: "ada"}, t0)
			},
			err: domain.ErrAccountExists,
		},
		{
			name: "a username with surrounding spaces",
			when: func(a *domain.Account) domain.Decision {
				return a.CreateIntegrationUser(domain.CreateIntegrationUser{AccountID: accountID, Integration: ikey, Username: " ada"}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
	})
	a, _ := domain.LoadAccount([]domain.Event{userCreated})
	if a.Integration() != ikey || a.Username() != "ada" || !a.Exists() || a.PasswordHash() != "" {
		t.Fatalf("folded user %+v", a)
	}
}

// An integration user with a linked device: how enroll and the first link leave it.
var integrationUser = []domain.Event{
	userCreated,
	domain.DeviceLinked{AccountID: accountID, DeviceID: deviceID, PublicKey: devPub, Name: "Pixel", Method: domain.LinkFromComputer, EnrollmentID: tokenID, SealedTOTPSecret: sealed, At: t0.Add(-time.Hour)},
	device2Linked, mfaEnabled, codesIssued,
}

func TestIssueIntegrationChallenge(t *testing.T) {
	t.Parallel()
	lc := domain.LoginContext{App: "VPN", Type: "Login request", DisplayName: "Ada", PushInfo: []domain.PushInfoItem{{Key: "from", Value: "vpn-1"}}, NoNumber: true}
	a, err := domain.LoadAccount(integrationUser)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("no number, one device, no IP", func(t *testing.T) {
		t.Parallel()
		got, err := a.IssueChallenge(domain.IssueChallenge{ChallengeID: challenge2, Context: lc, OnlyDevice: device2ID}, t0, policy)
		if err != nil {
			t.Fatal(err)
		}
		is := got.ChallengeEvents[0].(domain.ChallengeIssued)
		if is.Number != 0 || len(is.Devices) != 1 || is.Devices[0].DeviceID != device2ID || is.Context.App != "VPN" || is.Context.IP != "" {
			t.Fatalf("issued %+v", is)
		}
		// The device approves with the number 0, signing the v2 digest of what it showed.
		c, err := domain.LoadChallenge(got.ChallengeEvents)
		if err != nil {
			t.Fatal(err)
		}
		dg := is.Context.Digest()
		sig := ed25519.Sign(dev2Key, domain.SignedAnswerPayload(challenge2, domain.AnswerApprove, 0, dg[:]))
		d := c.Approve(domain.ApproveChallenge{DeviceID: device2ID, Number: 0, Signature: sig}, t0)
		if d.Err != nil || len(d.Events) != 1 {
			t.Fatalf("approve without a number: %+v", d)
		}
	})
	t.Run("no push", func(t *testing.T) {
		t.Parallel()
		got, err := a.IssueChallenge(domain.IssueChallenge{ChallengeID: challenge2, Context: lc, NoPush: true}, t0, policy)
		if err != nil {
			t.Fatal(err)
		}
		if is := got.ChallengeEvents[0].(domain.ChallengeIssued); len(is.Devices) != 0 {
			t.Fatalf("a code-only challenge was pushed: %+v", is.Devices)
		}
	})
	t.Run("a device not linked", func(t *testing.T) {
		t.Parallel()
		if _, err := a.IssueChallenge(domain.IssueChallenge{ChallengeID: challenge2, Context: lc, OnlyDevice: challengeID}, t0, policy); !errors.Is(err, domain.ErrDeviceNotLinked) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a number without number matching", func(t *testing.T) {
		t.Parallel()
		if _, err := a.IssueChallenge(domain.IssueChallenge{ChallengeID: challenge2, Number: 42, Context: lc}, t0, policy); !errors.Is(err, domain.ErrInvalidNumber) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("too many push info pairs", func(t *testing.T) {
		t.Parallel()
		big := lc
		big.PushInfo = make([]domain.PushInfoItem, 21)
		for i := range big.PushInfo {
			big.PushInfo[i] = domain.PushInfoItem{Key: "k", Value: "v"}
		}
		if _, err := a.IssueChallenge(domain.IssueChallenge{ChallengeID: challenge2, Context: big}, t0, policy); !errors.Is(err, domain.ErrInvalidCommand) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestLoginContextDigestForms: a context without an integration's fields keeps the v1 digest
// (devices already in use rebuild it); any of those fields switches to v2, which covers them.
func TestLoginContextDigestForms(t *testing.T) {
	t.Parallel()
	base := domain.LoginContext{UserAgent: "Firefox", IP: "203.0.113.9", At: time.Unix(1_800_000_000, 0).UTC()}
	v1 := base.Digest()
	// The v1 form, written out as docs/api.md states it.
	want := sha256Hex("assent.login-context.v1\nuser_agent:7:Firefox\nip:11:203.0.113.9\nplace:0:\nat:1800000000\n")
	if hexOf(v1[:]) != want {
		t.Fatalf("v1 digest changed: %x", v1)
	}
	seen := map[[32]byte]string{v1: "none"}
	for name, lc := range map[string]domain.LoginContext{
		"app":          {App: "VPN"},
		"type":         {Type: "Login"},
		"display name": {DisplayName: "Ada"},
		"push info":    {PushInfo: []domain.PushInfoItem{{Key: "a", Value: "b"}}},
		"push info 2":  {PushInfo: []domain.PushInfoItem{{Key: "a", Value: "c"}}},
		"no number":    {NoNumber: true},
	} {
		lc.UserAgent, lc.IP, lc.At = base.UserAgent, base.IP, base.At
		d := lc.Digest()
		if other, dup := seen[d]; dup {
			t.Errorf("%s has the digest of %s", name, other)
		}
		seen[d] = name
	}
	if !reflect.DeepEqual(base.Digest(), v1) {
		t.Fatal("digest not stable")
	}
}

func sha256Hex(s string) string { d := sha256.Sum256([]byte(s)); return hex.EncodeToString(d[:]) }

func hexOf(b []byte) string { return hex.EncodeToString(b) }
