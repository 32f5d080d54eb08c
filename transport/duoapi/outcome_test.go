package duoapi_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	duo "github.com/duosecurity/duo_api_golang"
	"github.com/duosecurity/duo_api_golang/authapi"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/secrets"
	"github.com/assent-dev/assent/transport/duoapi"
	"github.com/assent-dev/assent/transport/push"
)

// silentHub never hears of an outcome: what a hub is to a challenge decided before anyone
// waited for it.
type silentHub struct{}

func (silentHub) Await(uuid.UUID) (<-chan push.Outcome, func()) {
	return make(chan push.Outcome), func() {}
}

// TestAuthStatusAnswersFromTheChallengesStream: auth_status answers a decided transaction from
// the challenge's own stream, at once, with a service that has no read models at all and a hub
// that never tells it anything; an unknown txid is still refused. (auth_status used to ask the
// read models, and so waited for them to fold everything the node had written.)
func TestAuthStatusAnswersFromTheChallengesStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	kr, err := secrets.ParseKeyring("k1:" + strings.Repeat("A", 43))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := app.New(app.Config{Store: store, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	k, err := svc.CreateIntegration(ctx, "VPN")
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	duoapi.Register(e, duoapi.Config{App: svc, Hub: silentHub{}, StatusHold: 3 * time.Second})
	srv := httptest.NewTLSServer(e)
	t.Cleanup(srv.Close)
	c := duo.NewDuoApi(k.Key.String(), k.Secret, strings.TrimPrefix(srv.URL, "https://"), "assent-test")
	c.SetCustomHTTPClient(srv.Client())
	api := authapi.NewAuthApi(*c)

	// A user with an authenticator app, and a transaction decided by its code.
	added, err := svc.AddIntegrationTOTPApp(ctx, k.Key, "ada")
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(added.URI)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := totp.GenerateCode(key.Secret(), time.Now().Add(-30*time.Second))
	if _, err := svc.ConfirmTOTPApp(ctx, added.User.ID, added.AppID, first); err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(key.Secret(), time.Now())
	txid, err := svc.CheckIntegrationPasscode(ctx, k.Key, added.User.ID, app.IntegrationAuth{Passcode: code, Context: domain.LoginContext{App: "VPN"}})
	if err != nil {
		t.Fatal(err)
	}

	// Were the answer awaited from the hub, the hold would end with "waiting".
	st, err := api.AuthStatus(txid.String())
	if err != nil || st.Stat != "OK" || st.Response.Result != "allow" || st.Response.Status != "allow" {
		t.Fatalf("auth_status of a decided transaction = %+v %v", st, err)
	}
	unknown, err := api.AuthStatus(uuid.NewString())
	failed(t, unknown.StatResult, 40002)
}
