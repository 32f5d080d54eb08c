package domain_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

var (
	oidcAuthID   = uuid.MustParse("0193c0de-0000-7000-8000-00000000a001")
	oidcMaxAge   = int64(300)
	oidcHashA    = sha256.Sum256([]byte("a"))
	oidcHashB    = sha256.Sum256([]byte("b"))
	oidcHashC    = sha256.Sum256([]byte("c"))
	oidcRequest  = domain.OIDCAuthorizationRequested{AuthorizationID: oidcAuthID, ClientID: "grafana", RedirectURI: "https://grafana.example.com/login/generic_oauth", Scopes: []string{"openid", "email"}, State: "s", Nonce: "n", CodeChallenge: "c", CodeChallengeMethod: "S256", ResponseType: "code", ResponseMode: "query", Prompt: []string{"login"}, MaxAge: &oidcMaxAge, ACRValues: []string{"mfa"}, ExpiresAt: t0.Add(domain.OIDCRequestLifetime), At: t0}
	oidcAuthDone = domain.OIDCAuthorizationAuthenticated{AuthorizationID: oidcAuthID, AccountID: accountID, AMR: []string{"pwd", "mfa", "swk"}, ACR: "mfa", AuthTime: t0, ChallengeID: challengeID, SessionDigest: oidcHashC[:], At: t0}
)

// The provider's events join the samples of TestEveryRegisteredTypeRoundTrips.
func init() {
	samples = append(samples,
		domain.OIDCClientRegistered{ClientID: "grafana", Name: "Grafana", RedirectURIs: []string{"https://grafana.example.com/cb"}, PostLogoutRedirectURIs: []string{"https://grafana.example.com/"}, SecretHash: oidcHashA[:], RequireMFA: true, AskConsent: true, At: t0},
		domain.OIDCClientSecretRotated{ClientID: "grafana", SecretHash: oidcHashB[:], At: t0},
		domain.OIDCClientDisabled{ClientID: "grafana", At: t0},
		domain.OIDCSigningKeyAdded{KeyID: "k1", Algorithm: "RS256", SealedKey: []byte{1, 2}, At: t0},
		oidcRequest,
		oidcAuthDone,
		domain.OIDCCodeIssued{AuthorizationID: oidcAuthID, CodeHash: oidcHashA[:], At: t0},
		domain.OIDCCodeRedeemed{AuthorizationID: oidcAuthID, RefreshTokenHash: oidcHashB[:], At: t0},
		domain.OIDCRefreshTokenRotated{AuthorizationID: oidcAuthID, Generation: 2, RefreshTokenHash: oidcHashC[:], At: t0},
		domain.OIDCAuthorizationRevoked{AuthorizationID: oidcAuthID, Reason: domain.RevokeRefreshReused, At: t0},
		domain.OIDCConsentGranted{AccountID: accountID, ClientID: "grafana", Scopes: []string{"openid", "email"}, AuthorizationID: oidcAuthID, At: t0},
	)
}

func TestOIDCClientRegistration(t *testing.T) {
	t.Parallel()
	secret := sha256.Sum256([]byte("secret"))
	ok := domain.RegisterOIDCClient{ClientID: "c1", Name: "App", RedirectURIs: []string{"https://app.example.com/cb"}, SecretHash: secret[:]}
	tests := []struct {
		name    string
		given   []domain.Event
		when    func(domain.RegisterOIDCClient) domain.RegisterOIDCClient
		wantErr error
	}{
		{"confidential", nil, func(c domain.RegisterOIDCClient) domain.RegisterOIDCClient { return c }, nil},
		{"public loopback http", nil, func(c domain.RegisterOIDCClient) domain.RegisterOIDCClient {
			c.Public, c.SecretHash, c.RedirectURIs = true, nil, []string{"http://127.0.0.1:8080/cb"}
			return c
		}, nil},
		{"plain http elsewhere", nil, func(c domain.RegisterOIDCClient) domain.RegisterOIDCClient {
			c.RedirectURIs = []string{"http://app.example.com/cb"}
			return c
		}, domain.ErrInvalidRedirectURI},
		{"fragment", nil, func(c domain.RegisterOIDCClient) domain.RegisterOIDCClient {
			c.RedirectURIs = []string{"https://app.example.com/cb#x"}
			return c
		}, domain.ErrInvalidRedirectURI},
		{"relative", nil, func(c domain.RegisterOIDCClient) domain.RegisterOIDCClient {
			c.RedirectURIs = []string{"/cb"}
			return c
		}, domain.ErrInvalidRedirectURI},
		{"public with a secret", nil, func(c domain.RegisterOIDCClient) domain.RegisterOIDCClient {
			c.Public = true
			return c
		}, domain.ErrInvalidCommand},
		{"twice", []domain.Event{domain.OIDCClientRegistered{ClientID: "c1", Name: "App", RedirectURIs: []string{"https://a.example/cb"}, SecretHash: secret[:], At: t0}},
			func(c domain.RegisterOIDCClient) domain.RegisterOIDCClient { return c }, domain.ErrOIDCClientExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := domain.LoadOIDCClients(tt.given)
			if err != nil {
				t.Fatal(err)
			}
			d := cs.Register(tt.when(ok), t0)
			if !errors.Is(d.Err, tt.wantErr) || (tt.wantErr == nil) != (len(d.Events) == 1) {
				t.Fatalf("got events %v err %v, want err %v", d.Events, d.Err, tt.wantErr)
			}
		})
	}
}

