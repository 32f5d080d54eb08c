package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
)

// Screen is where an Approver tells what happens and asks for what it needs, in the device
// app's own words. The Approver calls it from the goroutine of Run only, in order.
type Screen interface {
	// Connecting: the approver starts, as the device named name, to server.
	Connecting(server, name string)
	// Connected: the socket is open, with the emails of the accounts on the device, sorted;
	// again is false the first time and true after a reconnection.
	Connected(emails []string, again bool)
	// Show shows the request to answer now, for the account of email.
	Show(r Request, email string)
	// AskNumber asks for the number the login page shows (an empty line skips it: the
	// person is not signing in).
	AskNumber(r Request)
	// AskDecision asks yes, no or "this wasn't me"; numbered is false when no number was
	// typed, and yes is then not offered.
	AskDecision(r Request, numbered bool)
	// Queued: another request, for the account of email, waits behind the one shown.
	Queued(email string)
	// ExpiredUnshown: a waiting request for the account of email expired before it was shown.
	ExpiredUnshown(email string)
	// Settled: a request shown here was decided without this device (on another device,
	// with a code, by its expiry or cancellation): the one shown (shown true), or one waiting.
	Settled(o Outcome, email string, shown bool)
	// Unlinked: the server unlinked the account of email from the device; its link is gone
	// from the device file, unless saveErr tells why the file could not be updated.
	Unlinked(email string, saveErr error)
	// Closed: the server closed the socket for good, for reason.
	Closed(reason string)
	// NothingWaiting: a line was typed while no request waits.
	NothingWaiting()
	// BadNumber: the line typed for the number is not two digits.
	BadNumber()
	// NumberFirst: yes was typed without the number; the number is asked again.
	NumberFirst()
	// Answered: the server took the answer.
	Answered(a domain.Answer)
	// WrongNumber: the number is not the login page's; it is asked again.
	WrongNumber()
	// NotConnected: the socket is down; the request stays, to be answered again.
	NotConnected()
	// Refused: the server refused the answer for another reason (the request is dropped).
	Refused(err error)
	// InputEnded: no more lines will come; Run returns.
	InputEnded()
	// NothingLinked: the server unlinked the last account; Run returns.
	NothingLinked()
}

// ErrNothingLinked is returned by NewApprover for a device linked to no account.
var ErrNothingLinked = errors.New("client: no account is linked to the device")

// AnswerTimeout bounds the wait for the server's verdict on one answer.
const AnswerTimeout = 15 * time.Second

// Approver is a device app's loop: it holds the device's socket and answers the sign-in
// requests of every linked account, one at a time in arrival order, from the lines typed
// (the number the login page shows, then yes, no or "this wasn't me"). It keeps the device
// file in step with the server: a link the server drops is removed from it.
type Approver struct {
	file   DeviceFile
	dev    *Device
	screen Screen
	emails map[uuid.UUID]string

	events chan any
	sock   *Socket
	ready  int

	queue  []Request
	cur    *Request
	stage  int
	number int
}

// The stages of the request shown.
const (
	askNumber = 1 + iota
	askDecision
)

// What the socket's handlers hand to the loop.
type (
	readyEvent    struct{}
	unlinkedEvent struct{ account uuid.UUID }
	closedEvent   struct{ reason string }
)

// NewApprover loads the device of f, which must be linked to an account on a server
// (ErrNoDeviceFile, ErrNothingLinked otherwise).
func NewApprover(f DeviceFile, screen Screen) (*Approver, error) {
	d, err := f.Load()
	if err != nil {
		return nil, err
	}
	if len(d.Links) == 0 || d.Server == "" {
		return nil, fmt.Errorf("%w in %s", ErrNothingLinked, f.Path)
	}
	a := &Approver{file: f, dev: d, screen: screen, emails: map[uuid.UUID]string{}}
	for _, l := range d.Links {
		a.emails[l.AccountID] = l.Email
	}
	return a, nil
}

