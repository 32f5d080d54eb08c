package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// adminCommand groups the administrator's commands. They write to the embedded store in
// --data-dir directly, so they run while the server is stopped: the server holds the store
// as its single writer, and a command run beside it fails with the store's lock error rather
// than write behind the server's back. Changes take effect when the server starts again.
func adminCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Administer the server's data directory (while the server is stopped)"}
	cmd.AddCommand(oidcClientCommand(), oidcKeysCommand())
	return cmd
}

// adminFlags are the flags every admin command takes.
type adminFlags struct{ dataDir, secretKeys string }

func (f *adminFlags) add(cmd *cobra.Command) {
	f.dataDir = "./data"
	if v, ok := os.LookupEnv("ASSENT_DATA_DIR"); ok {
		f.dataDir = v
	}
	f.secretKeys = os.Getenv("ASSENT_SECRET_KEYS")
	cmd.PersistentFlags().StringVar(&f.dataDir, "data-dir", f.dataDir, "directory of the embedded event store and generated keys (env ASSENT_DATA_DIR)")
}

// withService opens the data directory's store and keyring, runs fn with a service on them,
// and closes the store.
func (f *adminFlags) withService(ctx context.Context, fn func(*app.Service) error) error {
	path := filepath.Join(f.dataDir, "events.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no event store in '%s' (start the server once to create it): %w", f.dataDir, err)
	}
	store, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return fmt.Errorf("open event store (is the server running? stop it first): %w", err)
	}
	defer store.Close()
	keyring, err := app.LoadOrCreateKeyring(f.dataDir, f.secretKeys)
	if err != nil {
		return err
	}
	svc, err := app.New(app.Config{Store: store, Keyring: keyring})
	if err != nil {
		return err
	}
	return fn(svc)
}
