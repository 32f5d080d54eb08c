package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/secrets"
	"github.com/assent-dev/assent/storegen"
)

// startupOptions are the flags of assent loadtest startup.
type startupOptions struct {
	DataDir     string
	Binary      string
	SignIns     int
	Concurrency int
	Timeout     time.Duration
	ServerLog   string
}

func loadStartupCommand() *cobra.Command {
	o := startupOptions{SignIns: 1000, Concurrency: 2, Timeout: 30 * time.Minute}
	cmd := &cobra.Command{
		Use:   "startup",
		Short: "Start assent serve on a generated store and print the time to /healthz and /readyz, sign-in latency and resident memory",
		Long: `startup starts assent serve (this binary, or --binary) as a child process on a data directory
made by assent generate, on a free loopback port, and prints how long after the process start
/healthz and then /readyz first answered 200, the server's resident memory (VmRSS from
/proc) once ready, then signs in --sign-ins times on generated accounts with 2FA (the
password, then the device's TOTP code of the next 30-second step, which the server takes and
the generated history cannot have spent, as a login page does), each account from its
own loopback address, and prints the sign-ins' latency and the resident memory after them.
The server is stopped at the end. The data directory is used as it is: a second run measures a
node that has started on it before.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.DataDir == "" {
				return errors.New("loadtest startup: option 'data-dir' must be set but it's not configured")
			}
			if o.SignIns < 0 || o.Concurrency < 1 {
				return fmt.Errorf("loadtest startup: option 'sign-ins' must be at least 0 and 'concurrency' at least 1 but they're configured as '%d' and '%d'", o.SignIns, o.Concurrency)
			}
			return runStartup(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", "", "a data directory made by assent generate")
	f.StringVar(&o.Binary, "binary", "", "the assent binary to start (default: this one)")
	f.IntVar(&o.SignIns, "sign-ins", o.SignIns, "sign-ins to make once the server is ready")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "sign-ins in flight at once")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "longest wait for /readyz")
	f.StringVar(&o.ServerLog, "server-log", "", "file for the server's log (default: discarded)")
	return cmd
}

func runStartup(ctx context.Context, o startupOptions, w io.Writer) error {
	m, err := storegen.ReadManifest(o.DataDir)
	if err != nil {
		return err
	}
	bin := o.Binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return err
		}
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	fi, err := os.Stat(filepath.Join(o.DataDir, "events.db"))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "store: %d accounts, about %d events, %.2f GiB (events.db)\n", m.Accounts, m.Events, float64(fi.Size())/(1<<30))

	server := exec.Command(bin, "serve", "--data-dir", o.DataDir, "--listen", addr)
	server.Stdout, server.Stderr = io.Discard, io.Discard
	if o.ServerLog != "" {
		f, err := os.Create(o.ServerLog)
		if err != nil {
			return err
		}
		defer f.Close()
		server.Stdout, server.Stderr = f, f
	}
	began := time.Now()
	if err := server.Start(); err != nil {
		return fmt.Errorf("loadtest startup: start the server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	defer func() {
		server.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			server.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + addr
	deadline := began.Add(o.Timeout)
	for _, path := range []string{"/healthz", "/readyz"} {
		took, err := awaitOK(ctx, base+path, deadline, exited)
		if err != nil {
			return fmt.Errorf("loadtest startup: %s: %w", path, err)
		}
		fmt.Fprintf(w, "%-8s answered 200 after %s\n", path, took(began).Round(time.Millisecond))
	}
	pid := server.Process.Pid
	fmt.Fprintf(w, "resident memory when ready: %s\n", rss(pid))
	if o.SignIns == 0 {
		return nil
	}
	lat, refused, first := startupSignIns(ctx, o, m, base)
	slices.Sort(lat)
	fmt.Fprintf(w, "%d sign-ins (password, then TOTP code), %d refused%s; latency %s\n", o.SignIns, refused, first, latencies(lat))
	fmt.Fprintf(w, "resident memory after the sign-ins: %s\n", rss(pid))
	return nil
}

// awaitOK polls url every 10 ms until it answers 200, and returns a function that gives the
// time from a start to that answer.
func awaitOK(ctx context.Context, url string, deadline time.Time, exited <-chan error) (func(time.Time) time.Duration, error) {
	c := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		at := time.Now()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return func(t time.Time) time.Duration { return at.Sub(t) }, nil
			}
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("the server exited: %v", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no 200 before the timeout")
		}
	}
}

// startupSignIns signs in o.SignIns times on accounts with 2FA spread over the store, and
// returns the latencies of the whole sign-ins (password and code) that succeeded.
func startupSignIns(ctx context.Context, o startupOptions, m storegen.Manifest, base string) ([]time.Duration, int, string) {
	var mu sync.Mutex
	var lat []time.Duration
	refused, first := 0, ""
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Go(func() {
			for k := range jobs {
				i := linkedAccount(m, k)
				t0 := time.Now()
				err := startupSignIn(ctx, m, base, i, k)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					refused++
					if first == "" {
						first = fmt.Sprintf(" (first: account %d: %v)", i, err)
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		})
	}
	for k := range o.SignIns {
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	return lat, refused, first
}

// linkedAccount returns the account of the k-th sign-in: one with 2FA, spread over the store,
// a different one for each k below the number of such accounts.
func linkedAccount(m storegen.Manifest, k int) int {
	per := m.LinkedEvery - 1 // accounts with 2FA in each run of LinkedEvery
	linked := m.Accounts / m.LinkedEvery * per
	if linked == 0 {
		return 0
	}
	j := (k * 7919) % linked // 7919 is prime: distinct for k below linked, unless linked is a multiple of it
	return j/per*m.LinkedEvery + j%per
}

func startupSignIn(ctx context.Context, m storegen.Manifest, base string, i, k int) error {
	c := clientFrom(base, accountAddr(k))
	res, err := c.SignIn(ctx, m.Email(i), m.Password)
	if err != nil {
		return err
	}
	if res.Challenge == nil {
		return fmt.Errorf("no challenge: 2FA is off")
	}
	secret, err := m.TOTPSecret(i)
	if err != nil {
		return err
	}
	// The code of the next step, as a device whose clock runs a little ahead shows it (the
	// server takes a step either side): the generated history may have spent the current one.
	code, err := secret.Code(time.Now().Add(secrets.TOTPPeriod))
	if err != nil {
		return err
	}
	return c.LoginWithCode(ctx, res.Challenge.ID, res.LoginToken, code)
}

// rss reads the process's resident memory and its peak from /proc.
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return fmt.Sprintf("%s (peak %s)", mib(procKB(string(b), "VmRSS:")), mib(procKB(string(b), "VmHWM:")))
}

// freeLoopbackAddr returns a loopback address with a port free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
