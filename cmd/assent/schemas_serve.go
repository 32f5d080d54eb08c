package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/schemas"
)

// schemaRefresh is how often, at most, a node reads the deployment's record again when a
// command would write a version it does not allow (an operator may have raised it).
const schemaRefresh = 10 * time.Second

// startSchemas settles the deployment's record of event schema versions at a node's start
// (docs/upgrades.md) and returns the guard of the node's appends, nil when there is nothing to
// guard. The embedded store has one writer, so its node allows its own versions (and raises
// the record, if one was made with assent schema raise); on PostgreSQL or EventStoreDB the first
// node records its versions and raising them is the operator's step. A node that cannot read
// what the deployment allows does not start.
func startSchemas(ctx context.Context, cfg config.Config, store eventstore.Store, log *slog.Logger) (*schemas.Guard, error) {
	sole := cfg.Postgres == "" && cfg.EventStore == ""
	build := schemas.Versions(domain.Events.Versions())
	rec, found, err := schemas.Start(ctx, store, build, sole, time.Now())
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, nil
	}
	var held []string
	for t, v := range build {
		if rec.Versions[t] < v {
			held = append(held, t)
		}
	}
	if len(held) > 0 {
		log.Warn("this build writes event schema versions the deployment does not allow yet: commands that write them are refused until every node runs this build and `assent schema raise` is run",
			"types", held)
	}
	return schemas.NewGuard(store, rec, schemaRefresh), nil
}
