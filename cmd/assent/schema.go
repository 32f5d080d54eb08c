package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/schemas"
)

// schemaCommand shows and raises the deployment's record of event schema versions
// (docs/upgrades.md).
func schemaCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Show or raise the event schema versions every node of the deployment reads",
	}
	flags := func(c *cobra.Command) { config.Register(c.Flags(), "data-dir", "eventstore", "postgres") }
	build := schemas.Versions(domain.Events.Versions())
	status := &cobra.Command{
		Use:   "status",
		Short: "Print the versions the deployment allows beside those this build writes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return fmt.Errorf("schema status: %w", err)
			}
			store, _, err := openStore(cmd.Context(), cfg, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				return fmt.Errorf("schema status: %w", err)
			}
			defer store.Close()
			rec, found, err := schemas.Read(cmd.Context(), store)
			if err != nil {
				return fmt.Errorf("schema status: %w", err)
			}
			printSchemas(cmd.OutOrStdout(), rec, found, build)
			return nil
		},
	}
	raise := &cobra.Command{
		Use:   "raise",
		Short: "Allow every node to write the versions of this build: run it once every node runs this build or a newer one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return fmt.Errorf("schema raise: %w", err)
			}
			store, _, err := openStore(cmd.Context(), cfg, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				return fmt.Errorf("schema raise: %w", err)
			}
			defer store.Close()
			rec, raised, err := schemas.Raise(cmd.Context(), store, build, "operator", time.Now())
			if err != nil {
				return fmt.Errorf("schema raise: %w", err)
			}
			if !raised {
				fmt.Fprintln(cmd.OutOrStdout(), "the deployment already allows every version this build writes")
			}
			printSchemas(cmd.OutOrStdout(), rec, true, build)
			return nil
		},
	}
	flags(status)
	flags(raise)
	cmd.AddCommand(status, raise)
	return cmd
}

func printSchemas(w io.Writer, rec schemas.Allowed, found bool, build schemas.Versions) {
	if !found {
		fmt.Fprintln(w, "no record yet: the first node to start records the versions it writes")
	} else {
		fmt.Fprintf(w, "recorded %s by %s\n", rec.At.Format(time.RFC3339), rec.By)
	}
	fmt.Fprintf(w, "%-34s %8s %6s\n", "type", "allowed", "build")
	types := slices.Sorted(func(yield func(string) bool) {
		for t := range build {
			if !yield(t) {
				return
			}
		}
		for t := range rec.Versions {
			if _, ok := build[t]; !ok && !yield(t) {
				return
			}
		}
	})
	for _, t := range types {
		fmt.Fprintf(w, "%-34s %8d %6d\n", t, rec.Versions[t], build[t])
	}
}
