package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/keyfile"
)

// adminCommand groups the operator's commands that write to the log: integrations of the
// Duo-compatible Auth API, their bypass codes, and the OpenID Connect clients and signing keys.
// They open the store themselves, so on the embedded store the server must be stopped (it
// holds the store's single writer, and a command run beside it fails with the lock error
// rather than write behind its back); on EventStoreDB they run beside it. Changes take effect
// when the server starts again.
func adminCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Administer Assent: Duo-compatible integrations, OpenID Connect clients and keys, the help desk's acts on accounts"}
	cmd.AddCommand(integrationCommand(), bypassCodesCommand(), totpAppCommand(), oidcClientCommand(), oidcKeysCommand(), accountCommand(), adminTokenCommand())
	return cmd
}

// adminFlags are the settings an admin command needs to open the store and the keyring: the
// serve options of the same names, from flags, ASSENT_* variables or the file of --config.
var adminFlags = []string{"data-dir", "eventstore", "postgres", "secret-keys", "public-url", "listen"}

func addAdminFlags(cmd *cobra.Command) {
	config.Register(cmd.Flags(), adminFlags...)
}

// adminConfig reads the admin command's options: flags over ASSENT_* variables over the file
// over the defaults, validated.
func adminConfig(cmd *cobra.Command) (config.Config, error) {
	return config.Load(cmd.Flags(), os.Environ())
}

// withAdminService opens the store and the keyring of the configuration, runs fn on a service
// over them, and closes the store.
func withAdminService(cmd *cobra.Command, fn func(ctx context.Context, s *app.Service, cfg config.Config) error) error {
	cfg, err := adminConfig(cmd)
	if err != nil {
		return err
	}
	return withAdminServiceOf(cmd, cfg, fn)
}

