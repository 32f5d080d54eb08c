package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withoutAssentVariables is the test's environment without its ASSENT_* options, so that only
// what a test sets is read.
func withoutAssentVariables(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASSENT_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// TestConfigFileIsReadByEveryCommand: one TOML file, named by ASSENT_CONFIG, configures the
// server and every command beside it (each would otherwise use ./data, here an empty working
// directory); a variable wins over the file.
func TestConfigFileIsReadByEveryCommand(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	file := filepath.Join(dir, "assent.toml")
	if err := os.WriteFile(file, []byte(`# the deployment's options
data-dir = "`+dataDir+`"
listen = "127.0.0.1:0"
log-format = "json"
password-hashing = "inline"
public-url = "https://auth.example.com"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = t.TempDir(), env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	env := withoutAssentVariables("ASSENT_CONFIG=" + file)

	srv := exec.Command(bin, "serve")
	srv.Dir, srv.Env = t.TempDir(), env
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any // JSON only if the file's log-format was read
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "listening" {
				addr <- strings.TrimPrefix(rec["addr"].(string), "http://")
			}
		}
		close(addr)
	}()
	var listen string
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("the server exited, or logged no JSON line 'listening': the file's log-format was not read")
		}
		listen = a
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "events.db")); err != nil {
		t.Fatalf("the server did not use the file's data-dir: %v", err)
	}

	// The file's listen (port 0) names no server; ASSENT_LISTEN wins over it.
	if out, err := run(append(env, "ASSENT_LISTEN="+listen), "healthcheck"); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("healthcheck with the file and ASSENT_LISTEN: %v %s", err, out)
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		t.Fatalf("server exit: %v", err)
	}

	for _, tc := range []struct {
		args []string
		want *regexp.Regexp
	}{
		{[]string{"admin", "integration", "create", "--name", "VPN"}, regexp.MustCompile(`api host:\s+auth\.example\.com`)},
		{[]string{"schema", "raise"}, regexp.MustCompile(`recorded .* by operator`)},
		{[]string{"projections", "status"}, regexp.MustCompile(`log head: [1-9]`)},
		{[]string{"audit", "verify"}, regexp.MustCompile(`OK: the log holds\n[1-9][0-9]* events`)},
		{[]string{"backup", "--to", filepath.Join(dir, "copy")}, regexp.MustCompile(`backup: the event store up to position [1-9]`)},
	} {
		out, err := run(env, tc.args...)
		if err != nil || !tc.want.MatchString(out) {
			t.Errorf("assent %s with the file: %v\n%.300s", strings.Join(tc.args, " "), err, out)
		}
	}
}

// TestConfigFileProblemsStopEveryCommand: a key of the file that is not an option, and a file
// named that does not exist, are refused by the server and by the commands beside it alike.
func TestConfigFileProblemsStopEveryCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "assent.toml")
	if err := os.WriteFile(file, []byte("data-dir = \""+dir+"\"\nlisten-address = \"0.0.0.0:8080\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.toml")
	for _, args := range [][]string{
		{"serve"}, {"healthcheck"}, {"schema", "status"}, {"projections", "status"},
		{"audit", "verify"}, {"backup", "--to", filepath.Join(dir, "copy")}, {"admin", "integration", "list"},
	} {
		_, err := runAdmin(t, append(args, "--config", file)...)
		want := "the configuration file '" + file + "' has the key 'listen-address', which is not an option"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("assent %s with an unknown key: %v", strings.Join(args, " "), err)
		}
		_, err = runAdmin(t, append(args, "--config", missing)...)
		want = "option 'config' must name a file that exists but it's configured as '" + missing + "'"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("assent %s with a missing file: %v", strings.Join(args, " "), err)
		}
	}
}

// TestNoCommandReadsAssentVariablesItself: the commands read their options through
// config.Load alone; no source file of the command asks the environment for an ASSENT_* option.
func TestNoCommandReadsAssentVariablesItself(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	direct := regexp.MustCompile(`(Getenv|LookupEnv|envOr)\("ASSENT_`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			if direct.MatchString(line) {
				t.Errorf("%s:%d reads an ASSENT_* variable itself: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
