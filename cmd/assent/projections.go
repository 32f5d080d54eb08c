package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/projections"
)

// projectionsCommand groups the tools that work on read models.
func projectionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "Work on the read models folded from the event log"}
	cmd.AddCommand(rebuildCommand())
	return cmd
}

// rebuildCommand rebuilds every projection from position zero over the embedded store, read
// only, and prints what it built and how long it took. The read models live in memory today;
// when some are persisted, this is where they are rewritten.
func rebuildCommand() *cobra.Command {
	dataDir := "./data"
	if v, ok := os.LookupEnv("ASSENT_DATA_DIR"); ok {
		dataDir = v
	}
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Rebuild every projection from position zero and print counts and time taken",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := filepath.Join(dataDir, "events.db")
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("projections rebuild: no event store in '%s': %w", dataDir, err)
			}
			store, err := sqlite.Open(cmd.Context(), path, sqlite.Options{ReadOnly: true})
			if err != nil {
				return fmt.Errorf("projections rebuild: open event store: %w", err)
			}
			defer store.Close()
			st, err := projections.NewSet().Rebuild(cmd.Context(), store)
			if err != nil {
				return fmt.Errorf("projections rebuild: %w", err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "rebuilt from position 0 to %d: %d events in %s\n", st.Position, st.Events, st.Took.Round(1e6))
			fmt.Fprintf(w, "accounts    %d\n", st.Accounts)
			fmt.Fprintf(w, "devices     %d\n", st.Devices)
			fmt.Fprintf(w, "challenges  %d\n", st.Challenges)
			fmt.Fprintf(w, "pending     %d\n", st.Pending)
			fmt.Fprintf(w, "signouts    %d\n", st.SignOuts)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", dataDir, "directory of the embedded event store (env ASSENT_DATA_DIR)")
	return cmd
}
