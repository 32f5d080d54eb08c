package duoapi

import (
	"crypto/sha1"
	"crypto/sha512"
	"net/url"
	"strings"
	"testing"
)

// Duo's published test vectors: the request of Duo's Auth API documentation, signed with
// HMAC-SHA1 (the form older clients and duo_unix use) and with HMAC-SHA512 (the official Go
// client's duo_test.go TestSign), and the v5 vectors of the same file.
const (
	vecIKey = "DIWJ8X6AEYOR5OMC6TQ1"
	vecSKey = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep"
	vecDate = "Tue, 21 Aug 2012 17:29:18 -0000"
	vecHost = "api-XXXXXXXX.duosecurity.com"
	vecPath = "/accounts/v1/account/list"
)

func TestSignatureVectors(t *testing.T) {
	t.Parallel()
	v2 := url.Values{"realname": {"First Last"}, "username": {"root"}}
	canon := CanonicalV2(vecDate, "POST", vecHost, vecPath, v2)
	if got, want := Authorization(vecIKey, Sign(sha1.New, []byte(vecSKey), canon)),
		"Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6MmQ5N2Q2MTY2MzE5NzgxYjVhM2EwN2FmMzlkMzY2ZjQ5MTIzNGVkYw=="; got != want {
		t.Errorf("v2 HMAC-SHA1:\n got  %s\n want %s", got, want)
	}
	if got, want := Authorization(vecIKey, Sign(sha512.New, []byte(vecSKey), canon)),
		"Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6MWJmZmI4OTI0MzQ4ZjdkYjdkYTllN2Q3ZDc0OWRlZDkzYWFmZDAyZDhlOTA0OTYwZGE3Yjk2YzU3NTEwMjIwMTg1YTY0YTI4MjdlZThmMjRhYzVkMzA4MDJhOWVlOTdlNTlkZTQ0YjMwNGIxODI0MmYwZDU5NmQxNWE4MTIyYWY="; got != want {
		t.Errorf("v2 HMAC-SHA512:\n got  %s\n want %s", got, want)
	}
	v5 := CanonicalV5(vecDate, "POST", vecHost, vecPath, url.Values{"realname": {"First Last"}}, []byte(`{"txid":"f22b1678-252a-4070-b176-0ca2be7319fd"}`))
	if got, want := Authorization(vecIKey, Sign(sha512.New, []byte(vecSKey), v5)),
		"Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6NzhmNDMyN2Y4MzExNzNjYzc4ZDA5MDdlOTEzZTNjNWEyOGZlNzJkZDQ1NDVhMzQyNTg2YmI2NzE4MWYyYmEzOTNkMjA5MTFlODcwMzYyZjZmYWJhM2RjNmY3ZTlkYjVlOTNhZWQyZjNiZmMxMTBjNmRhZGFmZjRkYzYxNzllMGI="; got != want {
		t.Errorf("v5 HMAC-SHA512:\n got  %s\n want %s", got, want)
	}
}

