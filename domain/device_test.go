package domain_test

import (
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
)

func TestRegisterDevice(t *testing.T) {
	t.Parallel()
	cmd := domain.RegisterDevice{DeviceID: deviceID, PublicKey: devPub, Name: "Pixel 9", Platform: "android"}
	run(t, domain.LoadDevice, []gwt[*domain.Device]{
		{
			name: "register",
			when: func(d *domain.Device) domain.Decision { return d.Register(cmd, t0) },
			then: []domain.Event{domain.DeviceRegistered{DeviceID: deviceID, PublicKey: devPub, Name: "Pixel 9", Platform: "android", At: t0}},
		},
		{
			name:  "register twice",
			given: []domain.Event{domain.DeviceRegistered{DeviceID: deviceID, PublicKey: devPub, Name: "Pixel 9", Platform: "android", At: t0}},
			when:  func(d *domain.Device) domain.Decision { return d.Register(cmd, t0) },
			err:   domain.ErrDeviceExists,
		},
		{
			name: "a key that is not Ed25519",
			when: func(d *domain.Device) domain.Decision {
				return d.Register(domain.RegisterDevice{DeviceID: deviceID, PublicKey: devPub[:31], Name: "Pixel", Platform: "android"}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name: "a name with a control character",
			when: func(d *domain.Device) domain.Decision {
				return d.Register(domain.RegisterDevice{DeviceID: deviceID, PublicKey: devPub, Name: "Pix\x00el", Platform: "android"}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name: "no platform",
			when: func(d *domain.Device) domain.Decision {
				return d.Register(domain.RegisterDevice{DeviceID: deviceID, PublicKey: devPub, Name: "Pixel"}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
	})
}

func TestClaimEmail(t *testing.T) {
	t.Parallel()
	run(t, domain.LoadEmailClaim, []gwt[*domain.EmailClaim]{
		{
			name: "a free email",
			when: func(c *domain.EmailClaim) domain.Decision {
				return c.Claim(domain.ClaimEmail{AccountID: accountID}, t0)
			},
			then: []domain.Event{domain.EmailClaimed{AccountID: accountID, At: t0}},
		},
		{
			name:  "a taken email",
			given: []domain.Event{domain.EmailClaimed{AccountID: accountID, At: t0}},
			when: func(c *domain.EmailClaim) domain.Decision {
				return c.Claim(domain.ClaimEmail{AccountID: device2ID}, t0)
			},
			err: domain.ErrEmailTaken,
		},
		{
			name:  "a taken email whose account exists, long after",
			given: []domain.Event{domain.EmailClaimed{AccountID: accountID, At: t0}},
			when: func(c *domain.EmailClaim) domain.Decision {
				return c.Claim(domain.ClaimEmail{AccountID: device2ID}, t0.Add(time.Hour))
			},
			err: domain.ErrEmailTaken,
		},
		{
			name:  "an unfinished registration's claim, too young to take over",
			given: []domain.Event{domain.EmailClaimed{AccountID: accountID, At: t0}},
			when: func(c *domain.EmailClaim) domain.Decision {
				return c.Claim(domain.ClaimEmail{AccountID: device2ID, HolderMissing: true}, t0.Add(domain.UnfinishedClaimTakeover-time.Second))
			},
			err: domain.ErrEmailTaken,
		},
		{
			name:  "an unfinished registration's claim taken over",
			given: []domain.Event{domain.EmailClaimed{AccountID: accountID, At: t0}},
			when: func(c *domain.EmailClaim) domain.Decision {
				return c.Claim(domain.ClaimEmail{AccountID: device2ID, HolderMissing: true}, t0.Add(domain.UnfinishedClaimTakeover))
			},
			then: []domain.Event{domain.EmailClaimed{AccountID: device2ID, At: t0.Add(domain.UnfinishedClaimTakeover)}},
		},
		{
			name: "no account",
			when: func(c *domain.EmailClaim) domain.Decision { return c.Claim(domain.ClaimEmail{}, t0) },
			err:  domain.ErrInvalidCommand,
		},
	})
}

func TestEmailStreamIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	a, b := mustEmail("Ada@Example.COM"), mustEmail(" ada@example.com ")
	if domain.EmailStream(a) != domain.EmailStream(b) {
		t.Fatal("two spellings of one email have different streams")
	}
	if s := domain.EmailStream(a); len(s) != len("email-")+64 || s[:6] != "email-" {
		t.Fatalf("stream %q is not email-<hex sha256>", s)
	}
}

func TestEnrollment(t *testing.T) {
	t.Parallel()
	acc, _ := domain.LoadAccount([]domain.Event{registered})
	started := domain.EnrollmentStarted{EnrollmentID: tokenID, AccountID: accountID, ExpiresAt: t0.Add(5 * time.Minute), At: t0}
	completed := domain.EnrollmentCompleted{EnrollmentID: tokenID, AccountID: accountID, DeviceID: deviceID, PublicKey: devPub, At: t0.Add(time.Minute)}
	late := t0.Add(5 * time.Minute)
	expired := domain.EnrollmentExpired{EnrollmentID: tokenID, AccountID: accountID, At: late}
	complete := func(at time.Time) func(*domain.Enrollment) domain.Decision {
		return func(en *domain.Enrollment) domain.Decision {
			return en.Complete(domain.CompleteEnrollment{DeviceID: deviceID, PublicKey: devPub}, at)
		}
	}
	run(t, domain.LoadEnrollment, []gwt[*domain.Enrollment]{
		{
			name: "start for 5 minutes",
			when: func(en *domain.Enrollment) domain.Decision {
				return en.Start(domain.StartEnrollment{TokenID: tokenID, Account: acc}, t0, policy)
			},
			then: []domain.Event{started},
		},
		{
			name:  "start twice",
			given: []domain.Event{started},
			when: func(en *domain.Enrollment) domain.Decision {
				return en.Start(domain.StartEnrollment{TokenID: tokenID, Account: acc}, t0, policy)
			},
			err: domain.ErrEnrollmentExists,
		},
		{
			name: "start for an unknown account",
			when: func(en *domain.Enrollment) domain.Decision {
				return en.Start(domain.StartEnrollment{TokenID: tokenID, Account: &domain.Account{}}, t0, policy)
			},
			err: domain.ErrAccountNotFound,
		},
		{
			name:  "complete in time",
			given: []domain.Event{started},
			when:  complete(t0.Add(time.Minute)),
			then:  []domain.Event{completed},
		},
		{
			name:  "complete a second time",
			given: []domain.Event{started, completed},
			when:  complete(t0.Add(2 * time.Minute)),
			err:   domain.ErrEnrollmentUsed,
		},
		{
			name:  "complete too late records the expiry",
			given: []domain.Event{started},
			when:  complete(late),
			then:  []domain.Event{expired},
			err:   domain.ErrEnrollmentExpired,
		},
		{
			name:  "complete after the expiry was recorded",
			given: []domain.Event{started, expired},
			when:  complete(late),
			err:   domain.ErrEnrollmentExpired,
		},
		{
			name: "complete an unknown enrollment",
			when: complete(t0),
			err:  domain.ErrEnrollmentNotFound,
		},
		{
			name:  "complete with a bad key",
			given: []domain.Event{started},
			when: func(en *domain.Enrollment) domain.Decision {
				return en.Complete(domain.CompleteEnrollment{DeviceID: deviceID, PublicKey: []byte("short")}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "expire after the TTL",
			given: []domain.Event{started},
			when:  func(en *domain.Enrollment) domain.Decision { return en.Expire(domain.ExpireEnrollment{}, late) },
			then:  []domain.Event{expired},
		},
		{
			name:  "expire before the TTL",
			given: []domain.Event{started},
			when:  func(en *domain.Enrollment) domain.Decision { return en.Expire(domain.ExpireEnrollment{}, t0) },
			err:   domain.ErrInvalidCommand,
		},
		{
			name:  "expire a used enrollment",
			given: []domain.Event{started, completed},
			when:  func(en *domain.Enrollment) domain.Decision { return en.Expire(domain.ExpireEnrollment{}, late) },
			err:   domain.ErrEnrollmentUsed,
		},
		{
			name:  "expire twice is a no-op",
			given: []domain.Event{started, expired},
			when:  func(en *domain.Enrollment) domain.Decision { return en.Expire(domain.ExpireEnrollment{}, late) },
		},
	})
}
