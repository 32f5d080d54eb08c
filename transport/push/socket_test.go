package push_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/apierror"
	"github.com/assent-dev/assent/transport/push"
	"github.com/assent-dev/assent/transport/push/wire"
)

// newDevices returns a backend that knows n devices, each linked to one account.
func newDevices(t *testing.T, n int) (*backend, []device) {
	t.Helper()
	b := &backend{keys: map[uuid.UUID]ed25519.PublicKey{}, accounts: map[uuid.UUID][]uuid.UUID{}}
	var ds []device
	for range n {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		d := device{id: uuid.New(), priv: priv}
		b.keys[d.id] = pub
		b.accounts[d.id] = []uuid.UUID{uuid.New()}
		ds = append(ds, d)
	}
	return b, ds
}

// openFDs counts the descriptors this process holds.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("descriptors cannot be counted here: %v", err)
	}
	return len(es)
}

// rawDial opens a device socket and returns it with its TCP connection, so that a test can
// drop the connection under the WebSocket without a close frame.
func rawDial(ctx context.Context, url string) (*websocket.Conn, *net.TCPConn, error) {
	var tcp *net.TCPConn
	dialer := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err == nil {
			tcp = c.(*net.TCPConn)
		}
		return c, err
	}}}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	return ws, tcp, err
}

