package duoapi_test

import (
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	duo "github.com/duosecurity/duo_api_golang"
	"github.com/duosecurity/duo_api_golang/authapi"
	"github.com/labstack/echo/v4"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/secrets"
	"github.com/assent-dev/assent/transport/duoapi"
)

// apiFixture is the Auth API on a real TLS listener on loopback, over the real application and
// the embedded store, with one integration.
type apiFixture struct {
	srv        *httptest.Server
	svc        *app.Service
	ikey, skey string
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
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
	duoapi.Register(e, duoapi.Config{App: svc})
	srv := httptest.NewTLSServer(e)
	t.Cleanup(srv.Close)
	return &apiFixture{srv: srv, svc: svc, ikey: k.Key.String(), skey: k.Secret}
}

func (f *apiFixture) host() string { return strings.TrimPrefix(f.srv.URL, "https://") }

// client is Duo's official Go client, configured with keys and this server's host, trusting
// the test server's certificate.
func (f *apiFixture) client(ikey, skey string) *duo.DuoApi {
	c := duo.NewDuoApi(ikey, skey, f.host(), "assent-test")
	c.SetCustomHTTPClient(f.srv.Client())
	return c
}

func (f *apiFixture) auth() *authapi.AuthApi { return authapi.NewAuthApi(*f.client(f.ikey, f.skey)) }

// failed checks a FAIL envelope with code.
func failed(t *testing.T, res duo.StatResult, code int32) {
	t.Helper()
	res.SyncCode()
	if res.Stat != "FAIL" || res.Code == nil || *res.Code != code || res.Message == nil || *res.Message == "" {
		t.Fatalf("want FAIL %d with a message, got %+v", code, res)
	}
}

func TestPingCheckLogoWithTheOfficialClient(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	api := f.auth()
	ping, err := api.Ping()
	if err != nil || ping.Stat != "OK" || time.Since(time.Unix(ping.Response.Time, 0)).Abs() > time.Minute {
		t.Fatalf("ping: %+v %v", ping, err)
	}
	check, err := api.Check()
	if err != nil || check.Stat != "OK" || check.Response.Time == 0 {
		t.Fatalf("check: %+v %v", check, err)
	}
	logo, err := api.Logo()
	if err != nil || logo.Stat != "OK" {
		t.Fatalf("logo: %+v %v", logo, err)
	}
	_, body, err := f.client(f.ikey, f.skey).SignedCall("GET", "/auth/v2/logo", nil)
	if err != nil || !strings.HasPrefix(string(body), "\x89PNG") {
		t.Fatalf("logo is not a PNG: %v", err)
	}
}

func TestRefusalsUseDuosEnvelope(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)

	wrong := authapi.NewAuthApi(*f.client(f.ikey, strings.Repeat("x", 40)))
	res, err := wrong.Check()
	if err != nil {
		t.Fatal(err)
	}
	failed(t, res.StatResult, 40101)

	unknown := authapi.NewAuthApi(*f.client("DIAAAAAAAAAAAAAAAAAA", f.skey))
	if res, err = unknown.Check(); err != nil {
		t.Fatal(err)
	}
	failed(t, res.StatResult, 40101)

	// The official client ignores the HTTP status: a 404 must be the envelope too.
	resp, body, err := f.client(f.ikey, f.skey).SignedCall("GET", "/auth/v2/no_such_call", nil)
	if err != nil {
		t.Fatal(err)
	}
	var nf duo.StatResult
	if err := json.Unmarshal(body, &nf); err != nil {
		t.Fatalf("404 body is not JSON: %q", body)
	}
	failed(t, nf, 40401)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("404 status %d", resp.StatusCode)
	}

	// A method the call does not take.
	req, _ := http.NewRequest(http.MethodPut, f.srv.URL+"/auth/v2/check", nil)
	r, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	var na duo.StatResult
	if err := json.Unmarshal(b, &na); err != nil {
		t.Fatalf("405 body is not JSON: %q", b)
	}
	failed(t, na, 40501)

	// Unsigned.
	r, err = f.srv.Client().Get(f.srv.URL + "/auth/v2/check")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(r.Body)
	r.Body.Close()
	var ns duo.StatResult
	_ = json.Unmarshal(b, &ns)
	failed(t, ns, 40101)

	// Disabled: the right signature, refused with 40301.
	ikey, _ := parseKey(t, f.ikey)
	if err := f.svc.DisableIntegration(context.Background(), ikey); err != nil {
		t.Fatal(err)
	}
	if res, err = f.auth().Check(); err != nil {
		t.Fatal(err)
	}
	failed(t, res.StatResult, 40301)
}