// Run holds the socket (reconnecting with backoff, see Socket.Run) and answers requests from
// lines until lines is closed (InputEnded), ctx ends, or the server closes the socket for
// good: then it returns nil when it unlinked the last account (NothingLinked), else
// ErrClosedByServer.
func (a *Approver) Run(ctx context.Context, lines <-chan string) error {
	a.events = make(chan any, 64)
	send := func(ev any) {
		select {
		case a.events <- ev:
		case <-ctx.Done():
		}
	}
	a.sock = NewSocket(a.dev, a.dev.Server, Handlers{
		Ready:    func([]uuid.UUID) { send(readyEvent{}) },
		Request:  func(q Request) { send(q) },
		Outcome:  func(o Outcome) { send(o) },
		Unlinked: func(acc uuid.UUID) { send(unlinkedEvent{acc}) },
		Closed:   func(reason string) { send(closedEvent{reason}) },
	})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.sock.Run(sctx) }()
	defer func() { cancel(); <-done }()
	a.screen.Connecting(a.dev.Server, a.dev.Name)
	for {
		select {
		case ev := <-a.events:
			a.handle(ev)
		case line, ok := <-lines:
			if !ok {
				a.screen.InputEnded()
				return nil
			}
			a.Line(ctx, line)
		case err := <-done:
			done <- err // for the deferred wait
			for len(a.events) > 0 {
				a.handle(<-a.events)
			}
			if errors.Is(err, ErrClosedByServer) {
				if len(a.emails) == 0 {
					a.screen.NothingLinked()
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

func (a *Approver) handle(ev any) {
	switch e := ev.(type) {
	case readyEvent:
		a.ready++
		a.learnEmails()
		a.screen.Connected(a.accountList(), a.ready > 1)
	case Request:
		if _, ok := a.emails[e.AccountID]; !ok {
			a.learnEmails()
		}
		a.queue = append(a.queue, e)
		if a.cur == nil {
			a.next()
		} else {
			a.screen.Queued(a.email(e.AccountID))
			a.reprompt()
		}
	case Outcome:
		if a.cur != nil && a.cur.ID == e.ChallengeID {
			a.screen.Settled(e, a.email(a.cur.AccountID), true)
			a.cur = nil
			a.next()
			return
		}
		if i := slices.IndexFunc(a.queue, func(q Request) bool { return q.ID == e.ChallengeID }); i >= 0 {
			a.screen.Settled(e, a.email(a.queue[i].AccountID), false)
			a.queue = slices.Delete(a.queue, i, i+1)
			a.reprompt()
		}
	case unlinkedEvent:
		a.unlink(e.account)
	case closedEvent:
		a.screen.Closed(e.reason)
	}
}

// unlink tells that the server unlinked an account, and drops its link from the file.
func (a *Approver) unlink(account uuid.UUID) {
	email := a.email(account)
	delete(a.emails, account)
	_, err := a.file.Forget(account)
	a.screen.Unlinked(email, err)
	a.queue = slices.DeleteFunc(a.queue, func(q Request) bool { return q.AccountID == account })
	if a.cur != nil && a.cur.AccountID == account {
		a.cur = nil
		a.next()
		return
	}
	a.reprompt()
}

// learnEmails rereads the file, for accounts linked by another program meanwhile.
func (a *Approver) learnEmails() {
	if d, err := a.file.Load(); err == nil {
		for _, l := range d.Links {
			a.emails[l.AccountID] = l.Email
		}
	}
}

func (a *Approver) email(account uuid.UUID) string {
	if e := a.emails[account]; e != "" {
		return e
	}
	return "account " + account.String()
}

func (a *Approver) accountList() []string {
	names := make([]string, 0, len(a.emails))
	for _, e := range a.emails {
		names = append(names, e)
	}
	slices.Sort(names)
	return names
}

// next shows the oldest waiting request that has not expired.
func (a *Approver) next() {
	for len(a.queue) > 0 {
		q := a.queue[0]
		a.queue = a.queue[1:]
		if time.Until(q.ExpiresAt) <= 0 {
			a.screen.ExpiredUnshown(a.email(q.AccountID))
			continue
		}
		a.cur, a.stage, a.number = &q, askNumber, 0
		a.screen.Show(q, a.email(q.AccountID))
		a.reprompt()
		return
	}
	a.cur = nil
}

func (a *Approver) reprompt() {
	if a.cur == nil {
		return
	}
	switch a.stage {
	case askNumber:
		a.screen.AskNumber(*a.cur)
	case askDecision:
		a.screen.AskDecision(*a.cur, a.number != 0)
	}
}

// Line takes one line typed for the request shown: its number (or an empty line to skip
// it), then y or yes, n or no, f, fraud or "this wasn't me". Run calls it for every line
// read.
func (a *Approver) Line(ctx context.Context, line string) {
	line = strings.TrimSpace(line)
	if a.cur == nil {
		if line != "" {
			a.screen.NothingWaiting()
		}
		return
	}
	switch a.stage {
	case askNumber:
		if line == "" {
			a.stage, a.number = askDecision, 0
			a.reprompt()
			return
		}
		n, err := strconv.Atoi(line)
		if err != nil || n < 10 || n > 99 {
			a.screen.BadNumber()
			a.reprompt()
			return
		}
		a.stage, a.number = askDecision, n
		a.reprompt()
	case askDecision:
		switch strings.ToLower(line) {
		case "y", "yes":
			if a.number == 0 {
				a.screen.NumberFirst()
				a.stage = askNumber
				a.reprompt()
				return
			}
			a.answer(ctx, domain.AnswerApprove, a.number)
		case "n", "no":
			a.answer(ctx, domain.AnswerDeny, 0)
		case "f", "this wasn't me", "this was not me", "fraud":
			a.answer(ctx, domain.AnswerFraud, 0)
		default:
			a.reprompt()
		}
	}
}

func (a *Approver) answer(ctx context.Context, answer domain.Answer, number int) {
	q := *a.cur
	actx, cancel := context.WithTimeout(ctx, AnswerTimeout)
	defer cancel()
	err := a.sock.Answer(actx, q, answer, number)
	var e *Error
	switch {
	case err == nil:
		a.screen.Answered(answer)
	case errors.As(err, &e) && e.Code == "wrong_number":
		a.screen.WrongNumber()
		a.stage = askNumber
		a.reprompt()
		return
	case errors.Is(err, ErrNotConnected):
		a.screen.NotConnected()
		a.reprompt()
		return
	default:
		a.screen.Refused(err)
	}
	a.cur = nil
	a.next()
}
