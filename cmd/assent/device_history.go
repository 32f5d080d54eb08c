package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
)

// deviceHistoryCommand is `assent device history`: the recent pushes of every linked account,
// each answer on a device with the server's check of its signature.
func deviceHistoryCommand(state *string) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show your recent approvals: the pushes of every linked account, newest first",
		Long: "Show the recent pushes of every account linked to this device, newest first: when, from which " +
			"browser and address, which device answered and how, and the outcome. Each answer on a device shows " +
			"whether the server verified the device's signature over what it was shown.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := loadDevice(*state)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(d.Links) == 0 || d.Server == "" {
				fmt.Fprintln(out, "No account is linked to this device.")
				return nil
			}
			histories, err := d.History(cmd.Context())
			if err != nil {
				return err
			}
			for i, h := range histories {
				if i > 0 {
					fmt.Fprintln(out)
				}
				printDeviceHistory(out, h.Link.Email, h.Entries, limit)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many pushes per account")
	return cmd
}

func printDeviceHistory(out io.Writer, email string, list []client.HistoryEntry, limit int) {
	fmt.Fprintf(out, "%s: %d recent pushes\n", email, len(list))
	for i, e := range list {
		if i == limit {
			fmt.Fprintf(out, "  … and %d older\n", len(list)-limit)
			break
		}
		from := e.Browser + " from " + e.IP
		if e.Place != "" {
			from += " (" + e.Place + ")"
		}
		if e.App != "" {
			from = e.App + ": " + from
		}
		line := fmt.Sprintf("  %s  %s  %s", e.At.Local().Format("2006-01-02 15:04"), from, strings.ReplaceAll(e.State, "_", " "))
		if e.By != nil {
			name := e.By.Name
			if name == "" {
				name = "a device no longer linked"
			}
			line += " by " + name
		}
		switch e.SignatureCheck() {
		case domain.SignatureVerified:
			line += " · signature verified"
		case domain.SignatureFailed:
			line += " · SIGNATURE DOES NOT VERIFY"
		}
		fmt.Fprintln(out, line)
	}
}
