package domain_test

import (
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
)

func TestRenameAndRemoveFactors(t *testing.T) {
	t.Parallel()
	withApp := []domain.Event{registered, appAdded, appConfirmed, mfaEnabled}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "rename a linked device",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.RenameDevice(domain.RenameDevice{DeviceID: deviceID, Name: "work phone"}, t0)
			},
			then: []domain.Event{domain.DeviceRenamed{AccountID: accountID, DeviceID: deviceID, Name: "work phone", At: t0}},
		},
		{
			name:  "a device of another account is not renamed",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.RenameDevice(domain.RenameDevice{DeviceID: device2ID, Name: "x"}, t0)
			},
			err: domain.ErrDeviceNotLinked,
		},
		{
			name:  "an empty name is refused",
			given: withMFA,
			when: func(a *domain.Account) domain.Decision {
				return a.RenameDevice(domain.RenameDevice{DeviceID: deviceID, Name: ""}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "rename an authenticator app",
			given: withApp,
			when: func(a *domain.Account) domain.Decision {
				return a.RenameTOTPApp(domain.RenameTOTPApp{AppID: appID, Name: "spare"}, t0)
			},
			then: []domain.Event{domain.TOTPAppRenamed{AccountID: accountID, AppID: appID, Name: "spare", At: t0}},
		},
		{
			name:  "a name longer than 64 characters is refused",
			given: withApp,
			when: func(a *domain.Account) domain.Decision {
				return a.RenameTOTPApp(domain.RenameTOTPApp{AppID: appID, Name: string(make([]rune, 65, 65))}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "the last second factor is not removed while 2FA is on",
			given: withApp,
			when: func(a *domain.Account) domain.Decision {
				return a.RemoveTOTPApp(domain.RemoveTOTPApp{AppID: appID}, t0)
			},
			err: domain.ErrLastSecondFactor,
		},
		{
			name:  "an app goes when a device is left",
			given: concat(withApp, []domain.Event{deviceLinked}),
			when: func(a *domain.Account) domain.Decision {
				return a.RemoveTOTPApp(domain.RemoveTOTPApp{AppID: appID}, t0)
			},
			then: []domain.Event{domain.TOTPAppRemoved{AccountID: accountID, AppID: appID, At: t0}},
		},
		{
			name:  "an app never confirmed always goes",
			given: []domain.Event{registered, deviceLinked, mfaEnabled, appAdded},
			when: func(a *domain.Account) domain.Decision {
				return a.RemoveTOTPApp(domain.RemoveTOTPApp{AppID: appID}, t0)
			},
			then: []domain.Event{domain.TOTPAppRemoved{AccountID: accountID, AppID: appID, At: t0}},
		},
		{
			name:  "a removed app is gone",
			given: concat(withApp, []domain.Event{deviceLinked, domain.TOTPAppRemoved{AccountID: accountID, AppID: appID, At: t0}}),
			when: func(a *domain.Account) domain.Decision {
				return a.RemoveTOTPApp(domain.RemoveTOTPApp{AppID: appID}, t0)
			},
			err: domain.ErrTOTPAppNotFound,
		},
	})
}

func TestEndSessions(t *testing.T) {
	t.Parallel()
	keep := make([]byte, 32)
	keep[0] = 7
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "end every other session",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.EndSessions(domain.EndSessions{KeepDigest: keep, Until: t0.Add(12 * time.Hour)}, t0)
			},
			then: []domain.Event{domain.SessionsEnded{AccountID: accountID, KeptDigest: keep, Until: t0.Add(12 * time.Hour), At: t0}},
		},
		{
			name:  "a kept digest of the wrong size is refused",
			given: []domain.Event{registered},
			when: func(a *domain.Account) domain.Decision {
				return a.EndSessions(domain.EndSessions{KeepDigest: keep[:8], Until: t0.Add(time.Hour)}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
	})
}

