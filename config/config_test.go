package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/config"
)

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	c := config.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Defaults()
	c.DataDir = file
	c.Listen = "localhost"
	c.LogLevel = "loud"
	c.LogFormat = "xml"
	c.ShutdownTimeout = time.Hour
	err := c.Validate()
	if err == nil {
		t.Fatal("an invalid configuration validated")
	}
	for _, want := range []string{
		"option 'data-dir' must be a directory, not a file, but it's configured as '" + file + "'",
		"option 'listen' must be a host:port address such as '127.0.0.1:8080' but it's configured as 'localhost'",
		"option 'log-level' must be one of 'debug', 'info', 'warn' or 'error' but it's configured as 'loud'",
		"option 'log-format' must be 'text' or 'json' but it's configured as 'xml'",
		"option 'shutdown-timeout' must be between 1s and 10m but it's configured as '1h0m0s'",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q; it says:\n%v", want, err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"ASSENT_DATA_DIR":         "/var/lib/assent",
		"ASSENT_LISTEN":           ":9090",
		"ASSENT_SHUTDOWN_TIMEOUT": "soon",
	}
	c := config.Defaults()
	err := c.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "option 'shutdown-timeout' must be a duration such as '15s' but it's configured as 'soon' (from ASSENT_SHUTDOWN_TIMEOUT)") {
		t.Fatalf("bad duration from the environment: %v", err)
	}
	if c.DataDir != "/var/lib/assent" || c.Listen != ":9090" {
		t.Fatalf("environment not applied: %+v", c)
	}
}
