package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/config"
)

// healthcheckCommand asks a running server for /healthz: for container health checks, where
// no curl is at hand.
func healthcheckCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the server listening on --listen answers /healthz",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ()) // the server's own options and file
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			listen, tlsCert := cfg.Listen, cfg.TLSCert
			host, port, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("healthcheck: option 'listen' must be a host:port address but it's configured as '%s'", listen)
			}
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			client := &http.Client{Timeout: 3 * time.Second}
			scheme := "http"
			if tlsCert != "" {
				tr, err := pinnedTransport(tlsCert)
				if err != nil {
					return fmt.Errorf("healthcheck: %w", err)
				}
				client.Transport, scheme = tr, "https"
			}
			resp, err := client.Get(scheme + "://" + net.JoinHostPort(host, port) + "/healthz")
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck: /healthz answered %s", resp.Status)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	config.Register(cmd.Flags(), "listen", "tls-cert")
	return cmd
}

// pinnedTransport speaks HTTPS to the server on a loopback address, trusting exactly the
// certificate the server is configured with: the check reaches 127.0.0.1, which the certificate
// need not name, so the name checked is the certificate's own (its first DNS name).
func pinnedTransport(certFile string) (*http.Transport, error) {
	raw, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("option 'tls-cert' must be a PEM certificate but '%s' is not", certFile)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("option 'tls-cert' must be a PEM certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	name := ""
	switch {
	case len(leaf.DNSNames) > 0:
		name = leaf.DNSNames[0]
	case len(leaf.IPAddresses) > 0:
		name = leaf.IPAddresses[0].String()
	default:
		return nil, fmt.Errorf("the certificate in '%s' names no host", certFile)
	}
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}}, nil
}