// TestFormAndJSONBodies: a POST's form body carries + for spaces while the signature uses %20;
// a v5 request carries a JSON body. Both, as the official client sends them, are accepted.
func TestFormAndJSONBodies(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	c := f.client(f.ikey, f.skey)
	_, body, err := c.SignedCall("POST", "/auth/v2/check", url.Values{"note": {"a b+c ~*'"}, "z": {"2", "1"}})
	if err != nil || !strings.Contains(string(body), `"stat":"OK"`) {
		t.Fatalf("form POST: %s %v", body, err)
	}
	_, body, err = c.JSONSignedCall("POST", "/auth/v2/check", duo.JSONParams{"note": "a b+c", "user_id": "x"})
	if err != nil || !strings.Contains(string(body), `"stat":"OK"`) {
		t.Fatalf("v5 JSON POST: %s %v", body, err)
	}
	_, body, err = c.JSONSignedCall("GET", "/auth/v2/check", duo.JSONParams{"note": "a b"})
	if err != nil || !strings.Contains(string(body), `"stat":"OK"`) {
		t.Fatalf("v5 GET: %s %v", body, err)
	}
}

// signedRequest builds a request by hand as the C and Python clients sign it: the host without
// its port, HMAC-SHA1 or -SHA512, the date in X-Duo-Date or Date.
func (f *apiFixture) handSigned(t *testing.T, sha512sig bool, date time.Time, dateHeader, host string, params url.Values) duo.StatResult {
	t.Helper()
	d := date.Format(time.RFC1123Z)
	canon := duoapi.CanonicalV2(d, "POST", host, "/auth/v2/check", params)
	h := sha1.New
	if sha512sig {
		h = sha512.New
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/auth/v2/check", strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(dateHeader, d)
	req.Header.Set("Authorization", duoapi.Authorization(f.ikey, duoapi.Sign(h, []byte(f.skey), canon)))
	r, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var res duo.StatResult
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("not JSON: %q", b)
	}
	res.SyncCode()
	return res
}

func TestSignatureFormsAndDates(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	hostOnly := strings.Split(f.host(), ":")[0]
	params := url.Values{"username": {"ada lovelace"}}
	paris := time.FixedZone("CEST", 2*3600)
	for name, c := range map[string]struct {
		sha512 bool
		date   time.Time
		header string
		host   string
		ok     bool
	}{
		"sha1, host without port, X-Duo-Date": {false, time.Now().UTC(), "X-Duo-Date", hostOnly, true},
		"sha512, host with port, Date":        {true, time.Now().UTC(), "Date", f.host(), true},
		"sha1, a local offset":                {false, time.Now().In(paris), "Date", hostOnly, true},
		"a date 10 minutes old":               {false, time.Now().Add(-10 * time.Minute), "Date", hostOnly, false},
		"a date 10 minutes ahead":             {true, time.Now().Add(10 * time.Minute), "X-Duo-Date", f.host(), false},
		"signed for another host":             {true, time.Now(), "Date", "evil.example.com", false},
	} {
		t.Run(name, func(t *testing.T) {
			res := f.handSigned(t, c.sha512, c.date, c.header, c.host, params)
			if c.ok && res.Stat != "OK" {
				t.Fatalf("refused: %+v %s", res, deref(res.Message))
			}
			if !c.ok {
				failed(t, res, 40101)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func parseKey(t *testing.T, s string) (domain.IntegrationKey, error) {
	t.Helper()
	k, err := domain.ParseIntegrationKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k, nil
}
