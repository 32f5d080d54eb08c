package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Option declares one setting once: its names (key in the file, flag, environment variable),
// its default, its help and its README row, how its text is read into a Config and how it is
// checked. The flags, the environment, the file and the README's table all come from Options.
type Option struct {
	// Name is the option's key in the configuration file and its name in errors.
	Name string
	// Flag is the flag's name when it is not Name (the client commands' --server and --token).
	Flag string
	// Env is the environment variable.
	Env string
	// Default is the value when nothing sets the option, as text; empty: none.
	Default string
	// DefaultDoc says the default in the README when the value alone does not (Markdown).
	DefaultDoc string
	// Usage is the flag's one-line help.
	Usage string
	// Doc is the README's description of the option (Markdown).
	Doc string
	// Commands names the commands that take the option, in the README, when it is not
	// `assent serve` and the commands that open the store.
	Commands string
	// List marks a comma-separated list: the file may give it as an array of strings.
	List bool
	// Secret marks a value never shown: not as a flag's default, not by Get.
	Secret bool
	// NotInFile marks the one option that cannot be set in the file: the file's own name.
	NotInFile bool

	// field is the option's string field in Config; set and get replace it for the others.
	field func(c *Config) *string
	set   func(c *Config, v string) error
	get   func(c *Config) string
	// check returns the option's problems; nil when the value keeps the rule.
	check func(c *Config) []error
}

// FlagName is the option's flag, without its dashes.
func (o Option) FlagName() string {
	if o.Flag != "" {
		return o.Flag
	}
	return o.Name
}

// ConfigOption is the name of the option that names the configuration file.
const ConfigOption = "config"

