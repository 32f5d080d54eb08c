package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/admins"
	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
)

// adminTokenCommand creates the help desk's credentials for the admin API.
func adminTokenCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create help-desk administrator credentials for the admin API (/v1/admin)"}
	var name string
	create := &cobra.Command{Use: "create --name NAME", Short: "Create an administrator token; its hash goes to <data-dir>/" + admins.File + ", the token is printed once", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := adminConfig(cmd)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				return fmt.Errorf("create data directory: %w", err)
			}
			token, err := admins.Add(filepath.Join(cfg.DataDir, admins.File), name, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), token)
			fmt.Fprintln(cmd.ErrOrStderr(), "administrator '"+name+"' created; restart the server to load it. The token is shown once.")
			return nil
		}}
	create.Flags().StringVar(&name, "name", "", "the administrator's name, recorded with each of their acts (required)")
	_ = create.MarkFlagRequired("name")
	addAdminFlags(create)
	cmd.AddCommand(create)
	return cmd
}

// helpDeskFlags are how an account command reaches the log: through a running server's admin
// API (--server and --token), or by opening the store itself (the server stopped, on the
// embedded store) acting as --as.
type helpDeskFlags struct {
	server, token, as, reason string
	cfg                       config.Config // the options, read once by load
}

func (f *helpDeskFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, in words: how the person's identity was checked, the ticket (required; recorded in the log)")
	cmd.Flags().StringVar(&f.as, "as", "", "without --server: the administrator's name to record (the store is opened directly)")
	config.Register(cmd.Flags(), "admin-server", "admin-token")
	addAdminFlags(cmd)
}

// load reads --server and --token (or their variables, or the file) with the other options.
func (f *helpDeskFlags) load(cmd *cobra.Command) error {
	cfg, err := adminConfig(cmd)
	if err != nil {
		return err
	}
	f.cfg, f.server, f.token = cfg, cfg.AdminServer, cfg.AdminToken
	return nil
}

// run acts through the server's API (path under /v1/admin/accounts/ACCOUNT/, body) when
// --server is set, else through a service over the store.
func (f *helpDeskFlags) run(cmd *cobra.Command, account, path string, body map[string]any, out any,
	local func(ctx context.Context, s *app.Service, id domain.HelpDeskAct, account string) error) error {
	if err := f.load(cmd); err != nil {
		return err
	}
	if f.server != "" {
		if f.token == "" {
			return errors.New("option 'token' must be set with 'server' but it's not configured")
		}
		body["reason"] = f.reason
		return f.call(cmd.Context(), account, path, body, out)
	}
	if !admins.ValidName(f.as) {
		return fmt.Errorf("option 'as' must name the administrator (lower-case letters, digits, '.', '_' or '-') but it's configured as '%s'", f.as)
	}
	return withAdminServiceOf(cmd, f.cfg, func(ctx context.Context, s *app.Service, _ config.Config) error {
		return local(ctx, s, domain.HelpDeskAct{By: f.as, Reason: f.reason}, account)
	})
}

// call posts body to the admin API and decodes the answer into out, or returns the server's
// refusal in words.
func (f *helpDeskFlags) call(ctx context.Context, account, path string, body map[string]any, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	u := strings.TrimRight(f.server, "/") + "/v1/admin/accounts/" + url.PathEscape(account) + "/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return f.do(req, out)
}

// do sends req with the token and decodes a 2xx answer into out, or returns the refusal.
func (f *helpDeskFlags) do(req *http.Request, out any) error {
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var p struct{ Code, Message string }
		if json.Unmarshal(data, &p) == nil && p.Code != "" {
			return fmt.Errorf("%s (%s)", p.Message, p.Code)
		}
		return fmt.Errorf("the server answered %s", resp.Status)
	}
	return json.Unmarshal(data, out)
}

