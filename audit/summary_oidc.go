package audit

import (
	"fmt"
	"strings"

	"github.com/assent-dev/assent/domain"
)

// summarizeOIDC tells what an event of the OpenID Connect provider records; ok is false for
// any other event.
func summarizeOIDC(e domain.Event) (string, bool) {
	switch e := e.(type) {
	case domain.OIDCClientRegistered:
		kind := "confidential, secret set (hashed, not shown)"
		if e.Public {
			kind = "public, PKCE required"
		}
		return fmt.Sprintf("OpenID Connect client %s %q registered (%s) for %s", e.ClientID, e.Name, kind, strings.Join(e.RedirectURIs, " ")), true
	case domain.OIDCClientSecretRotated:
		return fmt.Sprintf("OpenID Connect client %s got a new secret (hashed, not shown)", e.ClientID), true
	case domain.OIDCClientDisabled:
		return fmt.Sprintf("OpenID Connect client %s disabled", e.ClientID), true
	case domain.OIDCSigningKeyAdded:
		return fmt.Sprintf("ID token signing key %s (%s) added (sealed, not shown)", e.KeyID, e.Algorithm), true
	case domain.OIDCAuthorizationRequested:
		return fmt.Sprintf("client %s asked for a sign-in (scopes %s)", e.ClientID, strings.Join(e.Scopes, " ")), true
	case domain.OIDCAuthorizationAuthenticated:
		how := strings.Join(e.AMR, "+")
		if e.ChallengeID != [16]byte{} {
			how += ", challenge " + short(e.ChallengeID)
		}
		return fmt.Sprintf("account %s signed in for it (%s)", short(e.AccountID), how), true
	case domain.OIDCCodeIssued:
		return "authorization code issued (hashed, not shown)", true
	case domain.OIDCCodeRedeemed:
		return "authorization code exchanged for tokens (once)", true
	case domain.OIDCRefreshTokenRotated:
		return fmt.Sprintf("refresh token used and rotated (generation %d)", e.Generation), true
	case domain.OIDCAuthorizationRevoked:
		return fmt.Sprintf("every token of the sign-in revoked (%s)", strings.ReplaceAll(e.Reason.String(), "_", " ")), true
	case domain.OIDCConsentGranted:
		return fmt.Sprintf("account %s allowed client %s: %s", short(e.AccountID), e.ClientID, strings.Join(e.Scopes, " ")), true
	}
	return "", false
}
