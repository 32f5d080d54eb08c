package push_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/bridge"
	"github.com/assent-dev/assent/transport/push"
)

// TestAccountNewsOfSessions checks that a security page watching an account hears
// sessions_changed when a session of the account begins, is signed out, or ends with the
// others, and hears nothing of another account's sessions.
func TestAccountNewsOfSessions(t *testing.T) {
	t.Parallel()
	hub := push.NewHub(&backend{}, push.Options{})
	account, other := uuid.New(), uuid.New()
	news, stop := hub.WatchAccount(account)
	defer stop()
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	digest := make([]byte, 32)
	for _, e := range []domain.Event{
		domain.SessionStarted{AccountID: other, SessionDigest: digest, At: at},
		domain.SessionStarted{AccountID: account, SessionDigest: digest, At: at},
		domain.SessionSeen{AccountID: account, SessionDigest: digest, At: at},
		domain.SignedOut{AccountID: account, SessionDigest: digest, At: at},
		domain.SessionsEnded{AccountID: account, At: at},
	} {
		hub.HandleEvent(e)
	}
	for i := range 3 {
		select {
		case n := <-news:
			if n.Kind != "sessions_changed" {
				t.Fatalf("news %d: %+v, want sessions_changed", i, n)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("news %d never came", i)
		}
	}
	select {
	case n := <-news:
		t.Fatalf("more news than the three session events: %+v", n)
	default:
	}
}

// TestHandlerDecodesEveryTypeTheHubReactsTo feeds the hub through its log handler, as the
// node does, and checks that the types it reacts to are decoded and acted on: every final
// event of a challenge (as the registry lists them) settles a waiting page, and the account's
// news arrive. The handler decodes only these types, so a type missing from its list would be
// skipped here and the test would time out on it.
func TestHandlerDecodesEveryTypeTheHubReactsTo(t *testing.T) {
	t.Parallel()
	hub := push.NewHub(&backend{}, push.Options{})
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	account, device := uuid.New(), uuid.New()
	feed := func(e domain.Event) {
		t.Helper()
		typ, version, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		rec := eventstore.RecordedEvent{ID: uuid.New(), Type: typ, SchemaVersion: version, Data: data, Position: 1, Metadata: eventstore.Metadata{RecordedAt: at}}
		if err := hub.Handler(bridge.Message(&rec)); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}

	finals := map[string]func(uuid.UUID) domain.Event{
		"challenge.approved": func(c uuid.UUID) domain.Event {
			return domain.ChallengeApproved{ChallengeID: c, AccountID: account, DeviceID: device, Signature: []byte{1}, At: at}
		},
		"challenge.denied": func(c uuid.UUID) domain.Event {
			return domain.ChallengeDenied{ChallengeID: c, AccountID: account, DeviceID: device, Signature: []byte{1}, At: at}
		},
		"challenge.fraud.reported": func(c uuid.UUID) domain.Event {
			return domain.FraudReported{ChallengeID: c, AccountID: account, DeviceID: device, Signature: []byte{1}, At: at}
		},
		"challenge.expired": func(c uuid.UUID) domain.Event {
			return domain.ChallengeExpired{ChallengeID: c, AccountID: account, At: at}
		},
		"challenge.cancelled": func(c uuid.UUID) domain.Event {
			return domain.ChallengeCancelled{ChallengeID: c, AccountID: account, Reason: domain.CancelAbandoned, At: at}
		},
		"challenge.completed.totp": func(c uuid.UUID) domain.Event {
			return domain.ChallengeCompletedTOTP{ChallengeID: c, AccountID: account, SecretID: device, Step: 1, At: at}
		},
		"challenge.completed.backupcode": func(c uuid.UUID) domain.Event {
			return domain.ChallengeCompletedBackupCode{ChallengeID: c, AccountID: account, SetID: device, Index: 1, At: at}
		},
	}
	for _, typ := range domain.TypesOf[domain.FinalEvent](domain.Events) {
		make, ok := finals[typ]
		if !ok {
			t.Errorf("final event %s has no case in this test", typ)
			continue
		}
		challenge := uuid.New()
		outcome, stop := hub.Await(challenge)
		feed(make(challenge))
		select {
		case o := <-outcome:
			if o.ChallengeID != challenge {
				t.Errorf("%s settled %s, want %s", typ, o.ChallengeID, challenge)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s fed through the handler settled no waiting page", typ)
		}
		stop()
	}

	news, stop := hub.WatchAccount(account)
	defer stop()
	digest := make([]byte, 32)
	for _, tc := range []struct {
		e    domain.Event
		kind string
	}{
		{domain.SessionSeen{AccountID: account, SessionDigest: digest, At: at}, ""}, // not news: skipped
		{domain.DeviceLinked{AccountID: account, DeviceID: device, PublicKey: make([]byte, 32), Name: "Pixel", Method: domain.LinkFromComputer, At: at}, "device_linked"},
		{domain.DeviceUnlinked{AccountID: account, DeviceID: device, At: at}, "device_unlinked"},
		{domain.PushMuted{AccountID: account, ChallengeID: uuid.New(), Until: at, At: at}, "push_paused"},
		{domain.PushResumed{AccountID: account, ChallengeID: uuid.New(), At: at}, "push_resumed"},
		{domain.SessionStarted{AccountID: account, SessionDigest: digest, Expires: at, At: at}, "sessions_changed"},
		{domain.SignedOut{AccountID: account, SessionDigest: digest, Until: at, At: at}, "sessions_changed"},
		{domain.SessionsEnded{AccountID: account, At: at}, "sessions_changed"},
	} {
		feed(tc.e)
		if tc.kind == "" {
			continue
		}
		select {
		case n := <-news:
			if n.Kind != tc.kind {
				t.Errorf("%s: news %q, want %q", tc.e.EventType(), n.Kind, tc.kind)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s fed through the handler brought no news", tc.e.EventType())
		}
	}
}
