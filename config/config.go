// Package config holds the server's settings: their defaults, how they are read from flags and
// ASSENT_* environment variables, and one validation that reports every problem at once.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the server's configuration.
type Config struct {
	// DataDir holds the embedded event store and the server's generated keys.
	DataDir string
	// Listen is the host:port the HTTP server listens on.
	Listen string
	// LogLevel is one of debug, info, warn, error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration
	// SecretKeys are the keys that seal secrets in the log, "id:base64key" separated by commas,
	// primary first. Empty: a key is generated once and kept in <data-dir>/keys.json.
	SecretKeys string
	// EventStore is empty for the embedded store in DataDir, or an EventStoreDB connection
	// string (esdb://host:2113,...) for a cluster shared by several nodes.
	EventStore string
	// Postgres is a PostgreSQL connection string (postgres://user:password@host:5432/db) for a
	// log shared by several nodes; empty: not used.
	Postgres string
	// AuditorTokens are the auditors' read-only credentials as "name:sha256hex" (the SHA-256 of
	// the token, never the token), comma-separated; <data-dir>/auditors.json adds more.
	AuditorTokens string
	// AdminTokens are the help desk's credentials as "name:sha256hex" (the SHA-256 of the
	// token), comma-separated; <data-dir>/admins.json adds more.
	AdminTokens string
	// PublicURL is the base of the links the server hands out, e.g. https://auth.example.com.
	// Empty: the origin of each request.
	PublicURL string
	// TrustedProxies are the addresses (CIDRs or single IPs, comma-separated) of the reverse
	// proxies whose forwarding headers (X-Forwarded-For, X-Real-IP, X-Forwarded-Proto) are
	// believed. Empty: no header is believed, and the client is the TCP peer.
	TrustedProxies string
	// MetricsListen is the host:port of the Prometheus /metrics listener, apart from the API's.
	// Empty: no metrics listener.
	MetricsListen string
	// TLSCert and TLSKey are PEM files of the server's certificate (with its chain) and key.
	// Both set: the server speaks HTTPS only, and re-reads the files when they change.
	TLSCert, TLSKey string
	// DebugListen is the host:port of the Go profiler's listener (net/http/pprof), apart from
	// the API's. Empty: none.
	DebugListen string
	// PasswordHashing says where argon2id password hashes and checks are computed: "worker",
	// a separate process at the lowest priority, so that their CPU time and memory stay out of
	// the server's, or "inline", in the server's own process. Default "worker".
	PasswordHashing string
}

// TrustedProxyNets parses TrustedProxies; a single IP is a network of one address. The error
// names every entry that is neither a CIDR nor an IP address.
func (c *Config) TrustedProxyNets() ([]*net.IPNet, error) {
	var nets []*net.IPNet
	var errs []error
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if n := parseNet(f); n != nil {
			nets = append(nets, n)
			continue
		}
		errs = append(errs, fmt.Errorf("server: option 'trusted-proxies' must be a comma-separated list of CIDRs or IP addresses such as '10.0.0.0/8,192.0.2.7' but it's configured with the entry '%s'", f))
	}
	return nets, errors.Join(errs...)
}

// parseNet reads a CIDR, or an IP address as the network of that one address; nil if neither.
func parseNet(s string) *net.IPNet {
	if strings.Contains(s, "/") {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil
		}
		return n
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil
	}
	if ip4 := ip.To4(); ip4 != nil {
		return &net.IPNet{IP: ip4, Mask: net.CIDRMask(32, 32)}
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}
}

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		DataDir:         "./data",
		Listen:          "127.0.0.1:8080",
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 15 * time.Second,
		PasswordHashing: "worker",
	}
}

// Option describes one setting: its flag, its environment variable and its help text.
type Option struct {
	Name  string // the flag name, and the name used in error messages
	Env   string
	Usage string
}

