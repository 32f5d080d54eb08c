package push_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
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
