package main

import (
	"context"

	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/snapshots"
)

// openSnapshots opens the node's own database in the data directory and the account
// snapshots kept in it (table snap_streams), for every backend: a snapshot is this node's
// hint, checked against the log on every use, so it needs no sharing between nodes.
func openSnapshots(ctx context.Context, dataDir string) (*localdb.DB, *snapshots.Store, error) {
	db, err := localdb.Open(ctx, dataDir)
	if err != nil {
		return nil, nil, err
	}
	snaps, err := snapshots.Open(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, snaps, nil
}
