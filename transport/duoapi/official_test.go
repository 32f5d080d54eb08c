package duoapi_test

import (
	"crypto/sha512"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	duo "github.com/duosecurity/duo_api_golang"

	"github.com/assent-dev/assent/transport/duoapi"
)

// TestSignaturesMatchTheOfficialClient records the Authorization headers that Duo's official
// Go client computes for a form request (v2, HMAC-SHA512) and a JSON request (v5), and checks
// that duoapi's canonical forms and HMAC give the very same headers from what the request
// carries.
func TestSignaturesMatchTheOfficialClient(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, host, path, auth, date, ctype string
		body                                  []byte
		query                                 string
	}
	got := make(chan seen, 4)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Host, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Date"), r.Header.Get("Content-Type"), b, r.URL.RawQuery}
		w.Write([]byte(`{"stat":"OK","response":{}}`))
	}))
	defer srv.Close()
	const ikey, skey = "DIWJ8X6AEYOR5OMC6TQ1", "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep"
	host := strings.TrimPrefix(srv.URL, "https://")
	c := duo.NewDuoApi(ikey, skey, host, "assent-test")
	c.SetCustomHTTPClient(srv.Client())

	if _, _, err := c.SignedCall("POST", "/auth/v2/auth", url.Values{"username": {"ada lovelace"}, "pushinfo": {"from=a b&x=~*'"}, "factor": {"push"}}); err != nil {
		t.Fatal(err)
	}
	s := <-got
	params, err := url.ParseQuery(string(s.body))
	if err != nil {
		t.Fatal(err)
	}
	want := duoapi.Authorization(ikey, duoapi.Sign(sha512.New, []byte(skey), duoapi.CanonicalV2(s.date, s.method, s.host, s.path, params)))
	if s.auth != want {
		t.Errorf("v2 form request:\n client %s\n duoapi %s", s.auth, want)
	}

	if _, _, err := c.SignedCall("GET", "/auth/v2/auth_status", url.Values{"txid": {"0195-a b"}}); err != nil {
		t.Fatal(err)
	}
	s = <-got
	q, _ := url.ParseQuery(s.query)
	if want := duoapi.Authorization(ikey, duoapi.Sign(sha512.New, []byte(skey), duoapi.CanonicalV2(s.date, s.method, s.host, s.path, q))); s.auth != want {
		t.Errorf("v2 GET:\n client %s\n duoapi %s", s.auth, want)
	}

	if _, _, err := c.JSONSignedCall("POST", "/auth/v2/enroll_status", duo.JSONParams{"user_id": "u 1", "activation_code": "https://x/enroll?token=a+b"}); err != nil {
		t.Fatal(err)
	}
	s = <-got
	if want := duoapi.Authorization(ikey, duoapi.Sign(sha512.New, []byte(skey), duoapi.CanonicalV5(s.date, s.method, s.host, s.path, url.Values{}, s.body))); s.auth != want || s.ctype != "application/json" {
		t.Errorf("v5 JSON request:\n client %s\n duoapi %s", s.auth, want)
	}
}
