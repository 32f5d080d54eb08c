package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/config"
)

// oidcClientCommand manages the OpenID Connect relying parties.
func oidcClientCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "oidc-client", Short: "Register, list, rotate and disable OpenID Connect clients"}

	var spec app.OIDCClientSpec
	create := &cobra.Command{
		Use:   "create",
		Short: "Register a client; prints its ID and, for a confidential client, its secret (shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdminService(cmd, func(ctx context.Context, svc *app.Service, _ config.Config) error {
				id, secret, err := svc.CreateOIDCClient(ctx, spec)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "client_id: %s\n", id)
				if secret != "" {
					fmt.Fprintf(w, "client_secret: %s\n", secret)
					fmt.Fprintln(w, "The secret is shown once; Assent keeps only its hash.")
				}
				return nil
			})
		},
	}
	create.Flags().StringVar(&spec.Name, "name", "", "the name shown to people (required)")
	create.Flags().StringSliceVar(&spec.RedirectURIs, "redirect-uri", nil, "a redirect URI, matched exactly (repeat for several; required)")
	create.Flags().StringSliceVar(&spec.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "a URI the end-session endpoint may send people back to (repeat for several)")
	create.Flags().BoolVar(&spec.Public, "public", false, "a public client (single-page or native app): no secret, PKCE required")
	create.Flags().BoolVar(&spec.RequireMFA, "require-mfa", false, "ID tokens only for sign-ins with a second factor")
	create.Flags().BoolVar(&spec.AskConsent, "ask-consent", false, "ask the person, once, whether the app may have what it asks for (third-party apps)")
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("redirect-uri")

	list := &cobra.Command{
		Use: "list", Short: "List the clients", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdminService(cmd, func(ctx context.Context, svc *app.Service, _ config.Config) error {
				cs, err := svc.OIDCClients(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CLIENT ID\tNAME\tTYPE\tSTATE\tREDIRECT URIS")
				for _, c := range cs {
					typ, state := "confidential", "enabled"
					if c.Public {
						typ = "public"
					}
					if c.Disabled {
						state = "disabled"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, typ, state, strings.Join(c.RedirectURIs, " "))
				}
				return tw.Flush()
			})
		},
	}
	rotate := &cobra.Command{
		Use: "rotate-secret CLIENT_ID", Short: "Give a confidential client a new secret (the old one stops working)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdminService(cmd, func(ctx context.Context, svc *app.Service, _ config.Config) error {
				secret, err := svc.RotateOIDCClientSecret(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "client_secret: %s\n", secret)
				return nil
			})
		},
	}
	disable := &cobra.Command{
		Use: "disable CLIENT_ID", Short: "Stop a client: no sign-in, token or refresh any more", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdminService(cmd, func(ctx context.Context, svc *app.Service, _ config.Config) error {
				if err := svc.DisableOIDCClient(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "disabled %s\n", args[0])
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

// oidcKeysCommand manages the ID token signing keys.
func oidcKeysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "oidc-keys", Short: "Manage the keys that sign ID tokens"}
	rotate := &cobra.Command{
		Use: "rotate", Short: "Add a new signing key; the previous key stays in the JWKS", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdminService(cmd, func(ctx context.Context, svc *app.Service, _ config.Config) error {
				id, err := svc.RotateOIDCSigningKey(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "signing key: %s\n", id)
				return nil
			})
		},
	}
	addAdminFlags(rotate)
	cmd.AddCommand(rotate)
	return cmd
}