// get reads /v1/admin/accounts/ACCOUNT into out, or returns the server's refusal in words.
func (f *helpDeskFlags) get(ctx context.Context, account string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(f.server, "/")+"/v1/admin/accounts/"+url.PathEscape(account), nil)
	if err != nil {
		return err
	}
	return f.do(req, out)
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// accountCommand groups the help desk's acts on a person's account.
func accountCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Help desk: bypass codes, second-factor reset, unlock, disable and enable a person's account, each with a reason"}

	var f1 helpDeskFlags
	var count int
	var validFor time.Duration
	bypass := &cobra.Command{
		Use:   "bypass-codes ACCOUNT --reason TEXT [--count N] [--valid-for D]",
		Short: "Issue short-lived bypass codes to a person without their phone or backup codes (shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res struct {
				Codes     []string  `json:"codes"`
				ExpiresAt time.Time `json:"expires_at"`
			}
			err := f1.run(cmd, args[0], "bypass-codes", map[string]any{"count": count, "valid_for_seconds": int64(validFor / time.Second)}, &res,
				func(ctx context.Context, s *app.Service, act domain.HelpDeskAct, account string) error {
					id, err := s.FindAccount(ctx, account)
					if err != nil {
						return err
					}
					res.Codes, res.ExpiresAt, err = s.HelpDeskBypassCodes(ctx, id, act, count, validFor)
					return err
				})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, c := range res.Codes {
				fmt.Fprintln(w, c)
			}
			fmt.Fprintf(w, "valid until %s, each once; shown once.\n", res.ExpiresAt.UTC().Format(time.RFC3339))
			return nil
		},
	}
	bypass.Flags().IntVar(&count, "count", 5, "how many codes, 1 to 10")
	bypass.Flags().DurationVar(&validFor, "valid-for", time.Hour, "how long the codes work, 1m to 720h")
	f1.add(bypass)

	var f2 helpDeskFlags
	var within time.Duration
	reset := &cobra.Command{
		Use:   "reset ACCOUNT --reason TEXT [--enroll-within D]",
		Short: "Reset a person's second factor: devices unlinked, apps and codes revoked, sessions ended; the next sign-in sets up a new one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res struct {
				EnrollBy time.Time `json:"enroll_by"`
			}
			err := f2.run(cmd, args[0], "second-factor/reset", map[string]any{"enroll_within_seconds": int64(within / time.Second)}, &res,
				func(ctx context.Context, s *app.Service, act domain.HelpDeskAct, account string) error {
					id, err := s.FindAccount(ctx, account)
					if err != nil {
						return err
					}
					res.EnrollBy, err = s.ResetSecondFactor(ctx, id, act, within)
					return err
				})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "second factor reset; the person must set up a new one by %s\n", res.EnrollBy.UTC().Format(time.RFC3339))
			return nil
		},
	}
	reset.Flags().DurationVar(&within, "enroll-within", app.DefaultEnrollWithin, "how long the person has to set up a new second factor, 1h to 720h")
	f2.add(reset)
	var f0 helpDeskFlags
	show := &cobra.Command{
		Use:   "show ACCOUNT",
		Short: "Show what the help desk needs before acting: second factor, devices, codes left, locks in force, disabled, enrollment due",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v struct {
				AccountID       string     `json:"account_id"`
				Email           string     `json:"email"`
				Username        string     `json:"username"`
				MFAEnabled      bool       `json:"mfa_enabled"`
				Devices         int        `json:"devices"`
				BackupCodesLeft int        `json:"backup_codes_left"`
				BypassCodesLeft int        `json:"bypass_codes_left"`
				LockedUntil     *time.Time `json:"locked_until"`
				SignInLocks     []struct {
					Source string    `json:"source"`
					Until  time.Time `json:"until"`
				} `json:"signin_locks"`
				Disabled           bool       `json:"disabled"`
				EnrollmentRequired bool       `json:"enrollment_required"`
				EnrollBy           *time.Time `json:"enroll_by"`
			}
			if err := f0.load(cmd); err != nil {
				return err
			}
			if f0.server != "" {
				if f0.token == "" {
					return errors.New("option 'token' must be set with 'server' but it's not configured")
				}
				if err := f0.get(cmd.Context(), args[0], &v); err != nil {
					return err
				}
			} else if err := withAdminServiceOf(cmd, f0.cfg, func(ctx context.Context, s *app.Service, _ config.Config) error {
				id, err := s.FindAccount(ctx, args[0])
				if err != nil {
					return err
				}
				hv, err := s.HelpDeskAccount(ctx, id)
				if err != nil {
					return err
				}
				v.AccountID, v.Email, v.Username, v.MFAEnabled, v.Devices = hv.AccountID.String(), hv.Email, hv.Username, hv.MFAEnabled, hv.Devices
				v.BackupCodesLeft, v.BypassCodesLeft, v.Disabled, v.EnrollmentRequired = hv.BackupCodesLeft, hv.BypassCodesLeft, hv.Disabled, hv.EnrollmentRequired
				if !hv.LockedUntil.IsZero() {
					v.LockedUntil = &hv.LockedUntil
				}
				if hv.EnrollmentRequired {
					v.EnrollBy = &hv.EnrollBy
				}
				for _, l := range hv.SignInLocks {
					v.SignInLocks = append(v.SignInLocks, struct {
						Source string    `json:"source"`
						Until  time.Time `json:"until"`
					}{string(l.Source), l.Until})
				}
				return nil
			}); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			name := v.Email
			if name == "" {
				name = v.Username
			}
			fmt.Fprintf(w, "account:          %s (%s)\n", v.AccountID, name)
			fmt.Fprintf(w, "second factor:    %s, %d devices, %d backup codes and %d bypass codes left\n", onOff(v.MFAEnabled), v.Devices, v.BackupCodesLeft, v.BypassCodesLeft)
			if v.LockedUntil != nil {
				fmt.Fprintf(w, "second factor locked until %s\n", v.LockedUntil.UTC().Format(time.RFC3339))
			}
			for _, l := range v.SignInLocks {
				fmt.Fprintf(w, "sign-in from %s locked until %s\n", l.Source, l.Until.UTC().Format(time.RFC3339))
			}
			if v.Disabled {
				fmt.Fprintln(w, "disabled")
			}
			if v.EnrollmentRequired && v.EnrollBy != nil {
				fmt.Fprintf(w, "a new second factor is due by %s\n", v.EnrollBy.UTC().Format(time.RFC3339))
			}
			return nil
		},
	}
	config.Register(show.Flags(), "admin-server", "admin-token")
	addAdminFlags(show)
	cmd.AddCommand(show, bypass, reset)

	for _, a := range []struct {
		use, short, path, done string
		run                    func(*app.Service) func(context.Context, uuid.UUID, domain.HelpDeskAct) error
	}{
		{"unlock", "Unlock a locked account: the second factor's lock and every network's sign-in lock", "unlock", "unlocked",
			func(s *app.Service) func(context.Context, uuid.UUID, domain.HelpDeskAct) error {
				return s.UnlockAccount
			}},
		{"disable", "Disable an account: it cannot sign in anywhere, and its sessions end", "disable", "disabled",
			func(s *app.Service) func(context.Context, uuid.UUID, domain.HelpDeskAct) error {
				return s.DisableAccount
			}},
		{"enable", "Enable a disabled account again", "enable", "enabled",
			func(s *app.Service) func(context.Context, uuid.UUID, domain.HelpDeskAct) error {
				return s.EnableAccount
			}},
	} {
		var f helpDeskFlags
		c := &cobra.Command{
			Use: a.use + " ACCOUNT --reason TEXT", Short: a.short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var res struct{}
				err := f.run(cmd, args[0], a.path, map[string]any{}, &res,
					func(ctx context.Context, s *app.Service, act domain.HelpDeskAct, account string) error {
						id, err := s.FindAccount(ctx, account)
						if err != nil {
							return err
						}
						return a.run(s)(ctx, id, act)
					})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "account %s %s\n", args[0], a.done)
				return nil
			},
		}
		f.add(c)
		cmd.AddCommand(c)
	}
	cmd.AddCommand(eraseCommand())
	return cmd
}

