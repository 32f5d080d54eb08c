package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// TestIntegrationEventsAreSummarized: the integrations' events read as sentences that name no
// secret, instead of their bare type.
func TestIntegrationEventsAreSummarized(t *testing.T) {
	t.Parallel()
	key, _ := domain.ParseIntegrationKey("DIWJ8X6AEYOR5OMC6TQ1")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		e    domain.Event
		want string
	}{
		{domain.IntegrationCreated{Key: key, Name: "VPN", SealedSecret: []byte("sealed"), At: at}, `integration DIWJ8X6AEYOR5OMC6TQ1 "VPN" created`},
		{domain.IntegrationSecretRotated{Key: key, SealedSecret: []byte("sealed"), At: at}, "secret key replaced (sealed, not shown)"},
		{domain.IntegrationDisabled{Key: key, At: at}, "integration DIWJ8X6AEYOR5OMC6TQ1 disabled"},
		{domain.IntegrationUserCreated{AccountID: uuid.New(), Integration: key, Username: "ada", At: at}, `user "ada" of integration`},
		{domain.BypassCodesIssued{AccountID: uuid.New(), SetID: uuid.New(), Hashes: []string{"k1:a", "k1:b"}, ExpiresAt: at, At: at}, "2 bypass codes issued"},
	} {
		got := summarize(c.e)
		if !strings.Contains(got, c.want) || strings.Contains(got, "sealed\"") || strings.Contains(got, "k1:") {
			t.Errorf("%s: %q, want %q", c.e.EventType(), got, c.want)
		}
	}
}
