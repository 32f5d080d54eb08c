package push_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push"
	"github.com/assent-dev/assent/transport/push/wire"
)

// The dialer process: the test binary started again with these variables set opens the
// sockets, so that the server's figures count the server's side only.
const (
	envDialURL = "ASSENT_PUSH_DIAL_URL"
	envDialN   = "ASSENT_PUSH_DIAL_N"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(envDialURL); url != "" {
		n, _ := strconv.Atoi(os.Getenv(envDialN))
		if err := dialIdle(url, n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// benchDevice is the i-th device of the memory benchmark: both processes derive it alike.
func benchDevice(i int) (device, ed25519.PublicKey) {
	seed := sha256.Sum256([]byte("assent-bench-device-" + strconv.Itoa(i)))
	priv := ed25519.NewKeyFromSeed(seed[:])
	id := uuid.NewSHA1(uuid.NameSpaceOID, seed[:])
	return device{id: id, priv: priv}, priv.Public().(ed25519.PublicKey)
}

// dialIdle opens n device sockets to url, authenticates each, prints "ready" once all have
// their ready message, then keeps them open and reading until its standard input closes.
func dialIdle(url string, n int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d, _ := benchDevice(i)
			dctx, dcancel := context.WithTimeout(ctx, time.Minute)
			defer dcancel()
			ws, _, err := websocket.Dial(dctx, url, nil)
			if err != nil {
				errs <- err
				return
			}
			var m wire.Message
			if err := wsjson.Read(dctx, ws, &m); err != nil {
				errs <- err
				return
			}
			sig := ed25519.Sign(d.priv, domain.DeviceAuthPayload(d.id, m.Nonce))
			if err := wsjson.Write(dctx, ws, wire.Message{Type: wire.TypeAuth, DeviceID: d.id, Signature: sig}); err != nil {
				errs <- err
				return
			}
			if err := wsjson.Read(dctx, ws, &m); err != nil || m.Type != wire.TypeReady {
				errs <- fmt.Errorf("socket %d: no ready: %+v %v", i, m, err)
				return
			}
			go func() { // read on, as a device does, so that pings are answered
				for {
					if _, _, err := ws.Read(ctx); err != nil {
						return
					}
				}
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes it
	return nil
}

// BenchmarkIdleSocketMemory measures what an idle, authenticated device socket costs the
// server: a hub behind a loopback HTTP server, and ASSENT_BENCH_SOCKETS (default 2,000)
// sockets opened by a child process. After two forced collections it reports the growth of
// the heap and of the goroutine stacks (MemStats HeapInuse+StackInuse, and HeapAlloc for the
// live objects alone) divided by the sockets, and the goroutines per socket. It ignores b.N:
// run it with -benchtime=1x.
func BenchmarkIdleSocketMemory(b *testing.B) {
	n := 2000
	if s := os.Getenv("ASSENT_BENCH_SOCKETS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("ASSENT_BENCH_SOCKETS=%q is not a positive number", s)
		}
	}
	be := &backend{keys: map[uuid.UUID]ed25519.PublicKey{}, accounts: map[uuid.UUID][]uuid.UUID{}}
	for i := range n {
		d, pub := benchDevice(i)
		be.keys[d.id] = pub
		be.accounts[d.id] = []uuid.UUID{uuid.New()}
	}
	hub := push.NewHub(be, push.Options{MaxPerAddress: n, MaxWaiting: n, MaxWaitingPerAddress: n})
	url := serve(b, hub, push.Peer{})

	before := settled()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envDialURL+"="+url, envDialN+"="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		b.Fatalf("dialer: %q %v", line, err)
	}
	deadline := time.Now().Add(time.Minute)
	for hub.Connected() != n {
		if time.Now().After(deadline) {
			b.Fatalf("%d sockets connected, want %d", hub.Connected(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second) // let the last handshakes' goroutines end
	after := settled()
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	heapStack := per(after.HeapInuse+after.StackInuse, before.HeapInuse+before.StackInuse)
	live := per(after.HeapAlloc, before.HeapAlloc)
	stacks := per(after.StackInuse, before.StackInuse)
	gor := (float64(after.goroutines) - float64(before.goroutines)) / float64(n)
	b.ReportMetric(heapStack, "heap+stack-B/socket")
	b.ReportMetric(live, "live-heap-B/socket")
	b.ReportMetric(stacks, "stack-B/socket")
	b.ReportMetric(gor, "goroutines/socket")
	b.Logf("%d idle sockets: heap+stack %.0f B/socket (live heap %.0f, stacks %.0f), %.2f goroutines/socket",
		n, heapStack, live, stacks, gor)
}

type memFigures struct {
	runtime.MemStats
	goroutines int
}

// settled returns the memory figures after two forced collections (the second frees what
// the first's finalizers released, and shrinks idle stacks again).
func settled() memFigures {
	runtime.GC()
	runtime.GC()
	var f memFigures
	runtime.ReadMemStats(&f.MemStats)
	f.goroutines = runtime.NumGoroutine()
	return f
}
