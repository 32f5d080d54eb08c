package secrets_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/secrets"
)

// rfcSecret is the SHA-1 secret of RFC 6238's test vectors.
var rfcSecret = []byte("12345678901234567890")

func TestTOTPCodeMatchesRFC6238(t *testing.T) {
	t.Parallel()
	s, err := secrets.TOTPSecretFromBytes(rfcSecret)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6238 appendix B gives 8-digit codes; the last 6 digits are the 6-digit codes.
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
		got, err := s.Code(time.Unix(unix, 0))
		if err != nil || got != want {
			t.Errorf("Code(%d) = %q, %v; want %q", unix, got, err, want)
		}
	}
}

func TestTOTPMatchFindsStepWithinSkew(t *testing.T) {
	t.Parallel()
	s, _ := secrets.TOTPSecretFromBytes(rfcSecret)
	now := time.Unix(1_700_000_000, 0)
	step := secrets.TOTPStep(now)
	for _, d := range []int{-1, 0, 1} {
		at := now.Add(time.Duration(d) * secrets.TOTPPeriod)
		code, _ := s.Code(at)
		got, ok := s.Match(code, now)
		if !ok || got != uint64(int64(step)+int64(d)) {
			t.Errorf("code of step %+d: Match = %d, %v; want %d", d, got, ok, int64(step)+int64(d))
		}
	}
	for _, d := range []int{-2, 2} {
		code, _ := s.Code(now.Add(time.Duration(d) * secrets.TOTPPeriod))
		if cur, _ := s.Code(now); cur == code {
			continue // a collision with the current code is possible in principle
		}
		if _, ok := s.Match(code, now); ok {
			t.Errorf("code of step %+d matched beyond the skew", d)
		}
	}
	code, _ := s.Code(now)
	if _, ok := s.Match(code[:3]+" "+code[3:], now); !ok {
		t.Error("code with a space did not match")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := s.Match(bad, now); ok {
			t.Errorf("Match(%q) = true", bad)
		}
	}
}

func TestTOTPSecretURIAndRedaction(t *testing.T) {
	t.Parallel()
	s, err := secrets.NewTOTPSecret(bytes.NewReader(bytes.Repeat([]byte{0x42}, 20)))
	if err != nil {
		t.Fatal(err)
	}
	uri, err := s.URI("ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("issuer") != "Assent" || q.Get("secret") != s.Base32() ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("URI %q does not carry the expected settings", uri)
	}
	if !strings.Contains(u.Path, "ada@example.com") {
		t.Fatalf("URI %q does not name the account", uri)
	}
	if strings.Contains(fmt.Sprint(s), s.Base32()) {
		t.Fatal("String leaks the secret")
	}
	if _, err := secrets.TOTPSecretFromBytes([]byte("short")); !errors.Is(err, secrets.ErrInvalidTOTPSecret) {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := secrets.NewTOTPSecret(bytes.NewReader(nil)); err == nil {
		t.Fatal("NewTOTPSecret from an empty reader succeeded")
	}
}
