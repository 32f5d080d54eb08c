package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
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
			d, err := loadDevice(*state)
			if err != nil {
				return err
			}
			if len(d.Links) == 0 || d.Server == "" {
				return fmt.Errorf("no account is linked to the device in %s: run 'assent device link' first", *state)
			}
			r := &runner{out: cmd.OutOrStdout(), state: *state, server: d.Server, name: d.Name, emails: map[uuid.UUID]string{}}
			for _, l := range d.Links {
				r.emails[l.AccountID] = l.Email
			}
			return r.run(cmd.Context(), d, newLines(cmd.Context(), cmd.InOrStdin()))
		},
	}
}

// What the socket's handlers hand to the runner's loop.
type (
	readyEvent    struct{}
	unlinkedEvent struct{ account uuid.UUID }
	closedEvent   struct{ reason string }
)

// runner is the interactive loop of `assent device run`. Everything but the socket's own
// goroutine runs on one goroutine: requests are answered one at a time, in arrival order.
type runner struct {
	out    io.Writer
	state  string
	server string
	name   string
	emails map[uuid.UUID]string

	events chan any
	sock   *client.Socket
	ready  int

	queue  []client.Request
	cur    *client.Request
	stage  int // 1: the number is asked; 2: yes / no / this wasn't me
	number int
}

const (
	askNumber = 1 + iota
	askDecision
)

