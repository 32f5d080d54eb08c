package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/assent-dev/assent/config"
)

// command is the flag set of a command that takes the named options, parsed from args.
func command(t *testing.T, args []string, names ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.Register(fs, names...)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "assent.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoadPrecedence: a flag wins over a variable, a variable over the file, the file over
// the default; each option on its own.
func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `
listen = "127.0.0.1:1001"
log-level = "warn"
log-format = "json"
shutdown-timeout = "30s"
`)
	fs := command(t, []string{"--config", file, "--listen", "127.0.0.1:3003"}, "listen", "log-level", "log-format", "shutdown-timeout", "data-dir")
	c, err := config.Load(fs, []string{"ASSENT_LISTEN=127.0.0.1:2002", "ASSENT_LOG_LEVEL=debug", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ option, got, want string }{
		{"listen (flag over variable and file)", c.Listen, "127.0.0.1:3003"},
		{"log-level (variable over file)", c.LogLevel, "debug"},
		{"log-format (file over default)", c.LogFormat, "json"},
		{"shutdown-timeout (file over default)", c.ShutdownTimeout.String(), (30 * time.Second).String()},
		{"data-dir (default)", c.DataDir, "./data"},
		{"config file", c.File, file},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.option, tc.got, tc.want)
		}
	}
}

// TestLoadFileFromEnvironment: ASSENT_CONFIG names the file when --config is not given, and
// --config wins over it.
func TestLoadFileFromEnvironment(t *testing.T) {
	t.Parallel()
	fromEnv := writeFile(t, `listen = "127.0.0.1:1001"`)
	fromFlag := writeFile(t, `listen = "127.0.0.1:2002"`)
	c, err := config.Load(command(t, nil, "listen"), []string{"ASSENT_CONFIG=" + fromEnv})
	if err != nil || c.Listen != "127.0.0.1:1001" {
		t.Fatalf("ASSENT_CONFIG: listen %q, %v", c.Listen, err)
	}
	c, err = config.Load(command(t, []string{"--config", fromFlag}, "listen"), []string{"ASSENT_CONFIG=" + fromEnv})
	if err != nil || c.Listen != "127.0.0.1:2002" {
		t.Fatalf("--config over ASSENT_CONFIG: listen %q, %v", c.Listen, err)
	}
}

// TestLoadFileProblems: every problem of a file is reported at once, naming the key, the
// option, the file and the rule.
func TestLoadFileProblems(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `
lsiten = "127.0.0.1:8080"
config = "other.toml"
shutdown-timeout = "soon"
log-level = "loud"
listen = ["127.0.0.1:1", "127.0.0.1:2"]

[server]
tls = true
`)
	_, err := config.Load(command(t, []string{"--config", file}, "listen", "log-level", "shutdown-timeout"), nil)
	if err == nil {
		t.Fatal("a file with unknown keys and bad values loaded")
	}
	for _, want := range []string{
		"invalid configuration:",
		"the configuration file '" + file + "' has the key 'lsiten', which is not an option (did you mean 'listen'?)",
		"the configuration file '" + file + "' has the key 'config', which is not an option",
		"the configuration file '" + file + "' has the key 'server.tls', which is not an option",
		"option 'shutdown-timeout' must be a duration such as '15s' but it's configured as 'soon' (from the file '" + file + "')",
		"option 'log-level' must be one of 'debug', 'info', 'warn' or 'error' but it's configured as 'loud'",
		"option 'listen' must be one value, not a list (from the file '" + file + "')",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q; it says:\n%v", want, err)
		}
	}
}

// TestLoadMissingFile: a file named explicitly, by flag or variable, must exist.
func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nowhere.toml")
	want := "option 'config' must name a file that exists but it's configured as '" + missing + "'"
	if _, err := config.Load(command(t, []string{"--config", missing}, "listen"), nil); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("--config of a missing file: %v", err)
	}
	if _, err := config.Load(command(t, nil, "listen"), []string{"ASSENT_CONFIG=" + missing}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ASSENT_CONFIG of a missing file: %v", err)
	}
	if _, err := config.Load(command(t, nil, "listen"), []string{"ASSENT_CONFIG="}); err != nil {
		t.Errorf("an empty ASSENT_CONFIG names no file: %v", err)
	}
}

