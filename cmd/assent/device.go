package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/assent-dev/assent/client"
)

// The reference device: `assent device …` links this terminal to accounts (by enrollment
// link, QR image or email and password), holds the device socket to approve sign-ins, and
// shows offline codes. Its state (private key, links, TOTP secrets) lives in one file that
// only its owner can read. What it does is the client package's (DeviceFile, PhoneLink,
// Approver, Device.History); these files parse its flags, read the terminal and print.

func deviceCommand() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "device",
		Short: "The reference device: link accounts, approve sign-ins, show offline codes",
		Long: "The reference device in a terminal: link it to accounts with an enrollment link, a QR image, or " +
			"email and password; hold its socket to approve sign-ins; show offline codes.\n\n" +
			"Its private key, links and TOTP secrets are kept in --state, readable by its owner only.",
	}
	cmd.PersistentFlags().StringVar(&state, "state", client.DefaultDevicePath(), "the device's state file (private key, links, TOTP secrets)")
	cmd.AddCommand(deviceLinkCommand(&state), devicePhoneLinkCommand(&state), deviceRunCommand(&state), deviceCodesCommand(&state), deviceHistoryCommand(&state))
	return cmd
}

func defaultDeviceName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "terminal"
	}
	return "terminal on " + host
}

// deviceFile is the device kept in the state file; a device made by a link is named name.
func deviceFile(state, name string) client.DeviceFile {
	return client.DeviceFile{Path: state, Name: name, Platform: runtime.GOOS}
}

// loadDevice loads the state file, which must exist.
func loadDevice(path string) (*client.Device, error) {
	d, err := deviceFile(path, "").Load()
	return d, noDevice(err, path)
}

// noDevice tells, in the command's words, that there is no state file yet.
func noDevice(err error, path string) error {
	if errors.Is(err, client.ErrNoDeviceFile) {
		return fmt.Errorf("no device state in %s: link an account first with 'assent device link' or 'assent device phone-link'", path)
	}
	return err
}

// otherServer tells, in the command's words, that the state file's device serves another
// server.
func otherServer(err error, path string) error {
	var e *client.OtherServerError
	if errors.As(err, &e) {
		return fmt.Errorf("this device is linked to accounts on %s; use another --state file than %s for %s", e.Linked, path, e.Asked)
	}
	return err
}

func deviceLinkCommand(state *string) *cobra.Command {
	var qrFile, name string
	cmd := &cobra.Command{
		Use:   "link <enrollment-link | --qr FILE.png>",
		Short: "Link this device to an account with the enrollment link of its security page",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			var link string
			switch {
			case qrFile != "" && len(args) == 0:
				l, err := readQRFile(qrFile)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "Read the QR code in %s.\n", qrFile)
				link = l
			case qrFile == "" && len(args) == 1:
				link = args[0]
			default:
				return errors.New("give the enrollment link, or --qr with an image of its QR code, not both")
			}
			d, res, err := deviceFile(*state, name).Link(cmd.Context(), link)
			if err != nil {
				return otherServer(err, *state)
			}
			printLinked(out, d, res, *state)
			return nil
		},
	}
	cmd.Flags().StringVar(&qrFile, "qr", "", "read the enrollment link from a PNG or JPEG image of its QR code")
	cmd.Flags().StringVar(&name, "name", defaultDeviceName(), "the device's name, shown on the security page (for a new device)")
	return cmd
}

func printLinked(out io.Writer, d *client.Device, res client.LinkResult, state string) {
	fmt.Fprintf(out, "Linked %s on %s to this device (%s).\n", res.Email, d.Server, d.Name)
	if res.MFAEnabled {
		fmt.Fprintf(out, "Two-factor authentication is now on for %s.\n", res.Email)
	}
	if len(res.BackupCodes) > 0 {
		fmt.Fprintln(out, "Backup codes, shown only now. Each works once; keep them somewhere safe, away from this device:")
		for _, c := range res.BackupCodes {
			fmt.Fprintf(out, "  %s\n", c)
		}
	}
	fmt.Fprintf(out, "Accounts on this device: %d. State: %s\n", len(d.Links), state)
	fmt.Fprintln(out, "Run 'assent device run' to approve sign-ins, 'assent device codes' for offline codes.")
}

