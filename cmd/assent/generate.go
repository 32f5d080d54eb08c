package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/storegen"
)

func generateCommand() *cobra.Command {
	cfg := storegen.Config{Accounts: 1_000_000, Events: 10_000_000}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Build a large, realistic embedded store in an empty data directory, for measurement",
		Long: `generate writes, into an empty data directory, an embedded store of the given number of
accounts and about the given number of events: accounts registered with one real argon2id hash
(hashed once and reused), four in five with a device linked (sealed TOTP secret, backup codes,
2FA on), and a history of sign-ins approved on the device or passed with its TOTP code and
redeemed, wrong passwords and sign-outs. Every event is decided by the domain as the server
would decide it. The data directory gets keys.json, so that assent serve runs on it, and
generated.json, which says how to sign in on its accounts (it holds their password and the
seed of their device keys: a generated store is for measurement only).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			began := time.Now()
			next := 1_000_000
			cfg.Progress = func(events int) {
				if events >= next {
					el := time.Since(began)
					fmt.Fprintf(w, "%d events in %s (%.0f events/s)\n", events, el.Round(time.Second), float64(events)/el.Seconds())
					next += 1_000_000
				}
			}
			res, err := storegen.Generate(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("generate: %w", err)
			}
			fmt.Fprintf(w, "generated %d accounts, %d events (%d sign-ins) in %s: %.0f events/s (the one argon2id hash took %s)\n",
				res.Accounts, res.Events, res.SignIns, res.Took.Round(time.Millisecond), float64(res.Events)/res.Took.Seconds(), res.Hashing.Round(time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "the empty data directory to build the store in")
	f.IntVar(&cfg.Accounts, "accounts", cfg.Accounts, "accounts to register")
	f.IntVar(&cfg.Events, "events", cfg.Events, "events to write, about")
	f.StringVar(&cfg.Seed, "seed", "", "seed of the device keys and TOTP secrets (default: random)")
	f.IntVar(&cfg.BatchEvents, "batch-events", 16384, "events written per transaction")
	return cmd
}
