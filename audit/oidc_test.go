package audit_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
)

// TestOIDCEventsAreSummarizedAndRedacted: the provider's events read as sentences, and the
// sealed signing key, the client secret's hash and the token hashes never reach audit output.
func TestOIDCEventsAreSummarizedAndRedacted(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{0xAB}, 32)
	account, challenge := uuid.New(), uuid.New()
	for _, tc := range []struct {
		e    domain.Event
		says string
	}{
		{domain.OIDCSigningKeyAdded{KeyID: "k1", Algorithm: "RS256", SealedKey: secret, At: time.Now()}, "signing key k1 (RS256) added (sealed, not shown)"},
		{domain.OIDCClientRegistered{ClientID: "c1", Name: "Grafana", RedirectURIs: []string{"https://g.example/cb"}, SecretHash: secret, At: time.Now()}, "secret set (hashed, not shown)"},
		{domain.OIDCCodeIssued{AuthorizationID: uuid.New(), CodeHash: secret, At: time.Now()}, "authorization code issued"},
		{domain.OIDCRefreshTokenRotated{AuthorizationID: uuid.New(), Generation: 2, RefreshTokenHash: secret, At: time.Now()}, "generation 2"},
		{domain.OIDCAuthorizationAuthenticated{AuthorizationID: uuid.New(), AccountID: account, AMR: []string{"pwd", "mfa", "swk"}, ChallengeID: challenge, SessionDigest: make([]byte, 32), At: time.Now()}, "(pwd+mfa+swk, challenge " + challenge.String()[:8] + ")"},
		{domain.OIDCAuthorizationRevoked{AuthorizationID: uuid.New(), Reason: domain.RevokeRefreshReused, At: time.Now()}, "revoked (refresh token reused)"},
	} {
		typ, ver, data, err := domain.Encode(tc.e)
		if err != nil {
			t.Fatal(err)
		}
		rec := &eventstore.RecordedEvent{Type: typ, SchemaVersion: ver, Data: data}
		if got := audit.Summarize(rec); !strings.Contains(got, tc.says) {
			t.Errorf("%s reads %q; want it to contain %q", typ, got, tc.says)
		}
		holds := bytes.Contains(data, []byte("q6urq6ur")) // base64 of the secret bytes
		if red := audit.Redact(data); bytes.Contains(red, []byte("q6urq6ur")) || holds != bytes.Contains(red, []byte(audit.Redacted)) {
			t.Errorf("%s in audit output: %s", typ, red)
		}
	}
}
