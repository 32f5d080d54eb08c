package client_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/apierror"
	"github.com/assent-dev/assent/transport/push/wire"
)

// screen records what an Approver tells, one line per call.
type screen struct{ said chan string }

func (s screen) say(format string, a ...any) { s.said <- fmt.Sprintf(format, a...) }

func (s screen) Connecting(server, name string) { s.say("connecting %s", name) }
func (s screen) Connected(emails []string, again bool) {
	s.say("connected %s again=%v", strings.Join(emails, ","), again)
}
func (s screen) Show(r client.Request, email string) { s.say("show %s %s", r.Context.UserAgent, email) }
func (s screen) AskNumber(client.Request)            { s.say("ask number") }
func (s screen) AskDecision(_ client.Request, numbered bool) {
	s.say("ask decision numbered=%v", numbered)
}
func (s screen) Queued(email string)         { s.say("queued %s", email) }
func (s screen) ExpiredUnshown(email string) { s.say("expired %s", email) }
func (s screen) Settled(o client.Outcome, email string, shown bool) {
	s.say("settled %s %s shown=%v", o.Result(), email, shown)
}
func (s screen) Unlinked(email string, err error) { s.say("unlinked %s %v", email, err) }
func (s screen) Closed(reason string)             { s.say("closed %s", reason) }
func (s screen) NothingWaiting()                  { s.say("nothing waiting") }
func (s screen) BadNumber()                       { s.say("bad number") }
func (s screen) NumberFirst()                     { s.say("number first") }
func (s screen) Answered(a domain.Answer)         { s.say("answered %s", a) }
func (s screen) WrongNumber()                     { s.say("wrong number") }
func (s screen) NotConnected()                    { s.say("not connected") }
func (s screen) Refused(err error)                { s.say("refused %v", err) }
func (s screen) InputEnded()                      { s.say("input ended") }
func (s screen) NothingLinked()                   { s.say("nothing linked") }

