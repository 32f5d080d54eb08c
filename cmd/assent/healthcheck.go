package main

import (
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
	listen := config.Defaults().Listen
	if v, ok := os.LookupEnv("ASSENT_LISTEN"); ok {
		listen = v
	}
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the server listening on --listen answers /healthz",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, port, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("healthcheck: option 'listen' must be a host:port address but it's configured as '%s'", listen)
			}
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			client := &http.Client{Timeout: 3 * time.Second}
			resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
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
	cmd.Flags().StringVar(&listen, "listen", listen, "address of the server (env ASSENT_LISTEN)")
	return cmd
}
