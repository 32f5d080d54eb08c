package main

import (
	"context"

	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/snapshots"
)

// openSnapshots opens the account snapshots kept in the node's own database (table
// snap_streams), for every backend: a snapshot is this node's hint, checked against the log on
// every use, so it needs no sharing between nodes.
func openSnapshots(ctx context.Context, db *localdb.DB) (*snapshots.Store, error) {
	return snapshots.Open(ctx, db)
}
