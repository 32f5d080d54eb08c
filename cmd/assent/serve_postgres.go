package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres"
)

// openPostgres opens the log that several nodes share in the PostgreSQL database the
// configuration names. The connection string is logged without its password.
func openPostgres(ctx context.Context, cfg config.Config, log *slog.Logger) (eventstore.Store, eventstore.Position, error) {
	pg, err := postgres.Open(ctx, cfg.Postgres, postgres.Options{Logger: log.With("component", "postgres")})
	if err != nil {
		return nil, 0, fmt.Errorf("open event store: %w", err)
	}
	head, err := pg.Head(ctx)
	if err != nil {
		pg.Close()
		return nil, 0, fmt.Errorf("open event store: %w", err)
	}
	var host, db string
	if u, err := url.Parse(cfg.Postgres); err == nil {
		host, db = u.Host, strings.TrimPrefix(u.Path, "/")
	}
	log.Info("event store open", "backend", "postgres", "host", host, "database", db, "head", uint64(head))
	return pg, head, nil
}