// eraseCommand erases an account (docs/erasure.md): through a running server's admin API, or
// with the store opened directly.
func eraseCommand() *cobra.Command {
	var f helpDeskFlags
	var byID, byEmail string
	c := &cobra.Command{
		Use:   "erase [ACCOUNT] (--account ID | --email EMAIL) --reason TEXT",
		Short: "Erase an account: its personal data becomes unreadable everywhere, for good (crypto-shredding)",
		Long: "Erase an account: the key that seals its personal fields (email, addresses, browsers, names) is destroyed, so that\n" +
			"they can no longer be read in the log, its copies or its backups; its devices are unlinked and every session ends.\n" +
			"The log keeps that the account existed, its ID, the times and kinds of its events, and an account.erased event\n" +
			"naming you and your reason, which stays readable: write no personal data in it. See docs/erasure.md.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var refs []string
			for _, r := range append(args, byID, byEmail) {
				if r != "" {
					refs = append(refs, r)
				}
			}
			if len(refs) != 1 {
				return errors.New("name the account once: ACCOUNT, --account ID or --email EMAIL")
			}
			var res struct {
				AccountID   uuid.UUID `json:"account_id"`
				ErasedAt    time.Time `json:"erased_at"`
				ClearEvents int       `json:"clear_events"`
			}
			err := f.run(cmd, refs[0], "erase", map[string]any{}, &res,
				func(ctx context.Context, s *app.Service, act domain.HelpDeskAct, account string) error {
					id, err := s.FindAccount(ctx, account)
					if err != nil {
						return err
					}
					er, err := s.EraseAccount(ctx, id, act)
					res.AccountID, res.ErasedAt, res.ClearEvents = er.AccountID, er.At, er.ClearEvents
					return err
				})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "account %s erased at %s\n", res.AccountID, res.ErasedAt.UTC().Format(time.RFC3339))
			if res.ClearEvents > 0 {
				fmt.Fprintf(w, "%d of its events were written before personal fields were sealed: reads blank them, but the stored bytes\n"+
					"(the store's file, its backups) still hold them; see docs/erasure.md\n", res.ClearEvents)
			}
			return nil
		},
	}
	c.Flags().StringVar(&byID, "account", "", "the account's ID")
	c.Flags().StringVar(&byEmail, "email", "", "the account's email address")
	f.add(c)
	return c
}
