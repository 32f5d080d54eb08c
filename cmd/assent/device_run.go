package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
)

func deviceRunCommand(state *string) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Hold the device socket and answer sign-in requests as they come",
		Long: "Hold the device socket (reconnecting with backoff) and answer sign-in requests of every linked " +
			"account: type the number the login page shows, then yes, no, or f for \"this wasn't me\".\n\n" +
			"Answers are read from standard input; run stops when it ends, on Ctrl-C, or when the server " +
			"unlinks the last account.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := client.NewApprover(deviceFile(*state, ""), terminal{out: cmd.OutOrStdout(), state: *state})
			if errors.Is(err, client.ErrNothingLinked) {
				return fmt.Errorf("no account is linked to the device in %s: run 'assent device link' first", *state)
			}
			if err != nil {
				return noDevice(err, *state)
			}
			return a.Run(cmd.Context(), newLines(cmd.Context(), cmd.InOrStdin()).c)
		},
	}
}

// terminal is the words of `assent device run`: the client.Screen of its approver.
type terminal struct {
	out   io.Writer
	state string
}

var _ client.Screen = terminal{}

func (t terminal) Connecting(server, name string) {
	fmt.Fprintf(t.out, "Connecting to %s as %s…\n", server, name)
}

func (t terminal) Connected(emails []string, again bool) {
	if again {
		fmt.Fprintln(t.out, "Reconnected.")
		return
	}
	list := "none"
	if len(emails) > 0 {
		list = strings.Join(emails, ", ")
	}
	fmt.Fprintf(t.out, "Connected. Accounts on this device: %s.\nWaiting for sign-in requests (Ctrl-C to stop).\n", list)
}

func (t terminal) Show(q client.Request, email string) {
	c := q.Context
	if c.LinkingDevice != "" {
		// Linking from the phone: the request asks to let a new device in, not a browser.
		fmt.Fprintf(t.out, "\nA new device, %s, is being linked to %s\n", c.LinkingDevice, email)
	} else {
		fmt.Fprintf(t.out, "\nSign-in request for %s\n", email)
	}
	fmt.Fprintf(t.out, "  browser: %s\n", orUnknown(c.UserAgent))
	from := orUnknown(c.IP)
	if c.Place != "" {
		from += " (" + c.Place + ")"
	}
	fmt.Fprintf(t.out, "  from:    %s\n", from)
	if !c.At.IsZero() {
		fmt.Fprintf(t.out, "  at:      %s\n", c.At.Local().Format("2006-01-02 15:04:05 MST"))
	}
	fmt.Fprintf(t.out, "  expires in %s\n", time.Until(q.ExpiresAt).Round(time.Second))
}

func (t terminal) AskNumber(client.Request) {
	fmt.Fprint(t.out, "Enter the number shown on the login page (or just Enter if you are not signing in): ")
}

func (t terminal) AskDecision(q client.Request, numbered bool) {
	what := "you signing in"
	if q.Context.LinkingDevice != "" {
		what = "you linking " + q.Context.LinkingDevice
	}
	if numbered {
		fmt.Fprintf(t.out, "Is this %s? yes / no / this wasn't me [y/n/f]: ", what)
	} else {
		fmt.Fprintf(t.out, "Is this %s? no / this wasn't me [n/f]: ", what)
	}
}

func (t terminal) Queued(email string) {
	fmt.Fprintf(t.out, "\n(Another sign-in request, for %s, is waiting.)\n", email)
}

func (t terminal) ExpiredUnshown(email string) {
	fmt.Fprintf(t.out, "\nA sign-in request for %s expired before it was shown.\n", email)
}

func (t terminal) Settled(o client.Outcome, email string, shown bool) {
	if shown {
		fmt.Fprintf(t.out, "\nThis request was %s. Nothing to answer.\n", outcomeWords(o))
	} else {
		fmt.Fprintf(t.out, "\nA waiting request for %s was %s.\n", email, outcomeWords(o))
	}
}

func (t terminal) Unlinked(email string, saveErr error) {
	if saveErr != nil {
		fmt.Fprintf(t.out, "\nCould not update %s: %v\n", t.state, saveErr)
	}
	fmt.Fprintf(t.out, "\n%s was unlinked from this device on the server; its link and codes are removed here.\n", email)
}

func (t terminal) Closed(reason string) {
	fmt.Fprintf(t.out, "The server closed the connection: %s.\n", reason)
}

func (t terminal) NothingWaiting() { fmt.Fprintln(t.out, "No sign-in request is waiting.") }

func (t terminal) BadNumber() { fmt.Fprintln(t.out, "Type the two digits the login page shows.") }

func (t terminal) NumberFirst() {
	fmt.Fprintln(t.out, "To approve, enter the number the login page shows first.")
}

func (t terminal) Answered(a domain.Answer) {
	switch a {
	case domain.AnswerApprove:
		fmt.Fprintln(t.out, "Approved. The login page goes on by itself.")
	case domain.AnswerDeny:
		fmt.Fprintln(t.out, "Denied. The sign-in was refused.")
	default:
		fmt.Fprintln(t.out, "Reported: the sign-in was refused and recorded as not made by you. If someone knows your password, change it.")
	}
}

func (t terminal) WrongNumber() {
	fmt.Fprintln(t.out, "That is not the number shown on the login page. Look again.")
}

func (t terminal) NotConnected() {
	fmt.Fprintln(t.out, "Not connected to the server right now; reconnecting. Answer again in a moment.")
}

func (t terminal) Refused(err error) {
	fmt.Fprintf(t.out, "The answer was not accepted: %s\n", describe(err))
}

func (t terminal) InputEnded() {
	fmt.Fprintln(t.out, "\nThe input ended: no more answers can be typed. Stopping.")
}

func (t terminal) NothingLinked() {
	fmt.Fprintln(t.out, "No account is linked to this device any more. Stopping.")
}

// outcomeWords tells how a challenge shown here ended.
func outcomeWords(o client.Outcome) string {
	switch out := o.Result(); {
	case out == domain.OutcomeApproved:
		return "approved on another device"
	case out == domain.OutcomeDenied:
		return "denied on another device"
	case out == domain.OutcomeFraudReported:
		return "reported as not you on another device"
	case out == domain.OutcomeExpired:
		return "left unanswered and has expired"
	case out == domain.OutcomeCancelled:
		return "withdrawn: a newer sign-in replaced it, or failed attempts locked the second factor"
	case out.Passed():
		return "completed with a code"
	default:
		return strings.ReplaceAll(o.Status, "_", " ")
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
