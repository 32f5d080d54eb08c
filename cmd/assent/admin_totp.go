package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
)

// totpAppTries is how many codes totp-app takes to confirm an app before it gives up.
const totpAppTries = 3

// totpAppCommand gives a user of an integration an authenticator app, as Duo's administrators
// assign a token: it prints the app's otpauth:// URI and its QR code, then reads the app's
// first code from standard input and confirms the app with it, in one run.
func totpAppCommand() *cobra.Command {
	var integration, user string
	cmd := &cobra.Command{
		Use:   "totp-app --integration IKEY --user USERNAME",
		Short: "Add an authenticator app for a user of an integration: prints its QR code, then reads its first code from standard input to confirm it",
		Long: "Add an authenticator app (any TOTP app: 6 digits, 30 seconds, SHA-1) for a user of an integration, created if new.\n" +
			"The command prints the app's otpauth:// URI and its QR code (they hold the secret: show them to the user alone),\n" +
			"then reads the app's current code from standard input and confirms the app with it (" + fmt.Sprint(totpAppTries) + " tries).\n" +
			"Once confirmed, the app's codes work as the user's passcode (factor=passcode), each once.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := parseIntegrationKeyArg(integration)
			if err != nil {
				return err
			}
			if !domain.ValidUsername(user) {
				return fmt.Errorf("option 'user' must be 1 to 64 printable characters without surrounding spaces but it's configured as '%s'", user)
			}
			return withAdminService(cmd, func(ctx context.Context, s *app.Service, _ config.Config) error {
				return addTOTPApp(ctx, cmd, s, key, user)
			})
		},
	}
	cmd.Flags().StringVar(&integration, "integration", "", "the integration key (required)")
	cmd.Flags().StringVar(&user, "user", "", "the user's username in that integration, created if new (required)")
	_ = cmd.MarkFlagRequired("integration")
	_ = cmd.MarkFlagRequired("user")
	addAdminFlags(cmd)
	return cmd
}

func addTOTPApp(ctx context.Context, cmd *cobra.Command, s *app.Service, key domain.IntegrationKey, user string) error {
	added, err := s.AddIntegrationTOTPApp(ctx, key, user)
	switch {
	case errors.Is(err, domain.ErrIntegrationNotFound):
		return fmt.Errorf("no integration has the key %s", key)
	case errors.Is(err, domain.ErrIntegrationDisabled):
		return fmt.Errorf("integration %s is disabled", key)
	case err != nil:
		return err
	}
	w := cmd.OutOrStdout()
	q, err := qrcode.New(added.URI, qrcode.Medium)
	if err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	fmt.Fprintf(w, "Scan this QR code with the authenticator app of user '%s', or enter its URI:\n\n%s\n%s\n\n", user, q.ToSmallString(false), added.URI)
	in := bufio.NewScanner(cmd.InOrStdin())
	for try := 1; try <= totpAppTries; try++ {
		fmt.Fprint(w, "The app's current code: ")
		if !in.Scan() {
			break
		}
		codes, err := s.ConfirmTOTPApp(ctx, added.User.ID, added.AppID, strings.TrimSpace(in.Text()))
		switch {
		case errors.Is(err, domain.ErrWrongCode):
			fmt.Fprintln(w, "That code is wrong (the attempt is recorded and counts toward the user's lockout).")
			continue
		case errors.Is(err, domain.ErrLocked):
			return fmt.Errorf("the user's second factor is locked after too many failures, so the app is not confirmed: unlock the user (assent admin account unlock %s) and run this command again", added.User.ID)
		case err != nil:
			return err
		}
		fmt.Fprintf(w, "Confirmed: the app's codes are now passcodes of user '%s', each once.\n", user)
		if len(codes) > 0 {
			fmt.Fprintln(w, "The user's second factor is now on. Their backup codes, each once, shown once (hand them to the user):")
			for _, c := range codes {
				fmt.Fprintln(w, c)
			}
		}
		return nil
	}
	return errors.New("the app is not confirmed, so its codes are not passcodes: run this command again to start over")
}
