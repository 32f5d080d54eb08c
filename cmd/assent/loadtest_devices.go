package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/push/wire"
)

// loadDevicesCommand is the child process of `assent loadtest`: it holds the device sockets
// of a range of the seeded devices. It prints "ready <n>" once every socket is ready, then a
// line "push <challenge> <device> <latency ns>" for each challenge a device receives (the
// latency from the challenge's issued_at to its arrival) and "closed <device> <why>" for a
// socket the server closes; it closes its sockets and ends when its standard input closes.
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

func holdDevices(ctx context.Context, server string, devs []seededDevice, first int, ack bool, stdin io.Reader, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &lineWriter{w: bufio.NewWriter(stdout)}
	wsURL := "ws" + strings.TrimPrefix(server, "http") + "/v1/devices/socket"

	// Each device dials from its own loopback source address (see socketAddr), so that the
	// server's cap of sockets per address is not what the test measures.
	var wg sync.WaitGroup
	errs := make(chan error, len(devs))
	readyc := make(chan struct{}, len(devs))
	sem := make(chan struct{}, 32)
	for i, d := range devs {
		idx := first + i
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			ws, err := dialDevice(ctx, wsURL, socketAddr(idx), d)
			<-sem
			if err != nil {
				errs <- fmt.Errorf("device %d: %w", idx, err)
				return
			}
			readyc <- struct{}{}
			defer ws.CloseNow()
			readDevice(ctx, ws, idx, ack, out)
		}()
		if len(errs) > 0 {
			break
		}
	}
	for range devs {
		select {
		case <-readyc:
		case err := <-errs:
			cancel()
			wg.Wait()
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	out.printf("ready %d\n", len(devs))
	io.Copy(io.Discard, stdin) // until the parent closes it
	cancel()
	wg.Wait()
	return nil
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

// readDevice reads one socket until it ends, reporting each challenge's latency.
func readDevice(ctx context.Context, ws *websocket.Conn, idx int, ack bool, out *lineWriter) {
	for {
		_, b, err := ws.Read(ctx)
		arrived := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				out.printf("closed %d %s\n", idx, strings.ReplaceAll(err.Error(), "\n", " "))
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
		out.printf("push %s %d %d\n", m.Challenge.ID, idx, lat.Nanoseconds())
		if ack {
			a, _ := json.Marshal(wire.Message{Type: wire.TypeAck, ChallengeID: m.Challenge.ID})
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ws.Write(wctx, websocket.MessageText, a)
			cancel()
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
