package config_test

import (
	"strings"
	"testing"

	"github.com/assent-dev/assent/config"
)

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	c := config.Defaults()
	if err := c.FromEnv(func(k string) (string, bool) {
		return " 10.0.0.0/8, 192.0.2.7,fd00::/8 ,2001:db8::1", k == "ASSENT_TRUSTED_PROXIES"
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid proxies refused: %v", err)
	}
	nets, err := c.TrustedProxyNets()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nets {
		got = append(got, n.String())
	}
	if want := "10.0.0.0/8 192.0.2.7/32 fd00::/8 2001:db8::1/128"; strings.Join(got, " ") != want {
		t.Fatalf("networks %v, want %s", got, want)
	}

	c.TrustedProxies = "10.0.0.0/33,proxy.local,192.0.2.7"
	err = c.Validate()
	for _, bad := range []string{"10.0.0.0/33", "proxy.local"} {
		want := "server: option 'trusted-proxies' must be a comma-separated list of CIDRs or IP addresses such as '10.0.0.0/8,192.0.2.7' but it's configured with the entry '" + bad + "'"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q; it says:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "'192.0.2.7'") {
		t.Errorf("a valid entry is named as a problem: %v", err)
	}
}