// Options declares every setting, in the order of the README's table.
var Options = []Option{
	{Name: ConfigOption, field: func(c *Config) *string { return &c.File },
		Env: "ASSENT_CONFIG", NotInFile: true,
		Usage:      "TOML file of options (keys as in the README's Configuration table); flags and ASSENT_* variables win over it",
		DefaultDoc: "none",
		Doc:        "a TOML file of options (see below); a key that is not an option is an error naming it, and so is a file named here that cannot be read"},
	{Name: "data-dir", field: func(c *Config) *string { return &c.DataDir },
		Env: "ASSENT_DATA_DIR", Default: "./data",
		Usage: "directory of the embedded event store and generated keys",
		Doc:   "directory of the embedded event store (`events.db`, which one server at a time holds locked) and of the node's own database (`readmodels.db`: the accounts' snapshots, on every backend); created 0700, its store files 0600 (an existing directory or store readable by others is made owner-only at start, with a warning in the log)",
		check: func(c *Config) []error {
			if strings.TrimSpace(c.DataDir) == "" {
				return bad("data-dir", "be a directory path", c.DataDir)
			}
			if fi, err := os.Stat(c.DataDir); err == nil && !fi.IsDir() {
				return bad("data-dir", "be a directory, not a file,", c.DataDir)
			}
			return nil
		}},
	{Name: "listen", field: func(c *Config) *string { return &c.Listen },
		Env: "ASSENT_LISTEN", Default: "127.0.0.1:8080",
		Usage: "host:port the HTTP server listens on",
		Doc:   "host:port of the HTTP server (for `assent healthcheck`: the server to ask)",
		check: func(c *Config) []error { return checkListen("listen", c.Listen) }},
	{Name: "log-level", field: func(c *Config) *string { return &c.LogLevel },
		Env: "ASSENT_LOG_LEVEL", Default: "info",
		Usage: "debug, info, warn or error",
		Doc:   "`debug`, `info`, `warn` or `error`",
		check: func(c *Config) []error {
			return oneOf("log-level", "be one of 'debug', 'info', 'warn' or 'error'", c.LogLevel, "debug", "info", "warn", "error")
		}},
	{Name: "log-format", field: func(c *Config) *string { return &c.LogFormat },
		Env: "ASSENT_LOG_FORMAT", Default: "text",
		Usage: "text or json",
		Doc:   "`text` or `json` (log/slog)",
		check: func(c *Config) []error {
			return oneOf("log-format", "be 'text' or 'json'", c.LogFormat, "text", "json")
		}},
	{Name: "shutdown-timeout", Env: "ASSENT_SHUTDOWN_TIMEOUT", Default: "15s",
		Usage: "how long a graceful shutdown may take (a Go duration, e.g. 15s)",
		Doc:   "bound on a graceful shutdown, between `1s` and `10m`",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("server: option 'shutdown-timeout' must be a duration such as '15s' but it's configured as '%s'", v)
			}
			c.ShutdownTimeout = d
			return nil
		},
		get: func(c *Config) string { return c.ShutdownTimeout.String() },
		check: func(c *Config) []error {
			if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > 10*time.Minute {
				return bad("shutdown-timeout", "be between 1s and 10m", c.ShutdownTimeout.String())
			}
			return nil
		}},
	{Name: "secret-keys", field: func(c *Config) *string { return &c.SecretKeys },
		Env: "ASSENT_SECRET_KEYS", Secret: true, List: true,
		Usage:      "keys sealing secrets, id:base64key comma-separated, primary first (default: generated in the data directory)",
		DefaultDoc: "generated in `<data-dir>/keys.json` (mode 0600)",
		Doc:        "keys that seal secrets in the log, `id:base64key` comma-separated, primary first; every node of a cluster needs the same"},
	{Name: "eventstore", Env: "ASSENT_EVENTSTORE", Secret: true,
		Usage:      "empty for the embedded store in --data-dir, an EventStoreDB connection string (esdb://host:2113?tls=false), or a PostgreSQL one (postgres://…, the same as --postgres)",
		DefaultDoc: "empty: the embedded store",
		Doc:        "an EventStoreDB connection string (`esdb://host:2113?tls=false`) for a cluster, or a PostgreSQL one (`postgres://…`, the same as `--postgres`)",
		set: func(c *Config, v string) error {
			// A PostgreSQL connection string names the PostgreSQL backend, as --postgres does.
			if strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://") {
				c.Postgres, c.EventStore = v, ""
			} else {
				c.EventStore = v
			}
			return nil
		},
		get: func(c *Config) string { return c.EventStore },
		check: func(c *Config) []error {
			if c.EventStore != "" && !strings.HasPrefix(c.EventStore, "esdb://") && !strings.HasPrefix(c.EventStore, "esdb+discover://") {
				return []error{fmt.Errorf("server: option 'eventstore' must be empty, an EventStoreDB connection string starting with 'esdb://' or 'esdb+discover://', or a PostgreSQL one starting with 'postgres://'")}
			}
			return nil
		}},
	{Name: "postgres", field: func(c *Config) *string { return &c.Postgres },
		Env: "ASSENT_POSTGRES", Secret: true,
		Usage:      "PostgreSQL connection string for a log shared by several nodes (postgres://user:password@host:5432/db); empty for none",
		DefaultDoc: "empty: the embedded store",
		Doc:        "a PostgreSQL connection string (`postgres://assent:password@db:5432/assent`) for a log shared by several nodes; not with `--eventstore`; its password is never logged nor shown in an error",
		check: func(c *Config) []error {
			if c.Postgres == "" {
				return nil
			}
			errs := validatePostgres(c.Postgres)
			if c.EventStore != "" {
				errs = append(errs, fmt.Errorf("server: options 'postgres' and 'eventstore' must not both be set, but both are"))
			}
			return errs
		}},
	{Name: "public-url", field: func(c *Config) *string { return &c.PublicURL },
		Env:        "ASSENT_PUBLIC_URL",
		Usage:      "base URL of links the server hands out (default: each request's origin)",
		DefaultDoc: "each request's origin",
		Doc:        "base of the enrollment links the server hands out; when it is https, the session cookie is `Secure` and answers carry HSTS (one year)",
		check:      func(c *Config) []error { return checkURL("public-url", c.PublicURL) }},
	{Name: "trusted-proxies", field: func(c *Config) *string { return &c.TrustedProxies },
		Env: "ASSENT_TRUSTED_PROXIES", List: true,
		Usage:      "CIDRs or IPs of reverse proxies whose X-Forwarded-For, X-Real-IP and X-Forwarded-Proto are believed, comma-separated (default: none)",
		DefaultDoc: "none: no forwarding header is believed",
		Doc:        "CIDRs or IPs of the reverse proxies in front, comma-separated (`10.0.0.0/8,192.0.2.7`), whose `X-Forwarded-For`, `X-Real-IP` and `X-Forwarded-Proto` are believed, for rate limits and recorded addresses ([docs/api.md](docs/api.md#behind-a-reverse-proxy))",
		check: func(c *Config) []error {
			if _, err := c.TrustedProxyNets(); err != nil {
				return []error{err}
			}
			return nil
		}},
	{Name: "auditor-tokens", field: func(c *Config) *string { return &c.AuditorTokens },
		Env: "ASSENT_AUDITOR_TOKENS", List: true,
		Usage:      "auditors' credentials as name:sha256hex, comma-separated (see assent audit token)",
		DefaultDoc: "none (and `<data-dir>/auditors.json`)",
		Doc:        "auditors' read-only credentials as `name:sha256hex`; `assent audit token create` makes one"},
	{Name: "admin-tokens", field: func(c *Config) *string { return &c.AdminTokens },
		Env: "ASSENT_ADMIN_TOKENS", List: true,
		Usage:      "help-desk administrators' credentials as name:sha256hex, comma-separated (see assent admin token)",
		DefaultDoc: "none (and `<data-dir>/admins.json`)",
		Doc:        "the help desk's credentials as `name:sha256hex`; `assent admin token create` makes one"},
	{Name: "metrics-listen", field: func(c *Config) *string { return &c.MetricsListen },
		Env:        "ASSENT_METRICS_LISTEN",
		Usage:      "host:port of the Prometheus /metrics listener, apart from --listen (default: none)",
		DefaultDoc: "empty: none",
		Doc:        "host:port of the Prometheus `/metrics` listener, apart from `--listen` and never public (see [docs/operations.md](docs/operations.md))",
		check: func(c *Config) []error {
			if c.MetricsListen == "" {
				return nil
			}
			if _, p, err := splitPort(c.MetricsListen); err != nil {
				return bad("metrics-listen", "be empty or a host:port address such as '127.0.0.1:9464'", c.MetricsListen)
			} else if p < 0 || p > 65535 {
				return bad("metrics-listen", "have a port between 0 and 65535", c.MetricsListen)
			}
			return nil
		}},
	{Name: "tls-cert", field: func(c *Config) *string { return &c.TLSCert },
		Env:        "ASSENT_TLS_CERT",
		Usage:      "PEM file of the server's certificate and chain: serve HTTPS (with --tls-key; re-read when it changes)",
		DefaultDoc: "none: plain HTTP",
		Doc:        "PEM certificate (with its chain): with `--tls-key` the server speaks HTTPS only, and re-reads the files within a second of a change (a renewal); `assent healthcheck` trusts exactly this certificate"},
	{Name: "tls-key", field: func(c *Config) *string { return &c.TLSKey },
		Env:        "ASSENT_TLS_KEY",
		Usage:      "PEM file of the certificate's private key (with --tls-cert)",
		DefaultDoc: "none: plain HTTP",
		Doc:        "PEM file of the certificate's private key (with `--tls-cert`)",
		check: func(c *Config) []error {
			if (c.TLSCert == "") != (c.TLSKey == "") {
				return bad("tls-cert", "be set together with 'tls-key'", c.TLSCert)
			}
			return nil
		}},
	{Name: "debug-listen", field: func(c *Config) *string { return &c.DebugListen },
		Env:        "ASSENT_DEBUG_LISTEN",
		Usage:      "host:port of the Go profiler (/debug/pprof/), apart from --listen; for operators only, never public (default: none)",
		DefaultDoc: "empty: none",
		Doc:        "host:port of the Go profiler (`/debug/pprof/`), apart from `--listen`, for operators only (see [docs/operations.md](docs/operations.md#profiling))",
		check: func(c *Config) []error {
			if c.DebugListen == "" {
				return nil
			}
			if host, p, err := splitPort(c.DebugListen); err != nil || host == "" {
				return bad("debug-listen", "be empty or a host:port address with its host, such as '127.0.0.1:6060',", c.DebugListen)
			} else if p < 0 || p > 65535 {
				return bad("debug-listen", "have a port between 0 and 65535", c.DebugListen)
			}
			return nil
		}},
	{Name: "password-hashing", field: func(c *Config) *string { return &c.PasswordHashing },
		Env: "ASSENT_PASSWORD_HASHING", Default: "worker",
		Usage: "where password hashes are computed: worker (a separate process at the lowest priority) or inline (in the server's process)",
		Doc:   "where argon2id password hashes and checks are computed: `worker`, a child process of the server (the same executable) at the lowest priority, or `inline`, in the server's own process (see [docs/operations.md](docs/operations.md#password-hashing))",
		check: func(c *Config) []error {
			return oneOf("password-hashing", "be 'worker' or 'inline'", c.PasswordHashing, "worker", "inline")
		}},
	{Name: "admin-server", field: func(c *Config) *string { return &c.AdminServer },
		Flag: "server", Env: "ASSENT_ADMIN_SERVER", Commands: "`assent admin account …`",
		Usage:      "a running server's URL, e.g. https://auth.example.com: act through its admin API",
		DefaultDoc: "none: the command opens the store itself",
		Doc:        "a running server's URL (`https://auth.example.com`): the help desk's account commands act through its admin API ([docs/helpdesk.md](docs/helpdesk.md))",
		check:      func(c *Config) []error { return checkURL("admin-server", c.AdminServer) }},
	{Name: "admin-token", field: func(c *Config) *string { return &c.AdminToken },
		Flag: "token", Env: "ASSENT_ADMIN_TOKEN", Secret: true, Commands: "`assent admin account …`",
		Usage:      "the administrator's token for --server",
		DefaultDoc: "none",
		Doc:        "the administrator's token for `--server` (`assent admin token create` makes one)"},
	{Name: "audit-server", field: func(c *Config) *string { return &c.AuditServer },
		Flag: "server", Env: "ASSENT_AUDIT_SERVER", Commands: "`assent audit …`",
		Usage:      "base URL of a server, e.g. http://127.0.0.1:8080: read through its audit API",
		DefaultDoc: "none: the command opens the store read-only",
		Doc:        "a running server's URL: the audit commands read its audit API, which records each read ([docs/audit.md](docs/audit.md))",
		check:      func(c *Config) []error { return checkURL("audit-server", c.AuditServer) }},
	{Name: "auditor-token", field: func(c *Config) *string { return &c.AuditorToken },
		Flag: "token", Env: "ASSENT_AUDITOR_TOKEN", Secret: true, Commands: "`assent audit …`",
		Usage:      "auditor token for --server",
		DefaultDoc: "none",
		Doc:        "the auditor's token for `--server` (`assent audit token create` makes one)"},
}

// bad is the one error of a value that breaks its option's rule, in Authelia's wording.
func bad(option, rule, value string) []error {
	return []error{fmt.Errorf("server: option '%s' must %s but it's configured as '%s'", option, rule, value)}
}

func oneOf(option, rule, value string, allowed ...string) []error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return bad(option, rule, value)
}

// checkURL accepts an empty value or an http(s) URL with a host.
func checkURL(option, value string) []error {
	if value == "" {
		return nil
	}
	if u, err := url.Parse(value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad(option, "be an http or https URL such as 'https://auth.example.com'", value)
	}
	return nil
}