// withAdminServiceOf is withAdminService with the options read already.
func withAdminServiceOf(cmd *cobra.Command, cfg config.Config, fn func(ctx context.Context, s *app.Service, cfg config.Config) error) error {
	ctx := cmd.Context()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	store, _, err := openStore(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if errors.Is(err, sqlite.ErrInUse) {
		return fmt.Errorf("the server is running on the data directory '%s' and holds its store: stop it, run this command, then start it again (%w)", cfg.DataDir, err)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	keyring, err := keyfile.LoadOrCreate(cfg.DataDir, cfg.SecretKeys)
	if err != nil {
		return err
	}
	// The same sealing as the server's: what the command writes has its personal fields
	// sealed, and an erasure destroys the account's key (erasure_serve.go).
	keys, sealed := sealing(store, keyring, slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc, err := app.New(app.Config{Store: sealed, Keyring: keyring, Erasure: keys})
	if err != nil {
		return err
	}
	return fn(ctx, svc, cfg)
}

// apiHost is the host an integration configures: the public URL's host, else the listen address.
func apiHost(cfg config.Config) string {
	if h := publicHost(cfg.PublicURL); h != "" {
		return h
	}
	return cfg.Listen
}

func integrationCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "integration", Short: "Create, list, rotate and disable integrations of the Duo-compatible Auth API"}

	var name string
	var numbers, legacy bool
	create := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create an integration and print its integration key, secret key and API host (the secret is shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdminService(cmd, func(ctx context.Context, s *app.Service, cfg config.Config) error {
				k, err := s.CreateIntegration(ctx, name, app.IntegrationOptions{NumberMatching: numbers, LegacyV1: legacy})
				if err != nil {
					return err
				}
				printKeys(cmd.OutOrStdout(), k, cfg)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "the integration's name, as the operator knows it (required)")
	create.Flags().BoolVar(&numbers, "number-matching", false, "pushes ask for a number the application shows (auth with async=1 answers it); off by default, as Duo's clients show none")
	create.Flags().BoolVar(&legacy, "legacy-v1", false, "also serve Duo's older /rest/v1 API (duo_unix 1.11's PAM module and login_duo); its signatures carry no date, so a captured request can be replayed (docs/duo.md)")
	_ = create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the integrations (never their secret keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdminService(cmd, func(ctx context.Context, s *app.Service, _ config.Config) error {
				all, err := s.Integrations(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "INTEGRATION KEY\tNAME\tSTATE\tNUMBERS\tCREATED\tSECRET ROTATED")
				for _, i := range all {
					state, rotated := "enabled", "-"
					if i.Disabled {
						state = "disabled"
					}
					if !i.RotatedAt.IsZero() {
						rotated = i.RotatedAt.UTC().Format(time.RFC3339)
					}
					numbers := "off"
					if i.NumberMatching {
						numbers = "on"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", i.Key, i.Name, state, numbers, i.CreatedAt.UTC().Format(time.RFC3339), rotated)
				}
				return w.Flush()
			})
		},
	}

	rotate := &cobra.Command{
		Use:   "rotate-secret INTEGRATION_KEY",
		Short: "Replace an integration's secret key and print the new one (the old one stops signing at once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseIntegrationKeyArg(args[0])
			if err != nil {
				return err
			}
			return withAdminService(cmd, func(ctx context.Context, s *app.Service, cfg config.Config) error {
				k, err := s.RotateIntegrationSecret(ctx, key)
				if err != nil {
					return err
				}
				printKeys(cmd.OutOrStdout(), k, cfg)
				return nil
			})
		},
	}

	disable := &cobra.Command{
		Use:   "disable INTEGRATION_KEY",
		Short: "Turn an integration off: its requests are refused from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseIntegrationKeyArg(args[0])
			if err != nil {
				return err
			}
			return withAdminService(cmd, func(ctx context.Context, s *app.Service, _ config.Config) error {
				if err := s.DisableIntegration(ctx, key); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "integration %s disabled\n", key)
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{create, list, rotate, disable} {
		addAdminFlags(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func parseIntegrationKeyArg(s string) (domain.IntegrationKey, error) {
	k, err := domain.ParseIntegrationKey(s)
	if err != nil {
		return k, fmt.Errorf("integration key '%s' must be DI followed by 18 characters from A-Z and 0-9", s)
	}
	return k, nil
}

func printKeys(w io.Writer, k app.IntegrationSecret, cfg config.Config) {
	fmt.Fprintf(w, "integration key: %s\nsecret key:      %s\napi host:        %s\n", k.Key, k.Secret, apiHost(cfg))
	fmt.Fprintln(w, "The secret key is shown once: store it in the integration's configuration now.")
}

// publicHost is the host of the public URL, or "" when it is not set.
func publicHost(publicURL string) string {
	if u, err := url.Parse(publicURL); err == nil {
		return u.Host
	}
	return ""
}

func bypassCodesCommand() *cobra.Command {
	var integration, user string
	var count int
	var validFor time.Duration
	cmd := &cobra.Command{
		Use:   "bypass-codes --integration IKEY --user USERNAME [--count N] [--valid-for D]",
		Short: "Issue bypass codes for a user of an integration (they replace the user's previous ones; shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := parseIntegrationKeyArg(integration)
			if err != nil {
				return err
			}
			if count < 1 || count > app.MaxBypassCodes {
				return fmt.Errorf("option 'count' must be between 1 and %d but it's configured as '%d'", app.MaxBypassCodes, count)
			}
			if validFor < time.Minute || validFor > app.MaxBypassValidity {
				return fmt.Errorf("option 'valid-for' must be between 1m and 720h but it's configured as '%s'", validFor)
			}
			return withAdminService(cmd, func(ctx context.Context, s *app.Service, _ config.Config) error {
				codes, expires, err := s.IssueBypassCodes(ctx, key, user, count, validFor)
				if errors.Is(err, domain.ErrAccountNotFound) {
					return fmt.Errorf("integration %s has no user '%s'", key, user)
				}
				if errors.Is(err, domain.ErrMFANotEnabled) {
					return fmt.Errorf("user '%s' has no device linked yet: bypass codes stand in for one", user)
				}
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				for _, c := range codes {
					fmt.Fprintln(w, c)
				}
				fmt.Fprintf(w, "valid until %s, each once; shown once.\n", expires.UTC().Format(time.RFC3339))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&integration, "integration", "", "the integration key (required)")
	cmd.Flags().StringVar(&user, "user", "", "the user's username in that integration (required)")
	cmd.Flags().IntVar(&count, "count", 10, "how many codes, 1 to 10")
	cmd.Flags().DurationVar(&validFor, "valid-for", 24*time.Hour, "how long the codes work, 1m to 720h")
	_ = cmd.MarkFlagRequired("integration")
	_ = cmd.MarkFlagRequired("user")
	addAdminFlags(cmd)
	return cmd
}
