package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/labstack/echo/v4"
	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/admins"
	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/bridge"
	"github.com/assent-dev/assent/eventstore/esdb"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/keyfile"
	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/personal"
	"github.com/assent-dev/assent/snapshots"
	"github.com/assent-dev/assent/transport/duoapi"
	"github.com/assent-dev/assent/transport/httpapi"
	"github.com/assent-dev/assent/transport/push"
	"github.com/assent-dev/assent/web"
	"github.com/assent-dev/assent/websession"
)

// challengeRetention is how long a node keeps a challenge's status after it was decided (or
// expired): long enough for any login page still asking, short enough that the read model does
// not grow with every sign-in for as long as the node runs. The log keeps every challenge.
const challengeRetention = 24 * time.Hour

func serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server on the embedded event store in --data-dir",
		Long: "Run the server on the embedded event store in --data-dir.\n\n" +
			"Every option can also be set with its ASSENT_* environment variable or in the TOML file of --config; " +
			"a flag wins over the variable, the variable over the file.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	config.Register(cmd.Flags(), serveOptions()...)
	return cmd
}

// serveOptions are the options of assent serve: every declared option but those of the
// commands that act through a server (their --server and --token).
func serveOptions() []string {
	var names []string
	for _, o := range config.Options {
		if o.Commands == "" {
			names = append(names, o.Name)
		}
	}
	return names
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
func serve(ctx context.Context, cfg config.Config, logw io.Writer) error {
	log := newLogger(cfg, logw)
	srv, err := start(ctx, cfg, log, startOptions{})
	if err != nil {
		return err
	}
	log.Info("listening", "addr", srv.scheme+"://"+srv.Addr())
	select {
	case err := <-srv.errc:
		srv.Stop(context.Background())
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return srv.Stop(sctx)
}

// server is a running Assent node: the store, the read models and their router, the
// application, the push hub, the sweeper and the HTTP server.
type server struct {
	log    *slog.Logger
	scheme string // http, or https with --tls-cert
	store  eventstore.Store
	router *message.Router
	// readModels catches the read models up and runs their router (readmodels.go).
	readModels *readModels
	http       *http.Server
	ln         net.Listener
	errc       chan error
	cancel     context.CancelFunc
	done       chan struct{}
	App        *app.Service
	Hub        *push.Hub
	Sessions   *websession.Sessions
	echo       *echo.Echo
	audit      *auditNode // see audit_serve.go
	metrics    *metricsNode
	debug      *debugListener // debug_serve.go
	// stopHashing stops the password worker, if any (hashing.go).
	stopHashing func()
	// local is the node's own database (readmodels.db): its read models on the embedded
	// store and EventStoreDB, and account snapshots on every backend. Closed last.
	local *localdb.DB
}

// echoRoutes lists the paths the HTTP server routes.
func (s *server) echoRoutes() []string {
	var out []string
	for _, r := range s.echo.Routes() {
		out = append(out, r.Path)
	}
	return out
}

// Addr is the address the server listens on.
func (s *server) Addr() string { return s.ln.Addr().String() }

// start opens the store and the read models, and starts serving at once: the read models
// catch up from their checkpoints meanwhile (/readyz says how far behind they are).
// startOptions adjust a node for tests and benchmarks.
type startOptions struct {
	tuneApp  func(*app.Config)
	limits   *httpapi.RateLimits
	timeouts *httpTimeouts
	// duoStatusHold is how long the Auth API's auth_status holds a pending transaction.
	duoStatusHold time.Duration
}

func start(ctx context.Context, cfg config.Config, log *slog.Logger, opts startOptions) (_ *server, err error) {
	if gc := tuneGC(os.Getenv); gc != 0 {
		log.Info("garbage collector target adapted to the live memory (GOGC is not set)", "gc_percent", gc)
	}
	inline := cfg.PasswordHashing == "inline"
	checks := spareProcessor(os.Getenv, inline) // gc.go
	if checks > 0 && inline {
		log.Info("one processor spared from password checks (GOMAXPROCS is not set)", "gomaxprocs", runtime.GOMAXPROCS(0), "password_checks", checks)
	}
	if err := ownerOnlyDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	mn := newMetricsNode() // metrics_serve.go
	store, head, err := openStore(ctx, cfg, log, mn.onCommit)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			store.Close()
		}
	}()
	if err := checkLogAgainstAnchor(ctx, cfg, store, head); err != nil {
		return nil, err
	}
	guard, err := startSchemas(ctx, cfg, store, log) // schemas_serve.go
	if err != nil {
		return nil, err
	}
	keyring, err := keyfile.LoadOrCreate(cfg.DataDir, cfg.SecretKeys)
	if err != nil {
		return nil, err
	}
	// Every reader and writer below but the audit's chain sees personal fields in the clear;
	// the log holds them sealed under each account's key (erasure_serve.go).
	keys, sealed := sealing(store, keyring, log)

	local, err := localdb.Open(ctx, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			local.Close()
		}
	}()
	views, closeViews, err := openReadModels(ctx, cfg, local, log) // readmodels.go
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	defer func() {
		if err != nil {
			closeViews()
		}
	}()
	views.Challenges.RetainFor(challengeRetention)
	views.WaitAtLeast(head)
	// Account snapshots, on every backend: a snapshot is this node's hint, checked against the
	// log on every use, so it needs no sharing between nodes.
	snaps, err := snapshots.Open(ctx, local)
	if err != nil {
		return nil, err
	}
	passwordKeys, stopHashing, err := startPasswordHashing(cfg, log) // hashing.go
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			stopHashing()
		}
	}()
	acfg := app.Config{Store: sealed, Keyring: keyring, Projections: views, PasswordChecks: checks,
		Snapshots: personal.SealSnapshots(snaps, keys), Erasure: keys, PasswordKeys: passwordKeys}
	if guard != nil {
		acfg.Schemas = guard
	}
	if opts.tuneApp != nil {
		opts.tuneApp(&acfg)
	}
	svc, err := app.New(acfg)
	if err != nil {
		return nil, err
	}
	hub := push.NewHub(hubBackend{App: svc}, mn.hubOptions())

	wlog := watermill.NewSlogLogger(log.With("component", "router"))
	rm, err := newReadModels(views, closeViews, sealed, log)
	if err != nil {
		return nil, err
	}
	// The push hub and the metrics follow the log from its head at once, on a router of their
	// own; the read models' router starts once they have caught up (readModels.run).
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wlog)
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(middleware.Recoverer)
	hubSub := bridge.NewSubscriber(sealed, &push.LiveCheckpoints{Head: func() eventstore.Position { return head }}, bridge.Config{Logger: wlog, Urgent: true})
	router.AddConsumerHandler("push-hub", "push-hub", hubSub, hub.Handler)
	// The metrics count events by type, which the stored record says: they follow the store
	// itself, whose records need no personal field opened.
	// They come in batches, a message at most every metricsLinger, so as to leave the moments
	// after a commit to the hub.
	mn.observe(store, svc, hub, views, router, bridge.NewSubscriber(store, &push.LiveCheckpoints{Head: func() eventstore.Position { return head }},
		bridge.Config{Logger: wlog, Batch: 1024, Linger: metricsLinger}))

	sessions, err := websession.NewSessions(keyring.DeriveKeys("session"), sessionTTL)
	if err != nil {
		return nil, err
	}
	sessions.UseSignOuts(views.SignOuts)
	sessions.UseSessionCuts(views.Sessions)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(mn.m.Middleware(log.With("component", "http"))) // access log and HTTP metrics
	limits := httpapi.DefaultRateLimits()
	if opts.limits != nil {
		limits = *opts.limits
	}
	aud, err := newAuditNode(cfg, store, sealed, local, keyring, log) // audit: checkpoints and /v1/audit
	if err != nil {
		return nil, err
	}
	proxies, err := cfg.TrustedProxyNets()
	if err != nil {
		return nil, err
	}
	desk, err := admins.Parse(cfg.AdminTokens, filepath.Join(cfg.DataDir, admins.File)) // the help desk's credentials
	if err != nil {
		return nil, err
	}
	httpapi.New(e, httpapi.Config{App: svc, Hub: hub, Sessions: sessions, Limits: limits, Log: log, PublicURL: cfg.PublicURL, Audit: aud.routes(), Admins: desk, TrustedProxies: proxies})
	httpapi.Health{Checks: map[string]httpapi.ReadinessCheck{
		"eventstore": func(ctx context.Context) error {
			if h, ok := store.(eventstore.HealthChecker); ok {
				return h.Health(ctx) // says in words what is wrong: a full disk, an I/O error
			}
			_, err := store.ReadAll(ctx, eventstore.Start, 1)
			return err
		},
		"router": func(context.Context) error {
			select {
			case <-router.Running():
				if router.IsClosed() {
					return errors.New("the event router has stopped")
				}
				return nil
			default:
				return errors.New("the event router is not running yet")
			}
		},
		"projections": rm.Ready,
	}, Notes: map[string]func(context.Context) string{"projections": rm.Note}}.Register(e)
	duoSrv := duoapi.Register(e, duoapi.Config{App: svc, Hub: hub, PublicURL: cfg.PublicURL, StatusHold: opts.duoStatusHold, Log: log.With("component", "duoapi")})
	web.Register(e)
	if err := mountOIDC(ctx, e, cfg, svc, sessions, keyring, log); err != nil {
		return nil, err
	}

	if err := mn.listen(cfg.MetricsListen, log); err != nil {
		return nil, err
	}
	dbg, err := listenDebug(cfg.DebugListen, log)
	if err != nil {
		mn.stop(ctx)
		return nil, err
	}
	var certs *certFiles
	if cfg.TLSCert != "" {
		if certs, err = newCertFiles(cfg.TLSCert, cfg.TLSKey, log); err != nil {
			mn.stop(ctx)
			dbg.stop(ctx)
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		mn.stop(ctx)
		dbg.stop(ctx)
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	scheme := "http"
	if certs != nil {
		ln, scheme = tls.NewListener(ln, certs.tlsConfig()), "https"
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	timeouts := defaultHTTPTimeouts()
	if opts.timeouts != nil {
		timeouts = *opts.timeouts
	}
	s := &server{log: log, store: store, scheme: scheme, router: router, readModels: rm, local: local, ln: ln, errc: make(chan error, 1), cancel: cancel,
		done: make(chan struct{}), App: svc, Hub: hub, Sessions: sessions, echo: e, stopHashing: stopHashing,
		http: timeouts.server(e)}
	go func() {
		if err := router.Run(rctx); err != nil {
			log.Error("event router stopped", "err", err)
		}
	}()
	rm.run(rctx, sealed)
	go s.sweep(rctx)
	s.audit = aud
	s.metrics = mn
	s.debug = dbg
	aud.run(rctx)
	s.http.RegisterOnShutdown(duoSrv.Drain) // held Auth API requests end at once
	go func() { s.errc <- s.http.Serve(ln) }()
	<-router.Running()
	return s, nil
}

// openStore opens the embedded store in the data directory, or the EventStoreDB cluster the
// configuration names, and returns it with the position of the log's head.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger, onCommit func(sqlite.CommitStats)) (eventstore.Store, eventstore.Position, error) {
	if cfg.Postgres != "" {
		return openPostgres(ctx, cfg, log)
	}
	if cfg.EventStore != "" {
		es, err := esdb.Open(ctx, cfg.EventStore, esdb.Options{Logger: log.With("component", "esdb")})
		if err != nil {
			return nil, 0, fmt.Errorf("open event store: %w", err)
		}
		head, err := es.Head(ctx)
		if err != nil {
			es.Close()
			return nil, 0, fmt.Errorf("open event store: %w", err)
		}
		log.Info("event store open", "backend", "eventstoredb", "head", uint64(head))
		return es, head, nil
	}
	path := filepath.Join(cfg.DataDir, "events.db")
	sq, err := sqlite.Open(ctx, path, sqlite.Options{OnCommit: onCommit})
	if err != nil {
		return nil, 0, fmt.Errorf("open event store: %w", err)
	}
	for _, f := range sq.Tightened() {
		log.Warn("store file was readable by others: its mode is now 0600", "path", f)
	}
	if n := sq.Stats().Reindexed; n > 0 {
		log.Warn("event store: the stream index disagreed with the log and was rebuilt from it", "events", n)
	}
	log.Info("event store open", "backend", "sqlite", "path", path, "head", uint64(sq.Head()))
	return sq, sq.Head(), nil
}

// sweep expires due challenges every second.
func (s *server) sweep(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.App.ExpireDueChallenges(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("expire challenges", "err", err)
			} else if n > 0 {
				s.log.Debug("challenges expired", "count", n)
			}
		}
	}
}

// Stop ends the streams and sockets (which the HTTP server's shutdown would otherwise wait
// for until its deadline), shuts the HTTP server down, then the router and the sweeper, then
// closes the store.
func (s *server) Stop(ctx context.Context) error {
	var errs []error
	if err := s.Hub.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("end streams and sockets: %w", err))
	}
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		s.http.Close()
	}
	if err := s.metrics.stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("metrics shutdown: %w", err))
	}
	if err := s.debug.stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("debug listener shutdown: %w", err))
	}
	if err := s.router.Close(); err != nil {
		errs = append(errs, fmt.Errorf("router close: %w", err))
	}
	if err := s.readModels.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("read models: %w", err))
	}
	s.cancel()
	<-s.done
	if err := s.audit.wait(); err != nil {
		errs = append(errs, err)
	}
	s.stopHashing()
	if err := s.local.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close local database: %w", err))
	}
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close event store: %w", err))
	} else {
		s.log.Info("event store closed")
	}
	return errors.Join(errs...)
}
