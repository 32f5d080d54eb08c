package config_test

import (
	"strings"
	"testing"

	"github.com/assent-dev/assent/config"
)

// TestDebugListen: the profiler's listener is off unless set, comes from its flag or
// ASSENT_DEBUG_LISTEN, and must name a host and a port.
func TestDebugListen(t *testing.T) {
	t.Parallel()
	if c := config.Defaults(); c.DebugListen != "" {
		t.Fatalf("the profiler listens by default on %q", c.DebugListen)
	}
	c := config.Defaults()
	env := map[string]string{"ASSENT_DEBUG_LISTEN": "127.0.0.1:6060"}
	if err := c.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil || c.DebugListen != "127.0.0.1:6060" {
		t.Fatalf("from the environment: %q %v", c.DebugListen, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a loopback address: %v", err)
	}
	for value, want := range map[string]string{
		"6060":            "option 'debug-listen' must be empty or a host:port address with its host, such as '127.0.0.1:6060', but it's configured as '6060'",
		":6060":           "option 'debug-listen' must be empty or a host:port address with its host, such as '127.0.0.1:6060', but it's configured as ':6060'",
		"127.0.0.1:70000": "option 'debug-listen' must have a port between 0 and 65535 but it's configured as '127.0.0.1:70000'",
	} {
		c := config.Defaults()
		if err := c.Set("debug-listen", value); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", value, err)
		}
	}
}
