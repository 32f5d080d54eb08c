package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/projections"
)

// projectionsCommand groups the tools that work on read models.
func projectionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "Work on the read models folded from the event log"}
	cmd.AddCommand(rebuildCommand(), projectionsStatusCommand())
	return cmd
}

// projectionsFlags are where the projections commands find the log and the read models: the
// embedded store in --data-dir and readmodels.db beside it, or PostgreSQL (--postgres), which
// holds both; and the keys that open personal fields (--secret-keys, else keys.json).
type projectionsFlags struct{ flags *pflag.FlagSet }

func (f *projectionsFlags) register(cmd *cobra.Command) {
	f.flags = cmd.Flags()
	config.Register(f.flags, "data-dir", "postgres", "secret-keys")
}

// open opens the log (read only for the embedded store) and the read models.
func (f *projectionsFlags) open(ctx context.Context, name string) (eventstore.Store, *projections.Set, func(), error) {
	cfg, err := config.Load(f.flags, os.Environ())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("projections %s: %w", name, err)
	}
	var store eventstore.Store
	if cfg.Postgres != "" {
		pg, err := postgres.Open(ctx, cfg.Postgres, postgres.Options{})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("projections %s: open event store: %w", name, err)
		}
		store = pg
	} else {
		path := filepath.Join(cfg.DataDir, "events.db")
		if _, err := os.Stat(path); err != nil {
			return nil, nil, nil, fmt.Errorf("projections %s: no event store in '%s': %w", name, cfg.DataDir, err)
		}
		sq, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("projections %s: open event store: %w", name, err)
		}
		store = sq
	}
	// The read models hold personal fields in the clear: they are folded from the log opened
	// with the accounts' keys, as a serving node folds them.
	sealed, err := offlineSealing(cfg.DataDir, cfg.SecretKeys, store)
	if err != nil {
		store.Close()
		return nil, nil, nil, fmt.Errorf("projections %s: %w", name, err)
	}
	store = sealed
	var local *localdb.DB
	if cfg.Postgres == "" {
		if local, err = localdb.Open(ctx, cfg.DataDir); err != nil {
			store.Close()
			return nil, nil, nil, fmt.Errorf("projections %s: %w", name, err)
		}
	}
	closeLocal := func() {
		if local != nil {
			local.Close()
		}
	}
	set, closeViews, err := openReadModels(ctx, cfg, local, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		closeLocal()
		store.Close()
		return nil, nil, nil, fmt.Errorf("projections %s: %w", name, err)
	}
	set.Challenges.RetainFor(challengeRetention) // as a serving node does, so that both hold the same
	return store, set, func() { closeViews(); closeLocal(); store.Close() }, nil
}

// rebuildCommand rebuilds every read model from position zero into fresh tables, which then
// replace the live ones, and prints what it built, how long it took and how fast it went.
func rebuildCommand() *cobra.Command {
	var f projectionsFlags
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Rebuild every read model from position zero into fresh tables that replace the old ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, set, closeAll, err := f.open(cmd.Context(), "rebuild")
			if err != nil {
				return err
			}
			defer closeAll()
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(rebuildGCPercent)
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return fmt.Errorf("projections rebuild: %w", err)
				}
				defer stop()
			}
			st, err := set.Rebuild(cmd.Context(), store)
			if err != nil {
				return fmt.Errorf("projections rebuild: %w", err)
			}
			w := cmd.OutOrStdout()
			rate := 0.0
			if s := st.Took.Seconds(); s > 0 {
				rate = float64(st.Events) / s
			}
			fmt.Fprintf(w, "rebuilt from position 0 to %d: %d events in %s (%.0f events/s)\n", st.Position, st.Events, st.Took.Round(1e6), rate)
			fmt.Fprintf(w, "accounts    %d\n", st.Accounts)
			fmt.Fprintf(w, "devices     %d\n", st.Devices)
			fmt.Fprintf(w, "challenges  %d\n", st.Challenges)
			fmt.Fprintf(w, "pending     %d\n", st.Pending)
			fmt.Fprintf(w, "signouts    %d\n", st.SignOuts)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the rebuild to this file (for go tool pprof)")
	return cmd
}

// rebuildGCPercent is the collector's target during a rebuild, unless GOGC is set: a rebuild
// keeps a group of events and the rows it changed live (about 100 MiB), and allocates all the
// time; with Go's default of 100% the collector marked 6% of the processor time on 10 million
// events. Twice the live memory of headroom halves that, for a command that runs alone and
// ends (docs/performance.md, "The rebuild's pipeline").
const rebuildGCPercent = 200

// startCPUProfile writes a CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// projectionsStatusCommand prints each read model's checkpoint and lag behind the log, and the
// events a read model failed to apply.
func projectionsStatusCommand() *cobra.Command {
	var f projectionsFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print each read model's checkpoint, its lag behind the log, and the events it failed to apply",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, set, closeAll, err := f.open(cmd.Context(), "status")
			if err != nil {
				return err
			}
			defer closeAll()
			head, err := headOf(store)(cmd.Context())
			if err != nil {
				return fmt.Errorf("projections status: %w", err)
			}
			failures, err := set.Store().Failures(cmd.Context())
			if err != nil {
				return fmt.Errorf("projections status: %w", err)
			}
			lags := map[string]string{}
			for _, p := range set.All() {
				n, err := lagOf(store)(cmd.Context(), p.Position(), statusLagLimit)
				if err != nil {
					return fmt.Errorf("projections status: %w", err)
				}
				lags[p.Name()] = lagText(n, statusLagLimit)
			}
			printStatus(cmd.OutOrStdout(), set, head, lags, failures)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// statusLagLimit is how many events the status command counts behind a read model at most.
const statusLagLimit = 1_000_000

func printStatus(out io.Writer, set *projections.Set, head eventstore.Position, lags map[string]string, failures []projections.FailedEvent) {
	fmt.Fprintf(out, "log head: %d\n\n", head)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROJECTION\tCHECKPOINT\tLAG\tFAILED EVENTS")
	for _, p := range set.All() {
		n := 0
		for _, fe := range failures {
			if fe.Projection == p.Name() {
				n++
			}
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%d\n", p.Name(), p.Position(), lags[p.Name()], n)
	}
	w.Flush()
	if len(failures) == 0 {
		fmt.Fprintln(out, "\nno failed events")
		return
	}
	fmt.Fprintln(out, "\nfailed events:")
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROJECTION\tPOSITION\tTYPE\tSCHEMA\tATTEMPTS\tSTATE\tERROR")
	for _, fe := range failures {
		state := "retrying"
		if fe.Skipped {
			state = "skipped"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\tv%d\t%d\t%s\t%s\n", fe.Projection, fe.Position, fe.Type, fe.SchemaVersion, fe.Attempts, state, fe.Error)
	}
	w.Flush()
}