// expect waits for the screen to say want, after what it said before; it fails on anything
// said in between that is not a prompt.
func (s screen) expect(t *testing.T, want string) {
	t.Helper()
	for {
		select {
		case got := <-s.said:
			if got == want {
				return
			}
			if !strings.HasPrefix(got, "ask ") {
				t.Fatalf("the screen said %q while %q was awaited", got, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("the screen never said %q", want)
		}
	}
}

// TestApproverAnswersRequestsInOrderAndFollowsTheServer runs an Approver over a real
// WebSocket on loopback against a scripted server: a request that expired on the way is
// passed over, the next is shown while another waits, a wrong number asks for the number
// again, the signed approval is checked by the server with the device's key, the waiting
// request decided elsewhere says so, and the server unlinking both accounts removes them from
// the device file and ends the run.
func TestApproverAnswersRequestsInOrderAndFollowsTheServer(t *testing.T) {
	t.Parallel()
	d, err := client.NewDevice("laptop", "test")
	if err != nil {
		t.Fatal(err)
	}
	d.ID = uuid.New()
	a, b := uuid.New(), uuid.New()
	d.AddLink(client.Link{AccountID: a, Email: "a@example.com", TOTPSecret: "JBSWY3DPEHPK3PXP", LinkedAt: time.Now().Add(-time.Hour)})
	d.AddLink(client.Link{AccountID: b, Email: "b@example.com", TOTPSecret: "JBSWY3DPEHPK3PXP", LinkedAt: time.Now().Add(-time.Hour)})
	stale := client.Request{ID: uuid.New(), AccountID: a, Context: domain.LoginContext{UserAgent: "Old"}, ExpiresAt: time.Now().Add(-time.Second)}
	first := client.Request{ID: uuid.New(), AccountID: a, Context: domain.LoginContext{UserAgent: "Firefox", IP: "192.0.2.1"}, ExpiresAt: time.Now().Add(time.Minute)}
	second := client.Request{ID: uuid.New(), AccountID: b, Context: domain.LoginContext{UserAgent: "Safari"}, ExpiresAt: time.Now().Add(time.Minute)}

	serverDone := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serverDone <- func() error {
			ws, err := websocket.Accept(w, r, nil)
			if err != nil {
				return err
			}
			defer ws.CloseNow()
			ctx := r.Context()
			nonce := []byte("0123456789abcdef0123456789abcdef")
			var auth wire.Message
			if err := wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeHello, Nonce: nonce}); err != nil {
				return err
			}
			if err := wsjson.Read(ctx, ws, &auth); err != nil || !ed25519.Verify(d.PublicKey(), domain.DeviceAuthPayload(d.ID, nonce), auth.Signature) {
				return fmt.Errorf("no valid auth: %+v %v", auth, err)
			}
			send := func(m wire.Message) error { return wsjson.Write(ctx, ws, m) }
			if err := send(wire.Message{Type: wire.TypeReady, Accounts: []uuid.UUID{a, b}}); err != nil {
				return err
			}
			for _, q := range []client.Request{stale, first, second} {
				if err := send(wire.Message{Type: wire.TypeChallenge, Challenge: &q}); err != nil {
					return err
				}
			}
			// answer reads up to the next answer, counting the acknowledgements.
			acks := 0
			answer := func() (wire.Message, error) {
				for {
					var m wire.Message
					if err := wsjson.Read(ctx, ws, &m); err != nil {
						return m, err
					}
					if m.Type == wire.TypeAck {
						acks++
						continue
					}
					return m, nil
				}
			}
			m, err := answer()
			if err != nil || m.ChallengeID != first.ID || m.Answer != "approve" || m.Number != 42 {
				return fmt.Errorf("first answer %+v %v", m, err)
			}
			if err := send(wire.Message{Type: wire.TypeResult, Ref: m.Ref, ChallengeID: m.ChallengeID,
				Error: &apierror.Problem{Status: 422, Code: "wrong_number", Message: "That is not the number shown on the login page."}}); err != nil {
				return err
			}
			if m, err = answer(); err != nil || m.ChallengeID != first.ID || m.Answer != "approve" || m.Number != 43 {
				return fmt.Errorf("second answer %+v %v", m, err)
			}
			digest := first.Context.Digest()
			if !ed25519.Verify(d.PublicKey(), domain.SignedAnswerPayload(first.ID, domain.AnswerApprove, 43, digest[:]), m.Signature) {
				return errors.New("the approval's signature does not verify")
			}
			if acks != 3 {
				return fmt.Errorf("%d acknowledgements, want one per request", acks)
			}
			o := wire.NewOutcome(second.ID, domain.OutcomeDenied, uuid.New(), time.Now())
			for _, m := range []wire.Message{
				{Type: wire.TypeResult, Ref: m.Ref, ChallengeID: m.ChallengeID, OK: true},
				{Type: wire.TypeOutcome, Outcome: &o},
				{Type: wire.TypeUnlinked, AccountID: b},
				{Type: wire.TypeUnlinked, AccountID: a},
			} {
				if err := send(m); err != nil {
					return err
				}
			}
			return ws.Close(wire.CloseNoAccount.Code, wire.CloseNoAccount.Reason)
		}()
	}))
	defer srv.Close()
	d.Server = srv.URL
	f := client.DeviceFile{Path: filepath.Join(t.TempDir(), "device.json")}
	if err := f.Save(d); err != nil {
		t.Fatal(err)
	}

	s := screen{said: make(chan string, 64)}
	ap, err := client.NewApprover(f, s)
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- ap.Run(ctx, lines) }()
	typeLine := func(l string) {
		select {
		case lines <- l:
		case <-ctx.Done():
			t.Fatalf("the line %q was not read", l)
		}
	}

	s.expect(t, "connecting laptop")
	s.expect(t, "connected a@example.com,b@example.com again=false")
	s.expect(t, "expired a@example.com")
	s.expect(t, "show Firefox a@example.com")
	s.expect(t, "queued b@example.com")
	typeLine("4")
	s.expect(t, "bad number")
	typeLine("42")
	s.expect(t, "ask decision numbered=true")
	typeLine("y")
	s.expect(t, "wrong number")
	s.expect(t, "ask number")
	typeLine("")
	s.expect(t, "ask decision numbered=false")
	typeLine("yes")
	s.expect(t, "number first")
	typeLine("43")
	typeLine("y")
	s.expect(t, "answered approve")
	s.expect(t, "show Safari b@example.com")
	s.expect(t, "settled denied b@example.com shown=true")
	s.expect(t, "unlinked b@example.com <nil>")
	s.expect(t, "unlinked a@example.com <nil>")
	s.expect(t, "closed "+wire.CloseNoAccount.Reason)
	s.expect(t, "nothing linked")
	if err := <-ran; err != nil {
		t.Fatalf("Run ended with %v, want nil once no account is left", err)
	}
	if err := <-serverDone; err != nil {
		t.Fatalf("server: %v", err)
	}
	left, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Links) != 0 {
		t.Fatalf("the device file still holds %d links", len(left.Links))
	}
}

// TestApproverRefusesADeviceWithoutAccounts: a device file without a link, or without a
// file, gives no approver.
func TestApproverRefusesADeviceWithoutAccounts(t *testing.T) {
	t.Parallel()
	f := client.DeviceFile{Path: filepath.Join(t.TempDir(), "device.json")}
	if _, err := client.NewApprover(f, screen{}); !errors.Is(err, client.ErrNoDeviceFile) {
		t.Fatalf("no file: %v", err)
	}
	d, err := client.NewDevice("laptop", "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Save(d); err != nil {
		t.Fatal(err)
	}
	if _, err := client.NewApprover(f, screen{}); !errors.Is(err, client.ErrNothingLinked) {
		t.Fatalf("no link: %v", err)
	}
}
