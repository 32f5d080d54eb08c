package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push/wire"
)

// loadDevicesCommand is the child process of `assent loadtest`: it holds the device sockets
// of a range of the seeded devices. It prints "ready <n> <retries> <first retry's error>"
// once every socket is ready (a refused dial is retried after a backoff, as a device does),
// then a line "push <challenge> <device> <ns> <ns>" for each challenge a device receives
// (the latency from the challenge's issued_at, then from its recorded_at, to its arrival) and "closed <device> <why>" for
// a socket the server closes. It reads commands on its standard input: "drop" closes every
// socket at once, as a network failure would, and prints "dropped <n>"; "connect <rate>"
// opens them again, rate sockets per second (0: as fast as 32 dials at a time go), and
// prints "ready" again. It closes its sockets and ends when its standard input closes.
func loadDevicesCommand() *cobra.Command {
	var state string
	var from, to int
	var ack bool
	cmd := &cobra.Command{
		Use:    "devices",
		Short:  "Hold device sockets for assent loadtest (its child process)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := loadLoadState(state)
			if err != nil {
				return err
			}
			devs := st.devices()
			if from < 0 || to > len(devs) || from >= to {
				return fmt.Errorf("loadtest devices: the range %d..%d is not within the %d seeded devices", from, to, len(devs))
			}
			return holdDevices(cmd.Context(), st.Server, devs[from:to], from, ack, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "the seeded devices (written by assent loadtest)")
	cmd.Flags().IntVar(&from, "from", 0, "first device")
	cmd.Flags().IntVar(&to, "to", 0, "end of the range of devices")
	cmd.Flags().BoolVar(&ack, "ack", true, "acknowledge each challenge, as a device does")
	return cmd
}

// lineWriter serializes the child's report lines.
type lineWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
	l.w.Flush()
}

// printfLater buffers a line that flushLater sends within pushFlushEvery: the lines of
// pushes, so that a device that has just received a challenge does not write to the parent
// (and wake it, on the same processor) while the next devices' frames wait to be read.
func (l *lineWriter) printfLater(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

// pushFlushEvery is how often the buffered push lines go to the parent.
const pushFlushEvery = 20 * time.Millisecond

// flushLater flushes the buffered lines every pushFlushEvery until ctx ends.
func (l *lineWriter) flushLater(ctx context.Context) {
	every(ctx, pushFlushEvery, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.w.Buffered() > 0 {
			l.w.Flush()
		}
	})
}

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

func holdDevices(ctx context.Context, server string, devs []seededDevice, first int, ack bool, stdin io.Reader, stdout io.Writer) error {
	out := &lineWriter{w: bufio.NewWriter(stdout)}
	defer out.printf("") // the last push lines
	flushCtx, stopFlush := context.WithCancel(ctx)
	defer stopFlush()
	go out.flushLater(flushCtx)
	h := newDeviceHolder(server, devs, first, ack, func(p devicePush) {
		out.printfLater("push %s %d %d %d\n", p.Challenge, p.Device, p.Latency.Nanoseconds(), p.Recorded.Nanoseconds())
	}, func(idx int, why string) {
		out.printf("closed %d %s\n", idx, strings.ReplaceAll(why, "\n", " "))
	})
	defer h.drop()
	ready := func() {
		n, first := h.Retries()
		out.printf("ready %d %d %s\n", len(devs), n, strings.ReplaceAll(first, "\n", " "))
	}
	if err := h.connect(ctx, 0); err != nil {
		return err
	}
	ready()
	sc := bufio.NewScanner(stdin)
	for sc.Scan() { // until the parent closes it
		switch f := strings.Fields(sc.Text()); {
		case len(f) == 1 && f[0] == "drop":
			h.drop()
			out.printf("dropped %d\n", len(devs))
		case len(f) == 2 && f[0] == "connect":
			rate, err := strconv.ParseFloat(f[1], 64)
			if err != nil || rate < 0 {
				return fmt.Errorf("loadtest devices: connect: the rate %q is not a number of sockets per second", f[1])
			}
			if err := h.connect(ctx, rate); err != nil {
				return err
			}
			ready()
		}
	}
	return nil
}