func TestCanonicalForms(t *testing.T) {
	t.Parallel()
	params := url.Values{"username": {"H ell?o"}, "password": {"H-._~i", "A(!'*)"}}
	got := strings.Split(CanonicalV2("5", "post", "API-XXX.duosecurity.COM", "/auth/v2/ping", params), "\n")
	if want := []string{"5", "POST", "api-xxx.duosecurity.com", "/auth/v2/ping", "password=A%28%21%27%2A%29&password=H-._~i&username=H%20ell%3Fo"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("v2 canonical:\n got  %q\n want %q", got, want)
	}

	unicode := url.Values{
		"䚚⡻㗐軳朧倪ࠐ킑È셰": {"ཅ᩶㐚敌숿鬉ꯢ荃ᬧ惐"},
		"瑉繋쳻姿﹟获귌逌쿑砓": {"趷倢鋓䋯⁽蜰곾嘗ॆ丰"},
		"瑰錔逜麮䃘䈁苘豰ᴱꁂ": {"៙ந鍘꫟ꐪ䢾ﮖ濩럿㋳"},
		"싅Ⱍ☠㘗隳F蘅⃨갡头": {"ﮩ䆪붃萋☕㹮攭ꢵ핫U"},
	}
	want := "Fri, 07 Dec 2012 17:18:00 -0000\nPOST\nfoo.bar52.com\n/Foo/BaR2/qux\n%E4%9A%9A%E2%A1%BB%E3%97%90%E8%BB%B3%E6%9C%A7%E5%80%AA%E0%A0%90%ED%82%91%C3%88%EC%85%B0=%E0%BD%85%E1%A9%B6%E3%90%9A%E6%95%8C%EC%88%BF%E9%AC%89%EA%AF%A2%E8%8D%83%E1%AC%A7%E6%83%90&%E7%91%89%E7%B9%8B%EC%B3%BB%E5%A7%BF%EF%B9%9F%E8%8E%B7%EA%B7%8C%E9%80%8C%EC%BF%91%E7%A0%93=%E8%B6%B7%E5%80%A2%E9%8B%93%E4%8B%AF%E2%81%BD%E8%9C%B0%EA%B3%BE%E5%98%97%E0%A5%86%E4%B8%B0&%E7%91%B0%E9%8C%94%E9%80%9C%E9%BA%AE%E4%83%98%E4%88%81%E8%8B%98%E8%B1%B0%E1%B4%B1%EA%81%82=%E1%9F%99%E0%AE%A8%E9%8D%98%EA%AB%9F%EA%90%AA%E4%A2%BE%EF%AE%96%E6%BF%A9%EB%9F%BF%E3%8B%B3&%EC%8B%85%E2%B0%9D%E2%98%A0%E3%98%97%E9%9A%B3F%E8%98%85%E2%83%A8%EA%B0%A1%E5%A4%B4=%EF%AE%A9%E4%86%AA%EB%B6%83%E8%90%8B%E2%98%95%E3%B9%AE%E6%94%AD%EA%A2%B5%ED%95%ABU"
	if got := CanonicalV2("Fri, 07 Dec 2012 17:18:00 -0000", "PoSt", "foO.BAr52.cOm", "/Foo/BaR2/qux", unicode); got != want {
		t.Errorf("v2 canonical of unicode parameters:\n got  %q\n want %q", got, want)
	}

	wantV5 := "Fri, 07 Dec 2012 17:18:00 -0000\nPOST\nfoo.example.com\n/Foo/BaR2/qux\nusername=H%20ell%3Fo\n" +
		"9ddab7d898836a76fafbb0dcef7bc83f14036b39bbb1ebbe43044f7c76338fa699eba8f0d3ecb329a084f32ef23c8a1609efad25032923b651e6f3f6d2f7b773\n" +
		"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
	body := `{"activation_code":"duo://x1bTAIQGWXppdi2ctPVn-YXBpLWR1bzEuZHVvLnRlc3Q","user_id":"DU439XKOX2W6LMYHWLEV"}`
	if got := CanonicalV5("Fri, 07 Dec 2012 17:18:00 -0000", "post", "FOO.example.CoM", "/Foo/BaR2/qux", url.Values{"username": {"H ell?o"}}, []byte(body)); got != wantV5 {
		t.Errorf("v5 canonical:\n got  %q\n want %q", got, wantV5)
	}
}

func TestParseDateForms(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"Tue, 21 Aug 2012 17:29:18 -0000", "Tue, 21 Aug 2012 17:29:18 +0000", "Tue, 21 Aug 2012 19:29:18 +0200", "Tue, 21 Aug 2012 17:29:18 GMT"} {
		d, err := parseDate(s)
		if err != nil || d.Unix() != 1345570158 {
			t.Errorf("parseDate(%q) = %v, %v", s, d, err)
		}
	}
	if _, err := parseDate("yesterday"); err == nil {
		t.Error("parseDate accepted 'yesterday'")
	}
}

func TestHostsOf(t *testing.T) {
	t.Parallel()
	got := hostsOf("API.example.com:8443", "auth.example.com")
	want := []string{"api.example.com:8443", "api.example.com", "auth.example.com"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("hostsOf = %v, want %v", got, want)
	}
}
