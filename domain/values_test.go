package domain_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/domain"
)

func TestParseEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Ada@Example.com": "ada@example.com", "  bob@x.io\n": "bob@x.io", "a.b+c@d.e": "a.b+c@d.e"} {
		got, err := domain.ParseEmail(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ada", "@example.com", "ada@", "Ada <ada@example.com>", "a b@example.com", strings.Repeat("a", 250) + "@x.io"} {
		if _, err := domain.ParseEmail(in); !errors.Is(err, domain.ErrInvalidEmail) {
			t.Errorf("ParseEmail(%q) error = %v, want ErrInvalidEmail", in, err)
		}
	}
}

func TestMatchNumbers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]domain.MatchNumber{"10": 10, "42": 42, " 99 ": 99} {
		if got, err := domain.ParseMatchNumber(in); err != nil || got != want {
			t.Errorf("ParseMatchNumber(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "9", "09", "100", "4a", "-1", "４２"} {
		if _, err := domain.ParseMatchNumber(in); !errors.Is(err, domain.ErrInvalidNumber) {
			t.Errorf("ParseMatchNumber(%q) error = %v", in, err)
		}
	}
	// 200 and 255 are rejected (>= 180), 179 maps to 10 + 179 % 90 = 99, 0 to 10.
	n, err := domain.NewMatchNumber(bytes.NewReader([]byte{200, 255, 179}))
	if err != nil || n != 99 {
		t.Fatalf("NewMatchNumber = %d, %v; want 99 after two rejections", n, err)
	}
	if n, _ := domain.NewMatchNumber(bytes.NewReader([]byte{0})); n != 10 {
		t.Fatalf("NewMatchNumber(0) = %d, want 10", n)
	}
	if _, err := domain.NewMatchNumber(bytes.NewReader(nil)); err == nil {
		t.Fatal("NewMatchNumber from an empty reader succeeded")
	}
}

func TestEnrollmentTokens(t *testing.T) {
	t.Parallel()
	tok, err := domain.NewEnrollmentToken(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := domain.ParseEnrollmentToken(tok.Reveal())
	if err != nil || parsed != tok {
		t.Fatalf("token does not round-trip: %v", err)
	}
	if strings.Contains(tok.String(), tok.Reveal()) {
		t.Fatal("String leaks the token")
	}
	id, err := domain.ParseEnrollmentTokenID(tok.ID().String())
	if err != nil || id != tok.ID() {
		t.Fatalf("token ID does not round-trip: %v", err)
	}
	if strings.Contains(domain.EnrollmentStream(tok.ID()), tok.Reveal()) {
		t.Fatal("the enrollment stream name holds the token")
	}
	for _, in := range []string{"", "short", tok.Reveal() + "A", strings.Repeat("!", 43)} {
		if _, err := domain.ParseEnrollmentToken(in); !errors.Is(err, domain.ErrInvalidEnrollmentToken) {
			t.Errorf("ParseEnrollmentToken(%q) error = %v", in, err)
		}
	}
	for _, in := range []string{"", "zz", strings.ToUpper(tok.ID().String())} {
		if _, err := domain.ParseEnrollmentTokenID(in); !errors.Is(err, domain.ErrInvalidEnrollmentToken) {
			t.Errorf("ParseEnrollmentTokenID(%q) error = %v", in, err)
		}
	}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	p := domain.DefaultPolicy()
	if p.LockoutThreshold != 10 || p.LockoutWindow != 15*time.Minute || p.LockoutDuration != 15*time.Minute ||
		p.PushMuteDuration != 20*time.Minute || p.EnrollmentTTL != 5*time.Minute || p.ChallengeTTL != 120*time.Second {
		t.Fatalf("defaults: %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	partial := domain.Policy{ChallengeTTL: time.Minute}
	partial.SetDefaults()
	if partial.ChallengeTTL != time.Minute || partial.LockoutThreshold != 10 {
		t.Fatalf("SetDefaults overwrote a set field or missed a zero one: %+v", partial)
	}
	err := domain.Policy{LockoutThreshold: -1, LockoutWindow: time.Second, LockoutDuration: time.Minute, PushMuteDuration: time.Minute, EnrollmentTTL: time.Minute, ChallengeTTL: time.Second}.Validate()
	for _, want := range []string{
		"policy: option 'lockout_threshold' must be between 1 and 1000 but it's configured as '-1'",
		"policy: option 'lockout_window' must be between 1m0s and 24h0m0s but it's configured as '1s'",
		"policy: option 'challenge_ttl' must be between 10s and 10m0s but it's configured as '1s'",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate lacks %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "enrollment_ttl") {
		t.Errorf("Validate reports a valid option: %v", err)
	}
}
