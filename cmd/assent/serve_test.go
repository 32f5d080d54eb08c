package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// buildBinary compiles cmd/assent once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "assent")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestServeAnswersHealthAndShutsDownCleanly(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "ASSENT_LOG_FORMAT=json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := make(chan map[string]any, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil {
				lines <- rec
			}
		}
	}()
	waitLog := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case rec, ok := <-lines:
				if !ok {
					t.Fatalf("server exited before logging %q", msg)
				}
				if rec["msg"] == msg {
					return rec
				}
			case <-timeout:
				t.Fatalf("no %q in the log", msg)
			}
		}
	}
	addr := waitLog("listening")["addr"].(string)

	// The server listens before its read models have caught up with the log: /healthz answers
	// at once, /readyz once they have (at once on an empty store, give or take a moment).
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	if code, body := get("/healthz"); code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("GET /healthz: %d %s", code, body)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body := get("/readyz")
		if code == http.StatusOK && strings.Contains(body, `"status":"ready"`) {
			break
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "catching up with the log") || time.Now().After(deadline) {
			t.Fatalf("GET /readyz: %d %s", code, body)
		}
	}

	hc, err := exec.Command(bin, "healthcheck", "--listen", strings.TrimPrefix(addr, "http://")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(hc)) != "ok" {
		t.Fatalf("assent healthcheck against the running server: %v %s", err, hc)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog("event store closed")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("server exit after SIGTERM: %v", err)
	}
	// A clean close leaves no WAL to replay, and the store opens again.
	if fi, err := os.Stat(filepath.Join(dataDir, "events.db-wal")); err == nil && fi.Size() > 0 {
		t.Fatalf("the WAL holds %d bytes after a clean shutdown", fi.Size())
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("reopen the store: %v", err)
	}
	defer s.Close()
	if _, err := s.ReadAll(context.Background(), eventstore.Start, 1); err != nil {
		t.Fatal(err)
	}
}

func TestServeRefusesBadConfigurationNamingEveryProblem(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cmd := exec.Command(bin, "serve", "--listen", "nowhere", "--log-level", "chatty")
	cmd.Env = append(os.Environ(), "ASSENT_SHUTDOWN_TIMEOUT=0s", "ASSENT_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a bad configuration started the server:\n%s", out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`option 'listen' must be a host:port address .* but it's configured as 'nowhere'`),
		regexp.MustCompile(`option 'log-level' must be one of .* but it's configured as 'chatty'`),
		regexp.MustCompile(`option 'shutdown-timeout' must be between 1s and 10m but it's configured as '0s'`),
	} {
		if !want.Match(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