// Options lists every setting, for flags, help and documentation.
var Options = []Option{
	{"data-dir", "ASSENT_DATA_DIR", "directory of the embedded event store and generated keys"},
	{"listen", "ASSENT_LISTEN", "host:port the HTTP server listens on"},
	{"log-level", "ASSENT_LOG_LEVEL", "debug, info, warn or error"},
	{"log-format", "ASSENT_LOG_FORMAT", "text or json"},
	{"shutdown-timeout", "ASSENT_SHUTDOWN_TIMEOUT", "how long a graceful shutdown may take (a Go duration, e.g. 15s)"},
	{"secret-keys", "ASSENT_SECRET_KEYS", "keys sealing secrets, id:base64key comma-separated, primary first (default: generated in the data directory)"},
	{"eventstore", "ASSENT_EVENTSTORE", "empty for the embedded store in --data-dir, an EventStoreDB connection string (esdb://host:2113?tls=false), or a PostgreSQL one (postgres://…, the same as --postgres)"},
	{"postgres", "ASSENT_POSTGRES", "PostgreSQL connection string for a log shared by several nodes (postgres://user:password@host:5432/db); empty for none"},
	{"auditor-tokens", "ASSENT_AUDITOR_TOKENS", "auditors' credentials as name:sha256hex, comma-separated (see assent audit token)"},
	{"admin-tokens", "ASSENT_ADMIN_TOKENS", "help-desk administrators' credentials as name:sha256hex, comma-separated (see assent admin token)"},
	{"public-url", "ASSENT_PUBLIC_URL", "base URL of links the server hands out (default: each request's origin)"},
	{"trusted-proxies", "ASSENT_TRUSTED_PROXIES", "CIDRs or IPs of reverse proxies whose X-Forwarded-For, X-Real-IP and X-Forwarded-Proto are believed, comma-separated (default: none)"},
	{"metrics-listen", "ASSENT_METRICS_LISTEN", "host:port of the Prometheus /metrics listener, apart from --listen (default: none)"},
	{"tls-cert", "ASSENT_TLS_CERT", "PEM file of the server's certificate and chain: serve HTTPS (with --tls-key; re-read when it changes)"},
	{"tls-key", "ASSENT_TLS_KEY", "PEM file of the certificate's private key (with --tls-cert)"},
	{"debug-listen", "ASSENT_DEBUG_LISTEN", "host:port of the Go profiler (/debug/pprof/), apart from --listen; for operators only, never public (default: none)"},
	{"password-hashing", "ASSENT_PASSWORD_HASHING", "where password hashes are computed: worker (a separate process at the lowest priority) or inline (in the server's process)"},
}

// Set assigns the raw value of the named option; a value that cannot be parsed is an error
// in the same words as Validate's.
func (c *Config) Set(name, value string) error {
	switch name {
	case "data-dir":
		c.DataDir = value
	case "listen":
		c.Listen = value
	case "log-level":
		c.LogLevel = value
	case "log-format":
		c.LogFormat = value
	case "shutdown-timeout":
		d, err := time.ParseDuration(value)
		if err != nil {
			return fmt.Errorf("server: option 'shutdown-timeout' must be a duration such as '15s' but it's configured as '%s'", value)
		}
		c.ShutdownTimeout = d
	case "secret-keys":
		c.SecretKeys = value
	case "public-url":
		c.PublicURL = value
	case "tls-cert":
		c.TLSCert = value
	case "tls-key":
		c.TLSKey = value
	case "eventstore":
		// A PostgreSQL connection string names the PostgreSQL backend, as --postgres does.
		if strings.HasPrefix(value, "postgres://") || strings.HasPrefix(value, "postgresql://") {
			c.Postgres, c.EventStore = value, ""
		} else {
			c.EventStore = value
		}
	case "postgres":
		c.Postgres = value
	case "auditor-tokens":
		c.AuditorTokens = value
	case "admin-tokens":
		c.AdminTokens = value
	case "trusted-proxies":
		c.TrustedProxies = value
	case "metrics-listen":
		c.MetricsListen = value
	case "debug-listen":
		c.DebugListen = value
	case "password-hashing":
		c.PasswordHashing = value
	default:
		return fmt.Errorf("config: unknown option '%s'", name)
	}
	return nil
}

// Get returns the value of the named option as text.
func (c *Config) Get(name string) string {
	switch name {
	case "data-dir":
		return c.DataDir
	case "listen":
		return c.Listen
	case "log-level":
		return c.LogLevel
	case "log-format":
		return c.LogFormat
	case "shutdown-timeout":
		return c.ShutdownTimeout.String()
	case "secret-keys":
		return "" // never shown
	case "public-url":
		return c.PublicURL
	case "tls-cert":
		return c.TLSCert
	case "tls-key":
		return c.TLSKey
	case "eventstore", "postgres":
		return "" // may hold a password
	case "auditor-tokens":
		return c.AuditorTokens
	case "admin-tokens":
		return c.AdminTokens
	case "trusted-proxies":
		return c.TrustedProxies
	case "metrics-listen":
		return c.MetricsListen
	case "debug-listen":
		return c.DebugListen
	case "password-hashing":
		return c.PasswordHashing
	}
	return ""
}

