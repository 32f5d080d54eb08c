package main

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/config"
)

// TestLoadtestSeedsConnectsAndCountsEveryPush runs the built `assent loadtest` against a real
// node on loopback: it seeds accounts and devices through the API, holds their sockets from
// two child processes, signs in, and reports every push received, none lost or twice, with
// latencies from the challenges' issued_at; a second run reuses the seeded devices and adds a
// reconnect storm, whose pending challenges all arrive once.
func TestLoadtestSeedsConnectsAndCountsEveryPush(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.DebugListen = "127.0.0.1:0"
	// The password checks of the seeding run in the server's process: at the worker's lowest
	// priority they would wait behind every other job of a busy machine (a sign-up timed out
	// after 40 s so), and this test is not about them.
	cfg.PasswordHashing = "inline"
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	state := filepath.Join(t.TempDir(), "state.json")
	run := func(extra ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"loadtest", "--server", "http://" + srv.Addr(), "--devices", "24", "--per-account", "4",
			"--processes", "2", "--rate", "6", "--duration", "2s", "--settle", "0s", "--state", state,
			"--server-debug", "http://" + srv.debug.addr()}, extra...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("loadtest: %v\n%s", err, out)
		}
		return string(out)
	}
	for i, out := range []string{run(), run("--storm", "--storm-sign-ins", "3", "--storm-rate", "200")} {
		if seeded := strings.Contains(out, "seeded in"); seeded != (i == 0) {
			t.Fatalf("run %d seeded=%v:\n%s", i, seeded, out)
		}
		m := regexp.MustCompile(`pushes: (\d+) expected, (\d+) received, 0 lost, 0 twice`).FindStringSubmatch(out)
		if m == nil || m[1] != m[2] || m[1] == "0" {
			t.Fatalf("run %d: pushes not all received:\n%s", i, out)
		}
		n, _ := strconv.Atoi(m[1])
		if n%4 != 0 || !strings.Contains(out, "push latency (issued_at to device): n="+m[1]+" p50 ") ||
			!strings.Contains(out, "push latency (recorded_at to device): n="+m[1]+" p50 ") {
			t.Fatalf("run %d: latencies:\n%s", i, out)
		}
		if !strings.Contains(out, "24 device sockets open from 2 processes") || !regexp.MustCompile(`per socket: live heap\+stacks -?\d`).MatchString(out) {
			t.Fatalf("run %d: sockets and memory:\n%s", i, out)
		}
		storm := strings.Contains(out, "storm: pushes pending: 12 expected, 12 received, 0 lost, 0 twice") &&
			strings.Contains(out, "storm: 24 sockets reconnected in") && strings.Contains(out, "after the storm, against the sockets idle before it: live heap+stacks ")
		if storm != (i == 1) {
			t.Fatalf("run %d: storm=%v:\n%s", i, storm, out)
		}
	}
}

// TestLoadtestRefusesWhatIsNotLoopbackOrBounded: every bad option is named at once.
func TestLoadtestRefusesWhatIsNotLoopbackOrBounded(t *testing.T) {
	t.Parallel()
	o := loadOptions{Server: "http://203.0.113.9:8080", Devices: 30_000, PerAccount: 4, Processes: 1, Rate: 20,
		Duration: 2 * time.Hour, State: "s.json", DebugURL: "http://example.com:6060"}
	err := o.validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"option 'server' must be an http URL of a loopback address such as 'http://127.0.0.1:8080' but it's configured as 'http://203.0.113.9:8080'",
		"option 'server-debug' must be empty or the http URL of the server's --debug-listen on loopback",
		"option 'processes' must give each process at most 19000 sockets (devices / processes) but it's configured as '1'",
		"option 'duration' must be between 0s and 1h but it's configured as '2h0m0s'",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	o = loadOptions{Server: "http://localhost:8080", Devices: 30, PerAccount: 4, Processes: 2, Rate: 20, Duration: time.Second, State: "s.json"}
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "option 'devices' must be a multiple of --per-account (4)") {
		t.Fatalf("30 devices of 4 per account: %v", err)
	}
}