// TestDroppedSocketsAreClosed drops hundreds of device sockets without a close frame, after
// authenticating or before, by FIN or by RST, and checks that the server closes every one:
// the process's descriptors come back to what they were. It does not run in parallel, so
// that no other test's descriptors are counted.
func TestDroppedSocketsAreClosed(t *testing.T) {
	const n = 300
	b, ds := newDevices(t, 10)
	hub := push.NewHub(b, push.Options{MaxPerDevice: n, MaxPerAddress: n, MaxWaiting: n, MaxWaitingPerAddress: n})
	url := serve(t, hub, push.Peer{})
	baseline := openFDs(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ws, tcp, err := rawDial(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			var hello wire.Message
			if err := wsjson.Read(ctx, ws, &hello); err != nil {
				errs <- err
				return
			}
			if i%3 != 0 { // two in three authenticate first
				d := ds[i%len(ds)]
				sig := ed25519.Sign(d.priv, domain.DeviceAuthPayload(d.id, hello.Nonce))
				if err := wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeAuth, DeviceID: d.id, Signature: sig}); err != nil {
					errs <- err
					return
				}
				var ready wire.Message
				if err := wsjson.Read(ctx, ws, &ready); err != nil || ready.Type != wire.TypeReady {
					errs <- errors.Join(errors.New("no ready"), err)
					return
				}
			}
			if i%2 == 0 {
				tcp.SetLinger(0) // RST instead of FIN
			}
			ws.CloseNow() // no close frame: the connection just goes
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := openFDs(t)
		if got <= baseline && hub.Connected() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open %d dropped sockets later, %d before; %d sockets still connected", got, n, baseline, hub.Connected())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connect opens a socket and authenticates d; it returns the socket and its first message.
func connect(t *testing.T, url string, d device) (*websocket.Conn, wire.Message) {
	t.Helper()
	ws, m := dial(t, url, d, true)
	t.Cleanup(func() { ws.CloseNow() })
	return ws, m
}

func TestSocketsPerDeviceAreCappedOldestFirst(t *testing.T) {
	t.Parallel()
	b, ds := newDevices(t, 1)
	hub := push.NewHub(b, push.Options{MaxPerDevice: 2})
	url := serve(t, hub, push.Peer{})
	first, m := connect(t, url, ds[0])
	if m.Type != wire.TypeReady {
		t.Fatalf("first socket: %+v", m)
	}
	for range 2 {
		if _, m := connect(t, url, ds[0]); m.Type != wire.TypeReady {
			t.Fatalf("newer socket: %+v", m)
		}
	}
	// The third socket of the device closes the first, which is told why.
	if m := read(t, first); m.Type != closedWith(wire.CloseReplaced) {
		t.Fatalf("the oldest socket: %+v", m)
	}
	if wire.CloseReplaced.Permanent() {
		t.Fatal("a replaced socket must be told to connect again")
	}
	deadline := time.Now().Add(10 * time.Second)
	for hub.Connected() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets of one device connected, want 2", hub.Connected())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hello opens a socket and reads the server's hello, without authenticating.
func hello(t *testing.T, url string) (*websocket.Conn, wire.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	var m wire.Message
	if err := wsjson.Read(ctx, ws, &m); err != nil {
		return ws, wire.Message{Type: closedBy(err)}
	}
	return ws, m
}

func TestSocketsPerAddressAreCapped(t *testing.T) {
	t.Parallel()
	b, ds := newDevices(t, 1)
	hub := push.NewHub(b, push.Options{MaxPerAddress: 3})
	url := serve(t, hub, push.Peer{Addr: "203.0.113.7"})
	if _, m := connect(t, url, ds[0]); m.Type != wire.TypeReady {
		t.Fatalf("authenticated socket: %+v", m)
	}
	for range 2 {
		if _, m := hello(t, url); m.Type != wire.TypeHello {
			t.Fatalf("socket within the cap: %+v", m)
		}
	}
	if _, m := hello(t, url); m.Type != closedWith(wire.CloseTooManyFromAddress) {
		t.Fatalf("socket beyond the cap: %+v", m)
	}

	// One address cannot take every place of the sockets waiting to authenticate.
	hub = push.NewHub(b, push.Options{MaxWaitingPerAddress: 2})
	url = serve(t, hub, push.Peer{Addr: "203.0.113.8"})
	for range 2 {
		if _, m := hello(t, url); m.Type != wire.TypeHello {
			t.Fatalf("waiting socket within the cap: %+v", m)
		}
	}
	if _, m := hello(t, url); m.Type != closedWith(wire.CloseTooManyWaiting) {
		t.Fatalf("waiting socket beyond the cap of its address: %+v", m)
	}
	if _, m := connect(t, serve(t, hub, push.Peer{Addr: "198.51.100.1"}), ds[0]); m.Type != wire.TypeReady {
		t.Fatalf("a socket from another address: %+v", m)
	}
}

func TestSocketsWaitingToAuthenticateAreCappedAndTimedOut(t *testing.T) {
	t.Parallel()
	b, ds := newDevices(t, 1)
	hub := push.NewHub(b, push.Options{MaxWaiting: 2, AuthTimeout: 300 * time.Millisecond})
	url := serve(t, hub, push.Peer{})
	var silent []*websocket.Conn
	for range 2 {
		ws, m := hello(t, url)
		if m.Type != wire.TypeHello {
			t.Fatalf("socket within the cap: %+v", m)
		}
		silent = append(silent, ws)
	}
	if _, m := hello(t, url); m.Type != closedWith(wire.CloseTooManyWaiting) {
		t.Fatalf("socket beyond the cap: %+v", m)
	}
	// The silent sockets are closed when their time to authenticate is over, which frees
	// their places.
	for _, ws := range silent {
		if m := read(t, ws); m.Type != closedWith(wire.CloseAuthTimeout) {
			t.Fatalf("silent socket: %+v", m)
		}
	}
	// The server frees a place just after it closes the socket: wait for a hello, then
	// authenticate on a socket of its own (two places are free then, one is needed).
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, m := hello(t, url)
		ws.CloseNow()
		if m.Type == wire.TypeHello {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place freed: %+v", m)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, m := connect(t, url, ds[0]); m.Type != wire.TypeReady {
		t.Fatalf("a socket once the silent ones were closed: %+v", m)
	}
}

// TestBadMessagesAreAnsweredAndKeepTheSocket: after authentication, a message that is not
// JSON or has a field of the wrong type gets a result 400 bad_message, as docs/api.md says,
// and the socket goes on.
func TestBadMessagesAreAnsweredAndKeepTheSocket(t *testing.T) {
	t.Parallel()
	b, ds := newDevices(t, 1)
	hub := push.NewHub(b, push.Options{})
	url := serve(t, hub, push.Peer{})
	ws, m := connect(t, url, ds[0])
	if m.Type != wire.TypeReady {
		t.Fatalf("ready: %+v", m)
	}
	ctx := context.Background()
	for _, bad := range []string{`{"type":`, `{"type":"answer","ref":"r9","number":"forty-two"}`, `["answer"]`} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		m := read(t, ws)
		if m.Type != wire.TypeResult || m.OK || m.Error == nil || m.Error.Status != 400 || m.Error.Code != "bad_message" || m.Error.Message == "" {
			t.Fatalf("after %s: %+v", bad, m)
		}
		if strings.Contains(bad, "r9") && m.Ref != "r9" {
			t.Fatalf("the result of %s lost its ref: %+v", bad, m)
		}
	}
	wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeAnswer, Ref: "r10", ChallengeID: uuid.New(), Answer: "approve", Number: 42})
	if m := read(t, ws); m.Type != wire.TypeResult || !m.OK || m.Ref != "r10" {
		t.Fatalf("an answer after bad messages: %+v", m)
	}
}