func devicePhoneLinkCommand(state *string) *cobra.Command {
	var server, email, name string
	cmd := &cobra.Command{
		Use:   "phone-link --server URL --email EMAIL",
		Short: "Link this device from the device itself, with the account's email and password",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" || email == "" {
				return errors.New("phone-link needs --server and --email")
			}
			server = strings.TrimRight(server, "/")
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			file := deviceFile(*state, name)
			d, err := file.OpenFor(server)
			if err != nil {
				return otherServer(err, *state)
			}
			password, in, err := readPassword(cmd, fmt.Sprintf("Password for %s: ", email))
			if err != nil {
				return err
			}
			pl, err := file.BeginPhoneLink(ctx, d, server, email, password)
			if err != nil {
				return err
			}
			if pl.Start.Challenge != nil {
				if err := passSecondFactor(ctx, out, in, pl); err != nil {
					return err
				}
			}
			fmt.Fprintf(out, "Authorize linking this device (%s) to %s? [y/N]: ", d.Name, email)
			line, err := in.next(ctx)
			if err != nil {
				return err
			}
			if !isYes(line) {
				fmt.Fprintln(out, "Not linked.")
				return nil
			}
			res, err := pl.Authorize(ctx)
			if err != nil {
				return err
			}
			printLinked(out, d, res, *state)
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "the Assent server, such as http://127.0.0.1:8080")
	cmd.Flags().StringVar(&email, "email", "", "the account's email address")
	cmd.Flags().StringVar(&name, "name", defaultDeviceName(), "the device's name, shown on the security page (for a new device)")
	return cmd
}

// passSecondFactor waits until the phone link's challenge is approved on a linked device, or
// passes it with a code typed here.
func passSecondFactor(ctx context.Context, out io.Writer, in *lines, pl *client.PhoneLink) error {
	ch := pl.Start.Challenge
	if ch.Devices > 0 && !ch.PushMuted {
		fmt.Fprintf(out, "This account has two-factor authentication on. On a device already linked to it, enter %s and approve.\n", ch.Number)
		fmt.Fprintln(out, "Or type a code from your app, or a backup code, and press Enter.")
	} else {
		fmt.Fprintln(out, "This account has two-factor authentication on.")
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	awaited := make(chan error, 1)
	go func() { awaited <- pl.AwaitApproval(wctx) }()
	for {
		fmt.Fprint(out, "Code (or wait for the approval): ")
		select {
		case err := <-awaited:
			fmt.Fprintln(out)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, "Approved.")
			return nil
		case line, ok := <-in.c:
			if !ok {
				return errors.New("no input: the second factor was not passed")
			}
			code := strings.TrimSpace(line)
			if code == "" {
				continue
			}
			if err := pl.PassWithCode(ctx, code); err != nil {
				fmt.Fprintln(out, describe(err))
				continue
			}
			fmt.Fprintln(out, "Code accepted.")
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readPassword reads a password without echo from a terminal, or a line from other input,
// and returns the reader of the lines that follow.
func readPassword(cmd *cobra.Command, prompt string) (string, *lines, error) {
	out := cmd.OutOrStdout()
	fmt.Fprint(out, prompt)
	if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(out)
		return string(b), newLines(cmd.Context(), f), err
	}
	in := newLines(cmd.Context(), cmd.InOrStdin())
	pw, err := in.next(cmd.Context())
	return pw, in, err
}

func deviceCodesCommand(state *string) *cobra.Command {
	return &cobra.Command{
		Use:   "codes",
		Short: "Show the current offline code of every linked account (no network needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := loadDevice(*state)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(d.Links) == 0 {
				fmt.Fprintln(out, "No account is linked to this device.")
				return nil
			}
			codes, err := d.Codes(time.Now())
			if err != nil {
				return err
			}
			width := len("account")
			for _, c := range codes {
				width = max(width, len(c.Email))
			}
			fmt.Fprintf(out, "%-*s  %-7s  %s\n", width, "account", "code", "valid for")
			for _, c := range codes {
				fmt.Fprintf(out, "%-*s  %s %s  %ds\n", width, c.Email, c.Code[:3], c.Code[3:], c.SecondsLeft)
			}
			return nil
		},
	}
}

// lines reads input lines on one goroutine, so that a prompt can wait for a line and for
// news from the network at once.
type lines struct {
	c <-chan string
}

func newLines(ctx context.Context, r io.Reader) *lines {
	c := make(chan string)
	go func() {
		defer close(c)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case c <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return &lines{c: c}
}

// errNoInput is returned when the input ends while a prompt waits for an answer.
var errNoInput = errors.New("the input ended")

// next returns the next line as typed (a password may begin or end with spaces).
func (l *lines) next(ctx context.Context) (string, error) {
	select {
	case s, ok := <-l.c:
		if !ok {
			return "", errNoInput
		}
		return strings.TrimSuffix(s, "\r"), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func isYes(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return s == "y" || s == "yes"
}

// describe tells a refusal of the server in its own words.
func describe(err error) string {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