func TestOIDCClientSecretRotationAndDisable(t *testing.T) {
	t.Parallel()
	first, second := sha256.Sum256([]byte("one")), sha256.Sum256([]byte("two"))
	log := []domain.Event{domain.OIDCClientRegistered{ClientID: "c1", Name: "App", RedirectURIs: []string{"https://a.example/cb"}, SecretHash: first[:], At: t0}}
	cs, _ := domain.LoadOIDCClients(log)
	d := cs.RotateSecret(domain.RotateOIDCClientSecret{ClientID: "c1", SecretHash: second[:]}, t0)
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	log = append(log, d.Events...)
	cs, _ = domain.LoadOIDCClients(log)
	c, _ := cs.Get("c1")
	if c.CheckSecret("one") || !c.CheckSecret("two") {
		t.Fatal("after rotation the old secret must fail and the new one pass")
	}
	log = append(log, cs.Disable(domain.DisableOIDCClient{ClientID: "c1"}, t0).Events...)
	cs, _ = domain.LoadOIDCClients(log)
	if c, _ := cs.Get("c1"); !c.Disabled {
		t.Fatal("client not disabled")
	}
	if d := cs.RotateSecret(domain.RotateOIDCClientSecret{ClientID: "c1", SecretHash: first[:]}, t0); !errors.Is(d.Err, domain.ErrOIDCClientDisabled) {
		t.Fatalf("rotate on a disabled client: %v", d.Err)
	}
}

// redeemedAuthorization is an authorization whose code was exchanged for refresh token A.
func redeemedAuthorization(t *testing.T) []domain.Event {
	t.Helper()
	return []domain.Event{oidcRequest, oidcAuthDone,
		domain.OIDCCodeIssued{AuthorizationID: oidcAuthID, CodeHash: oidcHashC[:], At: t0},
		domain.OIDCCodeRedeemed{AuthorizationID: oidcAuthID, RefreshTokenHash: oidcHashA[:], At: t0}}
}

func TestOIDCRefreshTokenReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	log := redeemedAuthorization(t)
	a, _ := domain.LoadOIDCAuthorization(log)
	d := a.RotateRefreshToken(domain.RotateOIDCRefreshToken{PresentedHash: oidcHashA[:], NextHash: oidcHashB[:]}, t0.Add(time.Minute))
	if d.Err != nil || len(d.Events) != 1 {
		t.Fatalf("first use: %v %v", d.Events, d.Err)
	}
	log = append(log, d.Events...)
	a, _ = domain.LoadOIDCAuthorization(log)
	// When the spent token A comes back, then the family is revoked.
	d = a.CheckRefreshToken(oidcHashA[:], t0.Add(2*time.Minute))
	rev, ok := onlyEvent[domain.OIDCAuthorizationRevoked](d)
	if !errors.Is(d.Err, domain.ErrOIDCRefreshTokenReused) || !ok || rev.Reason != domain.RevokeRefreshReused {
		t.Fatalf("reuse: %v %v", d.Events, d.Err)
	}
	log = append(log, d.Events...)
	a, _ = domain.LoadOIDCAuthorization(log)
	if d := a.CheckRefreshToken(oidcHashB[:], t0.Add(3*time.Minute)); !errors.Is(d.Err, domain.ErrOIDCRevoked) {
		t.Fatalf("the live token after the family was revoked: %v", d.Err)
	}
	if a.Live(t0.Add(3 * time.Minute)) {
		t.Fatal("a revoked authorization is live")
	}
}

func TestOIDCCodeReuseRevokes(t *testing.T) {
	t.Parallel()
	log := redeemedAuthorization(t)
	a, _ := domain.LoadOIDCAuthorization(log)
	d := a.CheckCode(oidcHashC[:], t0.Add(time.Second))
	if _, ok := onlyEvent[domain.OIDCAuthorizationRevoked](d); !ok || !errors.Is(d.Err, domain.ErrOIDCCodeReused) {
		t.Fatalf("code reuse: %v %v", d.Events, d.Err)
	}
	fresh, _ := domain.LoadOIDCAuthorization(log[:3])
	if d := fresh.RedeemCode(domain.RedeemOIDCCode{CodeHash: oidcHashC[:]}, t0.Add(domain.OIDCCodeLifetime+time.Second)); !errors.Is(d.Err, domain.ErrOIDCCodeExpired) {
		t.Fatalf("expired code: %v", d.Err)
	}
	if d := fresh.RedeemCode(domain.RedeemOIDCCode{CodeHash: oidcHashA[:]}, t0); !errors.Is(d.Err, domain.ErrOIDCInvalidCode) {
		t.Fatalf("wrong code: %v", d.Err)
	}
}

func onlyEvent[E domain.Event](d domain.Decision) (E, bool) {
	var zero E
	if len(d.Events) != 1 {
		return zero, false
	}
	e, ok := d.Events[0].(E)
	return e, ok
}

func TestOIDCConsentCoversItsScopesOnly(t *testing.T) {
	t.Parallel()
	c, _ := domain.LoadOIDCConsents(nil)
	d := c.Grant(domain.GrantOIDCConsent{AccountID: accountID, ClientID: "wiki", Scopes: []string{"openid", "email"}, AuthorizationID: oidcAuthID}, t0)
	if d.Err != nil || len(d.Events) != 1 {
		t.Fatalf("grant: %v %v", d.Events, d.Err)
	}
	c, _ = domain.LoadOIDCConsents(d.Events)
	switch {
	case !c.Covers("wiki", []string{"openid"}):
		t.Fatal("a granted scope is not covered")
	case c.Covers("wiki", []string{"openid", "offline_access"}):
		t.Fatal("a scope never granted is covered")
	case c.Covers("other", []string{"openid"}):
		t.Fatal("another client is covered")
	}
	if d := c.Grant(domain.GrantOIDCConsent{AccountID: accountID, ClientID: "wiki", Scopes: []string{"email"}}, t0); len(d.Events) != 0 || d.Err != nil {
		t.Fatalf("granting again: %v %v", d.Events, d.Err)
	}
}