// TestSocketAnswersGoThroughTheRateLimit: an answer the transport's limit refuses gets a
// result 429 with its wait, and is not decided.
func TestSocketAnswersGoThroughTheRateLimit(t *testing.T) {
	t.Parallel()
	b, ds := newDevices(t, 1)
	hub := push.NewHub(b, push.Options{})
	var mu sync.Mutex
	allowed := 2
	url := serve(t, hub, push.Peer{AllowAnswer: func(d uuid.UUID) error {
		mu.Lock()
		defer mu.Unlock()
		if d != ds[0].id {
			t.Errorf("the limit was asked about %s", d)
		}
		if allowed == 0 {
			return apierror.RetryAfter(apierror.RateLimited, 3*time.Second)
		}
		allowed--
		return nil
	}})
	ws, _ := connect(t, url, ds[0])
	ctx := context.Background()
	for i := range 5 {
		wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeAnswer, Ref: "r", ChallengeID: uuid.New(), Answer: "deny"})
		m := read(t, ws)
		if i < 2 && !m.OK {
			t.Fatalf("answer %d within the limit: %+v", i, m)
		}
		if i >= 2 && (m.OK || m.Error == nil || m.Error.Status != 429 || m.Error.Code != "rate_limited" || m.RetryAfter != 3) {
			t.Fatalf("answer %d beyond the limit: %+v", i, m)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.answers) != 2 {
		t.Fatalf("%d answers decided, want the 2 within the limit", len(b.answers))
	}
}

// TestShutdownClosesSocketsAndEndsStreams: on Shutdown, device sockets (authenticated or
// not) are closed with 1001 and the reason, streams' contexts end as shutting down, and
// Shutdown returns once they all ended.
func TestShutdownClosesSocketsAndEndsStreams(t *testing.T) {
	t.Parallel()
	b, ds := newDevices(t, 1)
	hub := push.NewHub(b, push.Options{})
	url := serve(t, hub, push.Peer{})
	authed, _ := connect(t, url, ds[0])
	waiting, _ := hello(t, url)
	sctx, release := hub.Stream(context.Background())
	streamEnded := make(chan bool, 1)
	go func() {
		<-sctx.Done()
		streamEnded <- push.ShuttingDown(sctx)
		release()
	}()

	// The devices read on, as they do, so that they answer the close.
	ends := map[string]chan string{"authenticated": make(chan string, 1), "waiting": make(chan string, 1)}
	for name, ws := range map[string]*websocket.Conn{"authenticated": authed, "waiting": waiting} {
		go func() {
			for {
				if m := read(t, ws); strings.HasPrefix(m.Type, "closed:") {
					ends[name] <- m.Type
					return
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hub.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for name, end := range ends {
		if got := <-end; got != closedWith(wire.CloseShuttingDown) || got != "closed:1001:server shutting down" {
			t.Fatalf("%s socket: %s", name, got)
		}
	}
	if !<-streamEnded {
		t.Fatal("the stream's context did not end as shutting down")
	}
	if _, m := hello(t, url); m.Type != closedWith(wire.CloseShuttingDown) {
		t.Fatalf("a socket after the shutdown: %+v", m)
	}
	if sctx, release := hub.Stream(context.Background()); !push.ShuttingDown(sctx) {
		t.Fatal("a stream after the shutdown did not end at once")
	} else {
		release()
	}
}
