package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/assent-dev/assent/eventstore/sqlite"
)

// runAdmin runs one assent command line and returns its output.
func runAdmin(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := rootCommand()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctxT(t))
	return out.String(), err
}

func TestAdminIntegrationCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := runAdmin(t, "admin", "integration", "create", "--name", "VPN", "--data-dir", dir, "--public-url", "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`integration key: (DI[A-Z0-9]{18})\nsecret key:      ([A-Za-z0-9]{40})\napi host:        auth\.example\.com\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create printed:\n%s", out)
	}
	ikey, skey := m[1], m[2]

	out, err = runAdmin(t, "admin", "integration", "rotate-secret", ikey, "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "integration key: "+ikey) || strings.Contains(out, skey) || !regexp.MustCompile(`secret key:      [A-Za-z0-9]{40}`).MatchString(out) {
		t.Fatalf("rotate-secret printed:\n%s", out)
	}
	if _, err = runAdmin(t, "admin", "integration", "disable", ikey, "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	out, err = runAdmin(t, "admin", "integration", "list", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(ikey+`\s+VPN\s+disabled\s+\S+\s+\d{4}-`).MatchString(out) || strings.Contains(out, skey) {
		t.Fatalf("list printed:\n%s", out)
	}
	if _, err = runAdmin(t, "admin", "integration", "disable", ikey, "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "integration disabled") {
		t.Fatalf("second disable: %v", err)
	}
	if _, err = runAdmin(t, "admin", "integration", "disable", "nope", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "must be DI followed by") {
		t.Fatalf("bad key: %v", err)
	}
	if _, err = runAdmin(t, "admin", "integration", "create", "--data-dir", dir); err == nil {
		t.Fatal("create without --name succeeded")
	}
}

// TestAdminRefusesWhileTheServerHoldsTheStore: the embedded store has one writer; an admin
// command started beside a running server says to stop it and changes nothing.
func TestAdminRefusesWhileTheServerHoldsTheStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	held, err := sqlite.Open(context.Background(), filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, err = runAdmin(t, "admin", "integration", "create", "--name", "VPN", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "stop it, run this command, then start it again") {
		t.Fatalf("create beside a running server: %v", err)
	}
	if held.Head() != 0 {
		t.Fatal("the refused command wrote to the log")
	}
}