// TestLoadFileSyntax: a file that is not TOML is refused with the place of the mistake.
func TestLoadFileSyntax(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "listen = \"127.0.0.1:8080\"\nlog-level = debug\n")
	_, err := config.Load(command(t, []string{"--config", file}, "listen"), nil)
	if err == nil || !strings.Contains(err.Error(), "the configuration file '"+file+"' must be TOML, but line 2, column 13 says:") {
		t.Fatalf("a file that is not TOML: %v", err)
	}
}

// TestLoadFileValues: lists may be TOML arrays; a number or a boolean is read as its text and
// then checked as any value.
func TestLoadFileValues(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `
trusted-proxies = ["10.0.0.0/8", "192.0.2.7"]
shutdown-timeout = 15
`)
	c, err := config.Load(command(t, []string{"--config", file}, "trusted-proxies"), nil)
	if err != nil || c.TrustedProxies != "10.0.0.0/8,192.0.2.7" {
		t.Fatalf("an array of proxies: %q, %v", c.TrustedProxies, err)
	}
	_, err = config.Load(command(t, []string{"--config", file}, "shutdown-timeout"), nil)
	if err == nil || !strings.Contains(err.Error(), "option 'shutdown-timeout' must be a duration such as '15s' but it's configured as '15'") {
		t.Fatalf("a number for a duration: %v", err)
	}
}

// TestLoadReadsOnlyTheCommandsOptions: a command reads and checks the options it takes, and
// no other, whatever the environment and the file say of them; it says where a bad value came
// from.
func TestLoadReadsOnlyTheCommandsOptions(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `log-level = "loud"`)
	env := []string{"ASSENT_SHUTDOWN_TIMEOUT=soon", "ASSENT_LISTEN=127.0.0.1:9999", "ASSENT_TLS_CERT=cert.pem"}
	c, err := config.Load(command(t, []string{"--config", file}, "listen", "tls-cert"), env)
	if err != nil {
		t.Fatalf("options the command does not take were checked: %v", err)
	}
	if c.Listen != "127.0.0.1:9999" || c.TLSCert != "cert.pem" || c.LogLevel != "info" || c.ShutdownTimeout != 15*time.Second {
		t.Fatalf("read %+v", c)
	}
	_, err = config.Load(command(t, []string{"--config", file}, "listen", "shutdown-timeout", "log-level"), env)
	for _, want := range []string{
		"option 'shutdown-timeout' must be a duration such as '15s' but it's configured as 'soon' (from ASSENT_SHUTDOWN_TIMEOUT)",
		"option 'log-level' must be one of 'debug', 'info', 'warn' or 'error' but it's configured as 'loud'",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q; it says:\n%v", want, err)
		}
	}
}

// TestRegisterHidesSecrets: a flag's help shows its variable and its default, never a secret.
func TestRegisterHidesSecrets(t *testing.T) {
	t.Parallel()
	fs := command(t, nil, "data-dir", "admin-server", "admin-token")
	if f := fs.Lookup("data-dir"); f == nil || f.DefValue != "./data" || !strings.Contains(f.Usage, "(env ASSENT_DATA_DIR)") {
		t.Fatalf("--data-dir: %+v", f)
	}
	if fs.Lookup("server") == nil || fs.Lookup("token") == nil || fs.Lookup("config") == nil {
		t.Fatal("--server, --token or --config missing")
	}
	c, err := config.Load(command(t, []string{"--server", "https://auth.example.com", "--token", "asadm_x"}, "admin-server", "admin-token"), nil)
	if err != nil || c.AdminServer != "https://auth.example.com" || c.AdminToken != "asadm_x" {
		t.Fatalf("--server and --token: %+v %v", c, err)
	}
	if c.Get("admin-token") != "" {
		t.Error("Get shows the administrator's token")
	}
}
