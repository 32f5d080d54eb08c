package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

// loadOptions are the settings of `assent loadtest`.
type loadOptions struct {
	Server     string
	Devices    int
	PerAccount int
	Processes  int
	Rate       float64
	Duration   time.Duration
	Settle     time.Duration
	State      string
	DebugURL   string
	MetricsURL string
	PID        int
	Ack        bool
	// Storm drops every socket after the sign-ins, signs in StormSignIns times while they are
	// away, and opens them again at StormRate per second (the reconnect storm).
	Storm        bool
	StormSignIns int
	StormRate    float64
}

// Bounds of a load test: it runs against this machine only, and ends.
const (
	maxLoadDevices        = 200_000
	maxDevicesPerProcess  = 19_000 // a process may hold 20,000 descriptors here
	maxLoadRate           = 500
	maxLoadDuration       = time.Hour
	maxLoadProcesses      = 64
	maxLoadDevicesAccount = 10
	maxStormRate          = 20_000
	maxStormSignIns       = 10_000
)

func (o loadOptions) validate() error {
	var errs []error
	bad := func(option, rule string, value any) {
		errs = append(errs, fmt.Errorf("loadtest: option '%s' must %s but it's configured as '%v'", option, rule, value))
	}
	if u, err := url.Parse(o.Server); err != nil || u.Scheme != "http" || !loopbackHost(u.Hostname()) {
		bad("server", "be an http URL of a loopback address such as 'http://127.0.0.1:8080'", o.Server)
	}
	if o.MetricsURL != "" {
		if u, err := url.Parse(o.MetricsURL); err != nil || u.Scheme != "http" || !loopbackHost(u.Hostname()) {
			bad("server-metrics", "be empty or the http URL of the server's --metrics-listen on loopback, such as 'http://127.0.0.1:9090'", o.MetricsURL)
		}
	}
	if o.DebugURL != "" {
		if u, err := url.Parse(o.DebugURL); err != nil || u.Scheme != "http" || !loopbackHost(u.Hostname()) {
			bad("server-debug", "be empty or the http URL of the server's --debug-listen on loopback, such as 'http://127.0.0.1:6060'", o.DebugURL)
		}
	}
	if o.Devices < 1 || o.Devices > maxLoadDevices {
		bad("devices", fmt.Sprintf("be between 1 and %d", maxLoadDevices), o.Devices)
	}
	if o.PerAccount < 1 || o.PerAccount > maxLoadDevicesAccount {
		bad("per-account", fmt.Sprintf("be between 1 and %d", maxLoadDevicesAccount), o.PerAccount)
	} else if o.Devices%o.PerAccount != 0 {
		bad("devices", fmt.Sprintf("be a multiple of --per-account (%d), so that every account's devices are connected", o.PerAccount), o.Devices)
	}
	if o.Processes < 1 || o.Processes > maxLoadProcesses {
		bad("processes", fmt.Sprintf("be between 1 and %d", maxLoadProcesses), o.Processes)
	} else if (o.Devices+o.Processes-1)/o.Processes > maxDevicesPerProcess {
		bad("processes", fmt.Sprintf("give each process at most %d sockets (devices / processes)", maxDevicesPerProcess), o.Processes)
	}
	if o.Rate < 0 || o.Rate > maxLoadRate {
		bad("rate", fmt.Sprintf("be between 0 and %d sign-ins per second", maxLoadRate), o.Rate)
	}
	if o.Duration < 0 || o.Duration > maxLoadDuration {
		bad("duration", "be between 0s and 1h", o.Duration)
	}
	if o.Settle < 0 || o.Settle > 10*time.Minute {
		bad("settle", "be between 0s and 10m", o.Settle)
	}
	if o.State == "" {
		bad("state", "name a file", o.State)
	}
	if o.Storm {
		if o.StormRate <= 0 || o.StormRate > maxStormRate {
			bad("storm-rate", fmt.Sprintf("be above 0 and at most %d sockets per second", maxStormRate), o.StormRate)
		}
		if o.StormSignIns < 1 || o.StormSignIns > maxStormSignIns {
			bad("storm-sign-ins", fmt.Sprintf("be between 1 and %d", maxStormSignIns), o.StormSignIns)
		}
	}
	return errors.Join(errs...)
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// loadtestCommand measures a running server with device sockets and sign-ins, all on this
// machine's loopback.
func loadtestCommand() *cobra.Command {
	o := loadOptions{Server: "http://127.0.0.1:8080", Devices: 1000, PerAccount: 4, Processes: 2, Rate: 20,
		Duration: 30 * time.Second, Settle: 5 * time.Second, State: "loadtest-state.json", Ack: true,
		StormSignIns: 500, StormRate: 2000}
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Hold device sockets on a local server, sign in at a rate, and print push latency and memory",
		Long: `loadtest seeds accounts and devices on a server running on this machine through its
public API (once: the state file keeps them for later runs against the same data directory),
opens a socket for every device from child processes, signs in at the given rate for the
given time, and prints the push latency (from the challenge's decision, issued_at, and from
its write to the log, recorded_at, to the device), the pushes lost, and the server's memory and goroutines per socket. With --storm it then drops
every socket at once, signs in while the devices are away, opens the sockets again at
--storm-rate per second and prints whether every pending challenge reached each of its
devices once, and the server's memory after the storm against its idle figure. Every address
is loopback:
requests and sockets leave from many 127.x.y.z source addresses so that the per-address
limits are not what is measured.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runLoad(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Server, "server", o.Server, "the server's API base URL (loopback only)")
	f.IntVar(&o.Devices, "devices", o.Devices, "device sockets to open")
	f.IntVar(&o.PerAccount, "per-account", o.PerAccount, "devices of each account: each sign-in is pushed to this many")
	f.IntVar(&o.Processes, "processes", o.Processes, "child processes holding the sockets (at most 19,000 each)")
	f.Float64Var(&o.Rate, "rate", o.Rate, "sign-ins per second (0: none, measure memory only)")
	f.DurationVar(&o.Duration, "duration", o.Duration, "how long to sign in")
	f.DurationVar(&o.Settle, "settle", o.Settle, "wait after the sockets are open before measuring them idle")
	f.StringVar(&o.State, "state", o.State, "file of the seeded accounts and devices (holds device keys: mode 0600)")
	f.StringVar(&o.DebugURL, "server-debug", "", "the server's --debug-listen URL, for its heap, stacks and goroutines after a forced collection")
	f.StringVar(&o.MetricsURL, "server-metrics", "", "the server's --metrics-listen URL, for the embedded store's commit and fsync times during the sign-ins")
	f.IntVar(&o.PID, "server-pid", 0, "the server's process ID, for its resident memory from /proc")
	f.BoolVar(&o.Ack, "ack", o.Ack, "devices acknowledge each challenge, as real devices do")
	f.BoolVar(&o.Storm, "storm", false, "after the sign-ins, drop every socket, sign in while they are away, and reconnect them all (the reconnect storm)")
	f.IntVar(&o.StormSignIns, "storm-sign-ins", o.StormSignIns, "sign-ins while the sockets are away, each pending for its account's devices")
	f.Float64Var(&o.StormRate, "storm-rate", o.StormRate, "sockets reconnected per second in the storm")
	cmd.AddCommand(loadDevicesCommand(), loadStartupCommand(), loadDiskCommand())
	return cmd
}

func runLoad(ctx context.Context, o loadOptions, w io.Writer) error {
	accounts := (o.Devices + o.PerAccount - 1) / o.PerAccount
	st, err := loadOrSeed(ctx, o, accounts, w)
	if err != nil {
		return err
	}
	base, err := readServer(ctx, o.DebugURL, o.PID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "server before the sockets: %s\n", describeServer(base))

	started := time.Now()
	fleet, err := startFleet(ctx, o, w)
	if err != nil {
		return err
	}
	defer fleet.stop()
	fmt.Fprintf(w, "%d device sockets open from %d processes in %s\n", o.Devices, o.Processes, time.Since(started).Round(time.Millisecond))
	time.Sleep(o.Settle)
	idle, err := readServer(ctx, o.DebugURL, o.PID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "server with the sockets idle: %s\n", describeServer(idle))
	fmt.Fprintf(w, "per socket: %s\n", perSocket(base, idle, o.Devices))

	if o.Rate > 0 && o.Duration > 0 {
		storeTimes := []string{"assent_store_commit_seconds", "assent_store_fsync_seconds"}
		var before map[string]histogram
		if o.MetricsURL != "" {
			if before, err = readHistograms(ctx, o.MetricsURL, storeTimes...); err != nil {
				return err
			}
		}
		res := signInLoad(ctx, o, st, accounts, fleet)
		fmt.Fprintf(w, "sign-ins: %d at %.1f/s over %s, %d refused (%s)\n", res.signIns, o.Rate, o.Duration, res.refused, res.firstRefusal)
		fmt.Fprintf(w, "pushes: %d expected, %d received, %d lost, %d twice\n", res.expected, res.received, res.expected-res.received, res.twice)
		fmt.Fprintf(w, "push latency (issued_at to device): %s\n", latencies(res.latencies))
		fmt.Fprintf(w, "push latency (recorded_at to device): %s\n", latencies(res.fromRecorded))
		if o.MetricsURL != "" {
			after, err := readHistograms(ctx, o.MetricsURL, storeTimes...)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "store commits during the sign-ins (begin to durable): %s; of which the COMMIT and its fsync: %s\n",
				after[storeTimes[0]].since(before[storeTimes[0]]).describe(), after[storeTimes[1]].since(before[storeTimes[1]]).describe())
		}
		after, err := readServer(ctx, o.DebugURL, o.PID)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "server after the sign-ins: %s\n", describeServer(after))
	}
	if o.Storm {
		res, err := runStorm(ctx, o, st, accounts, fleet, w)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "storm: %d sockets reconnected in %s (%.0f/s), %d dials refused and retried after a backoff (%s)\n",
			o.Devices, res.reconnected.Round(time.Millisecond), float64(o.Devices)/res.reconnected.Seconds(), res.retries, res.firstRetry)
		fmt.Fprintf(w, "storm: pushes pending: %d expected, %d received, %d lost, %d twice; the last %s after the storm began\n",
			res.expected, res.received, res.expected-res.received, res.twice, res.delivered.Round(time.Millisecond))
		time.Sleep(o.Settle)
		after, err := readServer(ctx, o.DebugURL, o.PID)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "server after the storm: %s\n", describeServer(after))
		fmt.Fprintf(w, "after the storm, against the sockets idle before it: %s\n", againstIdle(idle, after))
	}
	if n := fleet.closed.Load(); n > 0 {
		fmt.Fprintf(w, "sockets closed by the server: %d (first: %s)\n", n, fleet.firstClose())
	}
	// The server's figures once the sockets are gone give a second baseline, steadier than
	// the first (taken while the server was still settling after its start).
	fleet.stop()
	time.Sleep(o.Settle)
	gone, err := readServer(ctx, o.DebugURL, o.PID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "server after the sockets closed: %s\n", describeServer(gone))
	g, i := gone, idle
	g.RSS, i.RSS = 0, 0 // freed memory goes back to the system slowly: only the heap says it
	fmt.Fprintf(w, "per socket, against the server after they closed: %s\n", perSocket(g, i, o.Devices))
	return nil
}

// loadOrSeed reuses the state file when it was seeded on the same server with enough devices
// of the same count per account, and seeds otherwise.
func loadOrSeed(ctx context.Context, o loadOptions, accounts int, w io.Writer) (*loadState, error) {
	if st, err := loadLoadState(o.State); err == nil && st.Server == o.Server && len(st.Accounts) >= accounts &&
		len(st.Accounts[0].Devices) == o.PerAccount {
		st.Accounts = st.Accounts[:accounts]
		fmt.Fprintf(w, "using %d accounts and their devices from %s\n", accounts, o.State)
		return st, nil
	}
	t := time.Now()
	fmt.Fprintf(w, "seeding %d accounts with %d devices each through the API...\n", accounts, o.PerAccount)
	st, err := seedLoad(ctx, o.Server, accounts, o.PerAccount, func(n int) {
		if n%1000 == 0 {
			fmt.Fprintf(w, "  %d accounts\n", n)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("loadtest: seed: %w", err)
	}
	if err := st.save(o.State); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "seeded in %s (state: %s)\n", time.Since(t).Round(time.Second), o.State)
	return st, nil
}

// arrival is a challenge received by a device.
type arrival struct {
	challenge uuid.UUID
	device    int
}

// fleet is the child processes holding the sockets, and what they report.
type fleet struct {
	cmds   []*exec.Cmd
	stdins []io.WriteCloser
	wg     sync.WaitGroup

	mu       sync.Mutex
	arrivals map[uuid.UUID]map[int]pushLatency
	times    map[arrival]int // how often each device received each challenge
	twice    int
	closed   atomic.Int64
	closeMsg string

	// retries counts each child's dials refused and retried (a device's backoff).
	retries    map[int]int
	firstRetry string

	ctl      chan error // a child's "ready" or "dropped" (nil), or its untimely end
	stopping atomic.Bool
}

func startFleet(ctx context.Context, o loadOptions, w io.Writer) (*fleet, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f := &fleet{arrivals: map[uuid.UUID]map[int]pushLatency{}, times: map[arrival]int{}, retries: map[int]int{}, ctl: make(chan error, 4*maxLoadProcesses)}
	per := (o.Devices + o.Processes - 1) / o.Processes
	for p := range o.Processes {
		from, to := p*per, min((p+1)*per, o.Devices)
		if from >= to {
			continue
		}
		cmd := exec.CommandContext(ctx, exe, "loadtest", "devices", "--state", o.State,
			"--from", strconv.Itoa(from), "--to", strconv.Itoa(to), "--ack="+strconv.FormatBool(o.Ack))
		cmd.Stderr = w
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			f.stop()
			return nil, err
		}
		f.cmds = append(f.cmds, cmd)
		f.stdins = append(f.stdins, stdin)
		f.wg.Add(1)
		child := len(f.cmds) - 1
		go func() {
			defer f.wg.Done()
			f.read(child, stdout)
		}()
	}
	if err := f.await(ctx); err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

// read takes in one child's lines: its "ready" and "dropped" go to f.ctl, and so does its
// end when the fleet was not stopping.
func (f *fleet) read(child int, r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 2 && (fields[0] == "ready" || fields[0] == "dropped"):
			if len(fields) >= 3 && fields[0] == "ready" {
				n, _ := strconv.Atoi(fields[2]) // the child's total so far
				f.mu.Lock()
				f.retries[child] = n
				if n > 0 && f.firstRetry == "" {
					f.firstRetry = strings.Join(fields[3:], " ")
				}
				f.mu.Unlock()
			}
			f.ctl <- nil
		case len(fields) == 5 && fields[0] == "push":
			id, err1 := uuid.Parse(fields[1])
			dev, err2 := strconv.Atoi(fields[2])
			issued, err3 := strconv.ParseInt(fields[3], 10, 64)
			recorded, err4 := strconv.ParseInt(fields[4], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
				continue
			}
			f.mu.Lock()
			m := f.arrivals[id]
			if m == nil {
				m = map[int]pushLatency{}
				f.arrivals[id] = m
			}
			if _, dup := m[dev]; dup {
				f.twice++
			}
			m[dev] = pushLatency{fromIssued: time.Duration(issued), fromRecorded: time.Duration(recorded)}
			f.times[arrival{id, dev}]++
			f.mu.Unlock()
		case len(fields) >= 2 && fields[0] == "closed":
			if f.closed.Add(1) == 1 {
				f.mu.Lock()
				f.closeMsg = sc.Text()
				f.mu.Unlock()
			}
		}
	}
	if !f.stopping.Load() {
		f.ctl <- errors.New("loadtest: a device process ended before its sockets were ready (its errors are above)")
	}
}

// await waits for a "ready" or "dropped" of every child process.
func (f *fleet) await(ctx context.Context) error {
	for range f.cmds {
		select {
		case err := <-f.ctl:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// command sends a command line to every child process and waits for their answers.
func (f *fleet) command(ctx context.Context, line string) error {
	for _, in := range f.stdins {
		if _, err := io.WriteString(in, line+"\n"); err != nil {
			return fmt.Errorf("loadtest: tell the device processes %q: %w", line, err)
		}
	}
	return f.await(ctx)
}

// retried returns the dials refused and retried so far, and the first one's error.
func (f *fleet) retried() (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.retries {
		n += c
	}
	return n, f.firstRetry
}

func (f *fleet) firstClose() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closeMsg
}

func (f *fleet) stop() {
	f.stopping.Store(true)
	for _, in := range f.stdins {
		in.Close()
	}
	f.wg.Wait()
	for _, c := range f.cmds {
		c.Wait()
	}
	f.stdins, f.cmds = nil, nil
}

type loadResult struct {
	signIns, refused          int
	firstRefusal              string
	expected, received, twice int
	latencies, fromRecorded   []time.Duration
}

// pushLatency is how long a push took to reach a device: from the challenge's decision
// (issued_at) and from its write to the log (recorded_at); -1 when the challenge lacks one.
type pushLatency struct {
	fromIssued, fromRecorded time.Duration
}

// signInLoad signs in at o.Rate for o.Duration, account after account, then waits a little
// for the last pushes and counts them.
func signInLoad(ctx context.Context, o loadOptions, st *loadState, accounts int, f *fleet) loadResult {
	var res loadResult
	var mu sync.Mutex
	expect := map[uuid.UUID]int{}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	end := time.After(o.Duration)
	for k := 0; ; k = (k + 1) % accounts {
		select {
		case <-ctx.Done():
		case <-end:
		case <-tick.C:
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := clientFrom(o.Server, accountAddr(k)).SignIn(ctx, st.Accounts[k].Email, loadPassword)
				mu.Lock()
				defer mu.Unlock()
				res.signIns++
				if err != nil || r.Challenge == nil {
					res.refused++
					if res.firstRefusal == "" {
						res.firstRefusal = fmt.Sprintf("%s %v", r.Status, err)
					}
					return
				}
				expect[r.Challenge.ID] = r.Challenge.Devices
			}()
			continue
		}
		break
	}
	wg.Wait()
	// The pushes of the last sign-ins are on their way: wait for them, a few seconds at most.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		got := 0
		for id := range expect {
			got += len(f.arrivals[id])
		}
		f.mu.Unlock()
		want := 0
		for _, n := range expect {
			want += n
		}
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, n := range expect {
		res.expected += n
		got := f.arrivals[id]
		res.received += min(len(got), n)
		for _, d := range got {
			res.latencies = append(res.latencies, d.fromIssued)
			res.fromRecorded = append(res.fromRecorded, d.fromRecorded)
		}
	}
	res.twice = f.twice
	return res
}

func latencies(ls []time.Duration) string {
	if len(ls) == 0 {
		return "none"
	}
	slices.Sort(ls)
	q := func(p float64) string {
		d := ls[min(len(ls)-1, int(p*float64(len(ls))))]
		return fmt.Sprintf("%.3f ms", float64(d)/1e6)
	}
	if ls[0] < 0 {
		return "unknown: the server's challenges do not carry the time"
	}
	return fmt.Sprintf("n=%d p50 %s, p90 %s, p99 %s, max %s", len(ls), q(0.50), q(0.90), q(0.99), q(1))
}

func describeServer(f serverFigures) string {
	var parts []string
	if f.HeapInuse > 0 {
		parts = append(parts, fmt.Sprintf("live heap+stacks %s (live heap %s, heap in use %s, stacks %s), %d goroutines",
			mib(f.liveHeapStack()), mib(f.HeapAlloc), mib(f.HeapInuse), mib(f.StackInuse), f.Goroutines))
	}
	if f.RSS > 0 {
		parts = append(parts, fmt.Sprintf("RSS %s (peak %s)", mib(f.RSS), mib(f.PeakRSS)))
	}
	if len(parts) == 0 {
		return "not measured (give --server-debug and --server-pid)"
	}
	return strings.Join(parts, ", ")
}

func perSocket(before, after serverFigures, n int) string {
	per := func(a, b uint64) string { return fmt.Sprintf("%.1f KiB", (float64(a)-float64(b))/float64(n)/1024) }
	var parts []string
	if after.HeapInuse > 0 {
		parts = append(parts, "live heap+stacks "+per(after.liveHeapStack(), before.liveHeapStack()),
			"heap in use+stacks "+per(after.HeapInuse+after.StackInuse, before.HeapInuse+before.StackInuse),
			fmt.Sprintf("goroutines %.2f", float64(after.Goroutines-before.Goroutines)/float64(n)))
	}
	if after.RSS > 0 {
		parts = append(parts, "RSS "+per(after.RSS, before.RSS))
	}
	if len(parts) == 0 {
		return "not measured"
	}
	return strings.Join(parts, ", ")
}

// againstIdle says how far the server's figures are from those of the idle sockets.
func againstIdle(idle, now serverFigures) string {
	d := func(a, b uint64) string { return fmt.Sprintf("%+.1f MiB", (float64(a)-float64(b))/(1<<20)) }
	var parts []string
	if now.HeapInuse > 0 {
		parts = append(parts, "live heap+stacks "+d(now.liveHeapStack(), idle.liveHeapStack()),
			fmt.Sprintf("goroutines %+d", now.Goroutines-idle.Goroutines))
	}
	if now.RSS > 0 {
		parts = append(parts, "RSS "+d(now.RSS, idle.RSS))
	}
	if len(parts) == 0 {
		return "not measured"
	}
	return strings.Join(parts, ", ")
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