func (r *runner) run(ctx context.Context, d *client.Device, in *lines) error {
	r.events = make(chan any, 64)
	send := func(ev any) {
		select {
		case r.events <- ev:
		case <-ctx.Done():
		}
	}
	r.sock = client.NewSocket(d, r.server, client.Handlers{
		Ready:    func([]uuid.UUID) { send(readyEvent{}) },
		Request:  func(q client.Request) { send(q) },
		Outcome:  func(o client.Outcome) { send(o) },
		Unlinked: func(a uuid.UUID) { send(unlinkedEvent{a}) },
		Closed:   func(reason string) { send(closedEvent{reason}) },
	})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.sock.Run(sctx) }()
	defer func() { cancel(); <-done }()
	fmt.Fprintf(r.out, "Connecting to %s as %s…\n", r.server, r.name)
	for {
		select {
		case ev := <-r.events:
			r.handle(ctx, ev)
		case line, ok := <-in.c:
			if !ok {
				fmt.Fprintln(r.out, "\nThe input ended: no more answers can be typed. Stopping.")
				return nil
			}
			r.onLine(ctx, strings.TrimSpace(line))
		case err := <-done:
			done <- err // for the deferred wait
			for len(r.events) > 0 {
				r.handle(ctx, <-r.events)
			}
			if errors.Is(err, client.ErrClosedByServer) {
				if len(r.emails) == 0 {
					fmt.Fprintln(r.out, "No account is linked to this device any more. Stopping.")
					return nil
				}
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

func (r *runner) handle(ctx context.Context, ev any) {
	switch e := ev.(type) {
	case readyEvent:
		r.ready++
		r.learnEmails()
		if r.ready == 1 {
			fmt.Fprintf(r.out, "Connected. Accounts on this device: %s.\nWaiting for sign-in requests (Ctrl-C to stop).\n", r.accountList())
		} else {
			fmt.Fprintln(r.out, "Reconnected.")
		}
	case client.Request:
		if _, ok := r.emails[e.AccountID]; !ok {
			r.learnEmails()
		}
		r.queue = append(r.queue, e)
		if r.cur == nil {
			r.next()
		} else {
			fmt.Fprintf(r.out, "\n(Another sign-in request, for %s, is waiting.)\n", r.email(e.AccountID))
			r.reprompt()
		}
	case client.Outcome:
		words := outcomeWords(e)
		if r.cur != nil && r.cur.ID == e.ChallengeID {
			fmt.Fprintf(r.out, "\nThis request was %s. Nothing to answer.\n", words)
			r.cur = nil
			r.next()
			return
		}
		if i := slices.IndexFunc(r.queue, func(q client.Request) bool { return q.ID == e.ChallengeID }); i >= 0 {
			fmt.Fprintf(r.out, "\nA waiting request for %s was %s.\n", r.email(r.queue[i].AccountID), words)
			r.queue = slices.Delete(r.queue, i, i+1)
			r.reprompt()
		}
	case unlinkedEvent:
		r.unlink(e.account)
	case closedEvent:
		fmt.Fprintf(r.out, "The server closed the connection: %s.\n", e.reason)
	}
}

// unlink shows that the server unlinked an account, and drops its link from the state file.
func (r *runner) unlink(account uuid.UUID) {
	email := r.email(account)
	delete(r.emails, account)
	if d, err := loadDevice(r.state); err != nil {
		fmt.Fprintf(r.out, "\nCould not update %s: %v\n", r.state, err)
	} else if d.RemoveLink(account) {
		if err := d.Save(r.state); err != nil {
			fmt.Fprintf(r.out, "\nCould not update %s: %v\n", r.state, err)
		}
	}
	fmt.Fprintf(r.out, "\n%s was unlinked from this device on the server; its link and codes are removed here.\n", email)
	r.queue = slices.DeleteFunc(r.queue, func(q client.Request) bool { return q.AccountID == account })
	if r.cur != nil && r.cur.AccountID == account {
		r.cur = nil
		r.next()
		return
	}
	r.reprompt()
}

// learnEmails rereads the state file, for accounts linked by another command meanwhile.
func (r *runner) learnEmails() {
	if d, err := loadDevice(r.state); err == nil {
		for _, l := range d.Links {
			r.emails[l.AccountID] = l.Email
		}
	}
}

func (r *runner) email(account uuid.UUID) string {
	if e := r.emails[account]; e != "" {
		return e
	}
	return "account " + account.String()
}

func (r *runner) accountList() string {
	var names []string
	for _, e := range r.emails {
		names = append(names, e)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// next shows the oldest waiting request that has not expired.
func (r *runner) next() {
	for len(r.queue) > 0 {
		q := r.queue[0]
		r.queue = r.queue[1:]
		if time.Until(q.ExpiresAt) <= 0 {
			fmt.Fprintf(r.out, "\nA sign-in request for %s expired before it was shown.\n", r.email(q.AccountID))
			continue
		}
		r.cur, r.stage, r.number = &q, askNumber, 0
		c := q.Context
		if c.LinkingDevice != "" {
			// Linking from the phone: the request asks to let a new device in, not a browser.
			fmt.Fprintf(r.out, "\nA new device, %s, is being linked to %s\n", c.LinkingDevice, r.email(q.AccountID))
		} else {
			fmt.Fprintf(r.out, "\nSign-in request for %s\n", r.email(q.AccountID))
		}
		fmt.Fprintf(r.out, "  browser: %s\n", orUnknown(c.UserAgent))
		from := orUnknown(c.IP)
		if c.Place != "" {
			from += " (" + c.Place + ")"
		}
		fmt.Fprintf(r.out, "  from:    %s\n", from)
		if !c.At.IsZero() {
			fmt.Fprintf(r.out, "  at:      %s\n", c.At.Local().Format("2006-01-02 15:04:05 MST"))
		}
		fmt.Fprintf(r.out, "  expires in %s\n", time.Until(q.ExpiresAt).Round(time.Second))
		r.reprompt()
		return
	}
	r.cur = nil
}

func (r *runner) reprompt() {
	if r.cur == nil {
		return
	}
	switch r.stage {
	case askNumber:
		fmt.Fprint(r.out, "Enter the number shown on the login page (or just Enter if you are not signing in): ")
	case askDecision:
		what := "you signing in"
		if r.cur.Context.LinkingDevice != "" {
			what = "you linking " + r.cur.Context.LinkingDevice
		}
		if r.number == 0 {
			fmt.Fprintf(r.out, "Is this %s? no / this wasn't me [n/f]: ", what)
		} else {
			fmt.Fprintf(r.out, "Is this %s? yes / no / this wasn't me [y/n/f]: ", what)
		}
	}
}

func (r *runner) onLine(ctx context.Context, line string) {
	if r.cur == nil {
		if line != "" {
			fmt.Fprintln(r.out, "No sign-in request is waiting.")
		}
		return
	}
	switch r.stage {
	case askNumber:
		if line == "" {
			r.stage, r.number = askDecision, 0
			r.reprompt()
			return
		}
		n, err := strconv.Atoi(line)
		if err != nil || n < 10 || n > 99 {
			fmt.Fprintln(r.out, "Type the two digits the login page shows.")
			r.reprompt()
			return
		}
		r.stage, r.number = askDecision, n
		r.reprompt()
	case askDecision:
		switch strings.ToLower(line) {
		case "y", "yes":
			if r.number == 0 {
				fmt.Fprintln(r.out, "To approve, enter the number the login page shows first.")
				r.stage = askNumber
				r.reprompt()
				return
			}
			r.answer(ctx, domain.AnswerApprove, r.number)
		case "n", "no":
			r.answer(ctx, domain.AnswerDeny, 0)
		case "f", "this wasn't me", "this was not me", "fraud":
			r.answer(ctx, domain.AnswerFraud, 0)
		default:
			r.reprompt()
		}
	}
}

func (r *runner) answer(ctx context.Context, answer domain.Answer, number int) {
	q := *r.cur
	actx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err := r.sock.Answer(actx, q, answer, number)
	var e *client.Error
	switch {
	case err == nil:
		switch answer {
		case domain.AnswerApprove:
			fmt.Fprintln(r.out, "Approved. The login page goes on by itself.")
		case domain.AnswerDeny:
			fmt.Fprintln(r.out, "Denied. The sign-in was refused.")
		default:
			fmt.Fprintln(r.out, "Reported: the sign-in was refused and recorded as not made by you. If someone knows your password, change it.")
		}
	case errors.As(err, &e) && e.Code == "wrong_number":
		fmt.Fprintln(r.out, "That is not the number shown on the login page. Look again.")
		r.stage = askNumber
		r.reprompt()
		return
	case errors.Is(err, client.ErrNotConnected):
		fmt.Fprintln(r.out, "Not connected to the server right now; reconnecting. Answer again in a moment.")
		r.reprompt()
		return
	default:
		fmt.Fprintf(r.out, "The answer was not accepted: %s\n", describe(err))
	}
	r.cur = nil
	r.next()
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
