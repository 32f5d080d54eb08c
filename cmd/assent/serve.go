package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/transport/httpapi"
)

func serveCommand() *cobra.Command {
	cfg := config.Defaults()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server on the embedded event store in --data-dir",
		Long: "Run the server on the embedded event store in --data-dir.\n\n" +
			"Every option can also be set with its ASSENT_* environment variable; a flag wins over the variable.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyConfig(cmd, &cfg); err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	for _, o := range config.Options {
		cmd.Flags().String(o.Name, cfg.Get(o.Name), fmt.Sprintf("%s (env %s)", o.Usage, o.Env))
	}
	return cmd
}

// applyConfig layers defaults, then ASSENT_* variables, then flags, and validates the result,
// reporting every problem at once.
func applyConfig(cmd *cobra.Command, cfg *config.Config) error {
	var errs []error
	if err := cfg.FromEnv(os.LookupEnv); err != nil {
		errs = append(errs, err)
	}
	for _, o := range config.Options {
		if f := cmd.Flags().Lookup(o.Name); f != nil && f.Changed {
			if err := cfg.Set(o.Name, f.Value.String()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) == 0 {
		errs = append(errs, cfg.Validate())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the server until ctx ends, then shuts it down gracefully and closes the store.
func serve(ctx context.Context, cfg config.Config, logw io.Writer) (err error) {
	log := newLogger(cfg, logw)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	storePath := filepath.Join(cfg.DataDir, "events.db")
	store, err := sqlite.Open(ctx, storePath, sqlite.Options{})
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	defer func() {
		if cerr := store.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close event store: %w", cerr))
			return
		}
		log.Info("event store closed", "path", storePath)
	}()
	log.Info("event store open", "path", storePath, "head", uint64(store.Head()))

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	httpapi.Health{Checks: map[string]httpapi.ReadinessCheck{
		"eventstore": func(ctx context.Context) error {
			_, err := store.ReadAll(ctx, eventstore.Start, 1)
			return err
		},
	}}.Register(e)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", "http://"+ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}