// FromEnv applies the ASSENT_* variables that lookup finds (os.LookupEnv in production) and
// returns every value that could not be parsed.
func (c *Config) FromEnv(lookup func(string) (string, bool)) error {
	var errs []error
	for _, o := range Options {
		if v, ok := lookup(o.Env); ok {
			if err := c.Set(o.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%w (from %s)", err, o.Env))
			}
		}
	}
	return errors.Join(errs...)
}

// Validate reports every problem of c at once, each naming the option, the rule and the value.
func (c *Config) Validate() error {
	var errs []error
	bad := func(option, rule, value string) {
		errs = append(errs, fmt.Errorf("server: option '%s' must %s but it's configured as '%s'", option, rule, value))
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data-dir", "be a directory path", c.DataDir)
	} else if fi, err := os.Stat(c.DataDir); err == nil && !fi.IsDir() {
		bad("data-dir", "be a directory, not a file,", c.DataDir)
	}
	if host, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "be a host:port address such as '127.0.0.1:8080'", c.Listen)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		bad("listen", "have a port between 0 and 65535", c.Listen)
	} else if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		bad("listen", "have a valid host", c.Listen)
	}
	if c.MetricsListen != "" {
		if _, port, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad("metrics-listen", "be empty or a host:port address such as '127.0.0.1:9464'", c.MetricsListen)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad("metrics-listen", "have a port between 0 and 65535", c.MetricsListen)
		}
	}
	if c.DebugListen != "" {
		if host, port, err := net.SplitHostPort(c.DebugListen); err != nil || host == "" {
			bad("debug-listen", "be empty or a host:port address with its host, such as '127.0.0.1:6060',", c.DebugListen)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad("debug-listen", "have a port between 0 and 65535", c.DebugListen)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "be one of 'debug', 'info', 'warn' or 'error'", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format", "be 'text' or 'json'", c.LogFormat)
	}
	if c.EventStore != "" && !strings.HasPrefix(c.EventStore, "esdb://") && !strings.HasPrefix(c.EventStore, "esdb+discover://") {
		errs = append(errs, fmt.Errorf("server: option 'eventstore' must be empty, an EventStoreDB connection string starting with 'esdb://' or 'esdb+discover://', or a PostgreSQL one starting with 'postgres://'"))
	}
	if c.Postgres != "" {
		errs = append(errs, validatePostgres(c.Postgres)...)
		if c.EventStore != "" {
			errs = append(errs, fmt.Errorf("server: options 'postgres' and 'eventstore' must not both be set, but both are"))
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public-url", "be an http or https URL such as 'https://auth.example.com'", c.PublicURL)
		}
	}
	if _, err := c.TrustedProxyNets(); err != nil {
		errs = append(errs, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-cert", "be set together with 'tls-key'", c.TLSCert)
	}
	if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > 10*time.Minute {
		bad("shutdown-timeout", "be between 1s and 10m", c.ShutdownTimeout.String())
	}
	if c.PasswordHashing != "worker" && c.PasswordHashing != "inline" {
		bad("password-hashing", "be 'worker' or 'inline'", c.PasswordHashing)
	}
	return errors.Join(errs...)
}

// validatePostgres checks a PostgreSQL connection string without repeating it: it may hold a
// password, so the errors show it with the password replaced by "xxxxx".
func validatePostgres(raw string) []error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return []error{fmt.Errorf("server: option 'postgres' must be a connection string such as 'postgres://assent:password@db:5432/assent' but it's configured as something else (not shown: it may hold a password)")}
	}
	shown := u.Redacted()
	var errs []error
	if u.Hostname() == "" {
		errs = append(errs, fmt.Errorf("server: option 'postgres' must name a host, as in 'postgres://assent:password@db:5432/assent', but it's configured as '%s'", shown))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("server: option 'postgres' must have a port between 1 and 65535 but it's configured as '%s'", shown))
		}
	}
	if strings.Trim(u.Path, "/") == "" {
		errs = append(errs, fmt.Errorf("server: option 'postgres' must name a database, as in 'postgres://assent:password@db:5432/assent', but it's configured as '%s'", shown))
	}
	return errs
}
