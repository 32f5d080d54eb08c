package main

import (
	"log/slog"
	"os"
	"path/filepath"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/keyfile"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/secrets"
)

// sealing returns the keys that seal accounts' personal fields, kept in the store's
// eventstore.SubjectKeys and wrapped by the keyring, and the store that seals and opens them
// (docs/erasure.md). On a store that keeps no keys (EventStoreDB, for now) personal fields are
// written in the clear and erasure is refused; the log says so once.
func sealing(store eventstore.Store, keyring *secrets.Keyring, log *slog.Logger) (*personal.Keys, eventstore.Store) {
	sk, ok := store.(eventstore.SubjectKeys)
	if !ok {
		log.Warn("erasure is OFF: this event store keeps no account keys, personal fields are stored in the clear",
			"see", "docs/erasure.md")
		sk = nil
	}
	keys := personal.NewKeys(sk, keyring)
	return keys, personal.Wrap(store, personal.NewCodec(keys))
}

// offlineSealing is sealing for the commands that open the store themselves (audit,
// projections): with the keyring of the secret-keys option, else the data directory's keys.json
// (never created here). Without a keyring, nothing opens: personal fields read as absent.
func offlineSealing(dataDir, secretKeys string, store eventstore.Store) (eventstore.Store, error) {
	if _, err := os.Stat(filepath.Join(dataDir, keyfile.Name)); err != nil && secretKeys == "" {
		return store, nil
	}
	kr, err := keyfile.LoadOrCreate(dataDir, secretKeys)
	if err != nil {
		return nil, err
	}
	_, sealed := sealing(store, kr, slog.New(slog.DiscardHandler))
	return sealed, nil
}