// devicePush is a challenge a held device received.
type devicePush struct {
	Challenge uuid.UUID
	Device    int           // the device's index among the seeded devices
	Latency   time.Duration // from the challenge's issued_at; -1 when it carries none
	Recorded  time.Duration // from the challenge's recorded_at; -1 when it carries none
}

// deviceHolder holds the sockets of a range of seeded devices, each from its own loopback
// source address (see socketAddr), so that the server's cap of sockets per address is not
// what is measured. It drops and opens them all at once, for the reconnect storm.
type deviceHolder struct {
	wsURL  string
	devs   []seededDevice
	first  int
	ack    bool
	push   func(devicePush)
	closed func(idx int, why string)

	cancel context.CancelFunc // ends the sockets open now
	wg     sync.WaitGroup

	retries    atomic.Int64
	firstRetry atomic.Value // string
}

func newDeviceHolder(server string, devs []seededDevice, first int, ack bool, push func(devicePush), closed func(int, string)) *deviceHolder {
	return &deviceHolder{wsURL: "ws" + strings.TrimPrefix(server, "http") + "/v1/devices/socket",
		devs: devs, first: first, ack: ack, push: push, closed: closed}
}

// connect opens every device's socket and returns once all are authenticated: rate sockets
// per second when rate > 0 (each dial starts on time, however long the others take, as phones
// coming back do not wait for each other), or 32 dials at a time. The first failure drops
// them all and is returned.
func (h *deviceHolder) connect(ctx context.Context, rate float64) error {
	h.drop()
	sctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	errs := make(chan error, len(h.devs))
	readyc := make(chan struct{}, len(h.devs))
	var acks *acker
	if h.ack {
		acks = &acker{}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			acks.run(sctx)
		}()
	}
	sem := make(chan struct{}, 32)
	var tick *time.Ticker
	if rate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
	}
	for i, d := range h.devs {
		idx := h.first + i
		if tick != nil {
			select {
			case <-tick.C:
			case <-sctx.Done():
			}
		} else {
			sem <- struct{}{}
		}
		if len(errs) > 0 || sctx.Err() != nil {
			break
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			ws, err := h.dial(sctx, idx, d)
			if tick == nil {
				<-sem
			}
			if err != nil {
				errs <- fmt.Errorf("device %d: %w", idx, err)
				return
			}
			readyc <- struct{}{}
			defer ws.CloseNow()
			readDevice(sctx, ws, idx, acks, h.push, h.closed)
		}()
	}
	for range h.devs {
		select {
		case <-readyc:
		case err := <-errs:
			h.drop()
			return err
		case <-ctx.Done():
			h.drop()
			return ctx.Err()
		}
	}
	return nil
}

// dial opens one device's socket as a device does: a refusal the device may retry (a close
// code that is not permanent, or a failed connection) is retried after the Go client's
// backoff, for five minutes at most (a storm on a busy core takes minutes), and counted in h.retries.
func (h *deviceHolder) dial(ctx context.Context, idx int, d seededDevice) (*websocket.Conn, error) {
	b := &backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 5 * time.Second}
	return backoff.Retry(ctx, func() (*websocket.Conn, error) {
		ws, err := dialDevice(ctx, h.wsURL, socketAddr(idx), d)
		if err == nil {
			return ws, nil
		}
		if ce := (websocket.CloseError{}); errors.As(err, &ce) && (wire.Close{Code: ce.Code}).Permanent() {
			return nil, backoff.Permanent(err)
		}
		if h.retries.Add(1) == 1 {
			h.firstRetry.Store(err.Error())
		}
		return nil, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(5*time.Minute))
}

// Retries returns the dials refused and retried so far, and the first one's error.
func (h *deviceHolder) Retries() (int64, string) {
	first, _ := h.firstRetry.Load().(string)
	return h.retries.Load(), first
}

// drop closes every socket at once, without a close frame, and waits for their readers.
func (h *deviceHolder) drop() {
	if h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
	h.wg.Wait()
}