func TestSessionSeenIsCoarse(t *testing.T) {
	t.Parallel()
	digest := make([]byte, 32)
	started := domain.SessionStarted{AccountID: accountID, SessionDigest: digest, IP: "192.0.2.1", Expires: t0.Add(12 * time.Hour), At: t0}
	run(t, domain.LoadSession, []gwt[*domain.Session]{
		{
			name: "start a session",
			when: func(s *domain.Session) domain.Decision {
				return s.Start(domain.StartSession{AccountID: accountID, SessionDigest: digest, IP: "192.0.2.1", Expires: t0.Add(12 * time.Hour)}, t0)
			},
			then: []domain.Event{started},
		},
		{
			name:  "a session starts once",
			given: []domain.Event{started},
			when: func(s *domain.Session) domain.Decision {
				return s.Start(domain.StartSession{AccountID: accountID, SessionDigest: digest, Expires: t0.Add(time.Hour)}, t0)
			},
			err: domain.ErrInvalidCommand,
		},
		{
			name:  "a use soon after the last one records nothing",
			given: []domain.Event{started},
			when: func(s *domain.Session) domain.Decision {
				return s.See("192.0.2.2", t0.Add(domain.SessionSeenEvery-time.Second))
			},
		},
		{
			name:  "a use a period later is recorded",
			given: []domain.Event{started},
			when:  func(s *domain.Session) domain.Decision { return s.See("192.0.2.2", t0.Add(domain.SessionSeenEvery)) },
			then:  []domain.Event{domain.SessionSeen{AccountID: accountID, SessionDigest: digest, IP: "192.0.2.2", At: t0.Add(domain.SessionSeenEvery)}},
		},
		{
			name: "an unknown session is not seen",
			when: func(s *domain.Session) domain.Decision { return s.See("192.0.2.2", t0) },
			err:  domain.ErrSessionNotFound,
		},
	})
}

func TestResumePush(t *testing.T) {
	t.Parallel()
	muted := domain.PushMuted{AccountID: accountID, ChallengeID: challengeID, Until: t0.Add(10 * time.Minute), At: t0.Add(-10 * time.Minute)}
	resumed := domain.PushResumed{AccountID: accountID, ChallengeID: challenge2, At: t0}
	run(t, domain.LoadAccount, []gwt[*domain.Account]{
		{
			name:  "resume paused pushes",
			given: concat(withMFA, []domain.Event{muted}),
			when: func(a *domain.Account) domain.Decision {
				return a.ResumePush(domain.ResumePush{ChallengeID: challenge2}, t0)
			},
			then: []domain.Event{resumed},
		},
		{
			name:  "nothing to resume once the pause is over",
			given: concat(withMFA, []domain.Event{muted}),
			when: func(a *domain.Account) domain.Decision {
				return a.ResumePush(domain.ResumePush{ChallengeID: challenge2}, t0.Add(10*time.Minute))
			},
			err: domain.ErrPushNotPaused,
		},
		{
			name:  "nothing to resume once resumed",
			given: concat(withMFA, []domain.Event{muted, resumed}),
			when: func(a *domain.Account) domain.Decision {
				return a.ResumePush(domain.ResumePush{ChallengeID: challenge2}, t0)
			},
			err: domain.ErrPushNotPaused,
		},
	})
}

// TestLinkingDeviceIsSigned checks that the name of a device being linked from the phone is
// part of what an approval signs: another name, or none, gives another digest.
func TestLinkingDeviceIsSigned(t *testing.T) {
	t.Parallel()
	plain := domain.LoginContext{UserAgent: "assent-device", IP: "192.0.2.1", At: t0}
	named, other := plain, plain
	named.LinkingDevice, other.LinkingDevice = "second", "third"
	if plain.Digest() == named.Digest() || named.Digest() == other.Digest() {
		t.Fatal("the digest does not cover the name of the device being linked")
	}
	integrated := plain
	integrated.App = "second"
	if integrated.Digest() == named.Digest() {
		t.Fatal("a linking context and an integration's context share a digest")
	}
}
