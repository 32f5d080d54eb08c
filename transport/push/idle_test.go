package push_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push"
	"github.com/assent-dev/assent/transport/push/wire"
)

// TestIdleSocketsHoldOneGoroutineEach: an idle, authenticated device socket keeps a single
// goroutine on the server (its reader); the writer runs only while frames wait and pings come
// from a timer. The sockets are opened by a child process, so that only the server's
// goroutines are counted; the test does not run in parallel for the same reason.
func TestIdleSocketsHoldOneGoroutineEach(t *testing.T) {
	const n = 200
	be := &backend{keys: map[uuid.UUID]ed25519.PublicKey{}, accounts: map[uuid.UUID][]uuid.UUID{}}
	for i := range n {
		d, pub := benchDevice(i)
		be.keys[d.id] = pub
		be.accounts[d.id] = []uuid.UUID{uuid.New()}
	}
	hub := push.NewHub(be, push.Options{MaxPerAddress: n, MaxWaiting: n, MaxWaitingPerAddress: n, PingInterval: time.Second})
	url := serve(t, hub, push.Peer{})
	before := settled().goroutines

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envDialURL+"="+url, envDialN+"="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("dialer: %q %v", line, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for hub.Connected() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets connected, want %d", hub.Connected(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A few ping rounds go by. A ping's goroutine lives only for its round trip, which takes
	// long on a busy machine (the dialer runs under -race too): the count is taken over a
	// whole ping interval and the least is kept, a moment when few pings were in flight.
	time.Sleep(2500 * time.Millisecond)
	least := 1 << 30
	for range 50 {
		least = min(least, runtime.NumGoroutine()-before)
		time.Sleep(20 * time.Millisecond)
	}
	if per := float64(least) / n; per > 1.1 {
		t.Fatalf("%d goroutines for %d idle sockets (%.2f each), want one each", least, n, per)
	}
	if hub.Connected() != n {
		t.Fatalf("%d sockets left after the pings, want %d", hub.Connected(), n)
	}
}

// TestPingsKeepLiveSocketsAndReapDeadOnes: a device that reads receives a ping every
// PingInterval and stays; one that stops reading never answers the ping and its socket is
// closed once the write timeout is over.
func TestPingsKeepLiveSocketsAndReapDeadOnes(t *testing.T) {
	t.Parallel()
	b, ds := newDevices(t, 2)
	hub := push.NewHub(b, push.Options{PingInterval: 50 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	url := serve(t, hub, push.Peer{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var pings atomic.Int32
	live, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pings.Add(1)
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer live.CloseNow()
	authenticate(t, ctx, live, ds[0])
	go func() {
		for {
			if _, _, err := live.Read(ctx); err != nil {
				return
			}
		}
	}()

	dead, m := connect(t, url, ds[1]) // reads nothing after its ready
	if m.Type != wire.TypeReady {
		t.Fatalf("ready: %+v", m)
	}
	for hub.Connected() != 1 {
		if ctx.Err() != nil {
			t.Fatalf("the silent socket was not reaped: %d connected", hub.Connected())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for pings.Load() < 5 {
		if ctx.Err() != nil {
			t.Fatalf("%d pings reached the live device", pings.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if hub.Connected() != 1 {
		t.Fatalf("%d sockets connected, want the live one", hub.Connected())
	}
	if _, _, err := dead.Read(ctx); err == nil {
		t.Fatal("the reaped socket still reads")
	}
}

// TestSlowSocketIsClosed: a device that does not read while challenges pile up fills its
// queue of SendQueue frames and is closed as too slow; the hub forgets it.
func TestSlowSocketIsClosed(t *testing.T) {
	t.Parallel()
	b, ds := newDevices(t, 1)
	hub := push.NewHub(b, push.Options{SendQueue: 4})
	url := serve(t, hub, push.Peer{})
	ws, m := connect(t, url, ds[0])
	if m.Type != wire.TypeReady {
		t.Fatalf("ready: %+v", m)
	}
	account := b.accounts[ds[0].id][0]
	lc := domain.LoginContext{UserAgent: strings.Repeat("a", 512), IP: "192.0.2.1", At: time.Now()}
	deadline := time.Now().Add(30 * time.Second)
	for hub.Connected() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a socket that reads nothing was never closed")
		}
		for range 100 { // until the socket's buffers are full and the queue overflows
			hub.HandleEvent(domain.ChallengeIssued{ChallengeID: uuid.New(), AccountID: account, Context: lc,
				Devices: []domain.ChallengeDevice{{DeviceID: ds[0].id}}, ExpiresAt: time.Now().Add(time.Minute)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		var m wire.Message
		if err := wsjson.Read(ctx, ws, &m); err != nil {
			break // the frames sent before the close, then the end
		}
		if m.Type != wire.TypeChallenge {
			t.Fatalf("unexpected %+v", m)
		}
	}
}

// authenticate answers the server's hello on ws as d and reads its ready.
func authenticate(t *testing.T, ctx context.Context, ws *websocket.Conn, d device) {
	t.Helper()
	var hello wire.Message
	if err := wsjson.Read(ctx, ws, &hello); err != nil {
		t.Fatal(err)
	}
	sig := ed25519.Sign(d.priv, domain.DeviceAuthPayload(d.id, hello.Nonce))
	if err := wsjson.Write(ctx, ws, wire.Message{Type: wire.TypeAuth, DeviceID: d.id, Signature: sig}); err != nil {
		t.Fatal(err)
	}
	var ready wire.Message
	if err := wsjson.Read(ctx, ws, &ready); err != nil || ready.Type != wire.TypeReady {
		t.Fatalf("ready: %+v %v", ready, err)
	}
}