// dialDevice opens d's socket from the source address src and authenticates it.
func dialDevice(ctx context.Context, wsURL string, src net.IP, d seededDevice) (*websocket.Conn, error) {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 30 * time.Second}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*websocket.Conn, error) {
		ws.CloseNow()
		return nil, err
	}
	var hello wire.Message
	if err := readJSON(dctx, ws, &hello); err != nil || hello.Type != wire.TypeHello {
		return fail(fmt.Errorf("no hello: %v", err))
	}
	key := ed25519.NewKeyFromSeed(d.Seed)
	auth, _ := json.Marshal(wire.Message{Type: wire.TypeAuth, DeviceID: d.ID, Signature: ed25519.Sign(key, domain.DeviceAuthPayload(d.ID, hello.Nonce))})
	if err := ws.Write(dctx, websocket.MessageText, auth); err != nil {
		return fail(err)
	}
	var ready wire.Message
	if err := readJSON(dctx, ws, &ready); err != nil || ready.Type != wire.TypeReady {
		return fail(fmt.Errorf("no ready (%+v): %v", ready, err))
	}
	return ws, nil
}

func readJSON(ctx context.Context, ws *websocket.Conn, v any) error {
	_, b, err := ws.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// acker acknowledges the challenges the devices of a process received, from one goroutine,
// every ackEvery: a challenge goes to all the devices of an account at once, and their sockets
// are read by one process on one processor, so a device that wrote its acknowledgement at once
// (a system call, which on loopback also runs the server's side of the connection) would delay
// the reading, and the measured latency, of the account's next devices. A phone acknowledges
// at once; the server does not wait for it before pushing to the others either way.
type acker struct {
	mu      sync.Mutex
	pending []pendingAck
}

type pendingAck struct {
	ws        *websocket.Conn
	challenge uuid.UUID
}

// ackEvery is how often the acker sends what is pending.
const ackEvery = 2 * time.Millisecond

func (a *acker) add(ws *websocket.Conn, challenge uuid.UUID) {
	a.mu.Lock()
	a.pending = append(a.pending, pendingAck{ws, challenge})
	a.mu.Unlock()
}

func (a *acker) run(ctx context.Context) {
	every(ctx, ackEvery, func() {
		a.mu.Lock()
		todo := a.pending
		a.pending = nil
		a.mu.Unlock()
		for _, p := range todo {
			b, _ := json.Marshal(wire.Message{Type: wire.TypeAck, ChallengeID: p.challenge})
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			p.ws.Write(wctx, websocket.MessageText, b)
			cancel()
		}
	})
}

// readDevice reads one socket until it ends, reporting each challenge with its latency, and
// a close it did not cause. acks, when not nil, acknowledges each challenge.
func readDevice(ctx context.Context, ws *websocket.Conn, idx int, acks *acker, push func(devicePush), closed func(int, string)) {
	for {
		_, b, err := ws.Read(ctx)
		arrived := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				closed(idx, err.Error())
			}
			return
		}
		var m wire.Message
		if json.Unmarshal(b, &m) != nil || m.Type != wire.TypeChallenge || m.Challenge == nil {
			continue
		}
		lat := time.Duration(-1) // a server without issued_at
		if at := m.Challenge.Context.IssuedAt; !at.IsZero() {
			lat = arrived.Sub(at)
		}
		rec := time.Duration(-1) // a server without recorded_at
		if at := m.Challenge.RecordedAt; !at.IsZero() {
			rec = arrived.Sub(at)
		}
		push(devicePush{Challenge: m.Challenge.ID, Device: idx, Latency: lat, Recorded: rec})
		if acks != nil {
			acks.add(ws, m.Challenge.ID)
		}
	}
}

// socketAddr is the loopback source address of device idx's socket: 100 addresses, so that
// 19,900 sockets make 199 per address, within the server's default cap of 1,024.
func socketAddr(idx int) net.IP { return net.IPv4(127, 2, byte(idx%100), 1) }

// accountAddr is the loopback source address of account k's requests, one per account, so
// that the per-address rate limits of sign-up, sign-in and enrollment are not what the test
// measures.
func accountAddr(k int) net.IP {
	return net.IPv4(127, 1+byte(k/(250*256)), byte(k/250%256), byte(k%250+1))
}

// seededDevice is a device the load test seeded: its ID and its key's seed.
type seededDevice struct {
	ID      uuid.UUID `json:"id"`
	Seed    []byte    `json:"seed"`
	Account int       `json:"account"`
}
