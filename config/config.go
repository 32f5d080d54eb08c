// Package config declares every option of the server and its commands once (Options), reads
// them in layers (flags over ASSENT_* environment variables over a TOML file over the
// defaults), and validates them in one pass that reports every problem at once.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the configuration of the server and of the commands beside it.
type Config struct {
	// File is the TOML file the options were read from; empty: none.
	File string
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
	// AdminServer and AdminToken are where the help desk's account commands act: a running
	// server's admin API and an administrator's token. Empty: the command opens the store.
	AdminServer, AdminToken string
	// AuditServer and AuditorToken are where the audit commands read: a running server's
	// audit API and an auditor's token. Empty: the command opens the store read-only.
	AuditServer, AuditorToken string
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

// Defaults returns the configuration used when nothing is set: each option's Default.
func Defaults() Config {
	var c Config
	for _, o := range Options {
		if o.Default != "" {
			if err := o.assign(&c, o.Default); err != nil {
				panic(err) // a declaration's own default must parse
			}
		}
	}
	return c
}

// lookup finds an option by name.
func lookup(name string) (Option, bool) {
	for _, o := range Options {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

func (o Option) assign(c *Config, v string) error {
	if o.set != nil {
		return o.set(c, v)
	}
	*o.field(c) = v
	return nil
}

// Set assigns the raw value of the named option; a value that cannot be parsed is an error
// in the same words as Validate's.
func (c *Config) Set(name, value string) error {
	o, ok := lookup(name)
	if !ok {
		return fmt.Errorf("config: unknown option '%s'", name)
	}
	return o.assign(c, value)
}

// Get returns the value of the named option as text; empty for a secret one (a key, a token,
// a connection string that may hold a password) and for an unknown name.
func (c *Config) Get(name string) string {
	o, ok := lookup(name)
	if !ok || o.Secret {
		return ""
	}
	if o.get != nil {
		return o.get(c)
	}
	return *o.field(c)
}

// FromEnv applies the ASSENT_* variables that lookup finds and returns every value that could
// not be parsed. The commands read the environment through Load, with the flags and the file.
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
	return c.validate(func(Option) bool { return true })
}

// validate checks the options that take part, in the order of Options.
func (c *Config) validate(takes func(Option) bool) error {
	var errs []error
	for _, o := range Options {
		if o.check != nil && takes(o) {
			errs = append(errs, o.check(c)...)
		}
	}
	return errors.Join(errs...)
}

// checkListen accepts a host:port address whose port is a number up to 65535.
func checkListen(option, value string) []error {
	host, p, err := splitPort(value)
	switch {
	case err != nil:
		return bad(option, "be a host:port address such as '127.0.0.1:8080'", value)
	case p < 0 || p > 65535:
		return bad(option, "have a port between 0 and 65535", value)
	case host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /"):
		return bad(option, "have a valid host", value)
	}
	return nil
}

// splitPort splits host:port; the port is -1 when it is not a number.
func splitPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		p = -1
	}
	return host, p, nil
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
