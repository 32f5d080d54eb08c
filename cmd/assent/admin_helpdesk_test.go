package main

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/assent-dev/assent/config"
)

// TestAdminAccountCommands runs `assent admin token create` and `assent admin account` through
// a running server's admin API, and over the data directory with the server stopped.
func TestAdminAccountCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := runAdmin(t, "admin", "token", "create", "--name", "carol", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`asadm_[A-Za-z0-9_-]{43}`).FindString(out)
	if token == "" {
		t.Fatalf("token create printed:\n%s", out)
	}

	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			if err := srv.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	n := &node{t: t, srv: srv, url: "http://" + srv.Addr(), rec: &recorder{}}
	const email = "caller@example.com"
	link(t, n, n.account(t, email), newPhone(t, "the caller's phone"))

	remote := []string{"--server", n.url, "--token", token, "--data-dir", dir}
	out, err = runAdmin(t, append([]string{"admin", "account", "bypass-codes", email, "--reason", reason, "--count", "2"}, remote...)...)
	if err != nil {
		t.Fatalf("bypass-codes: %v\n%s", err, out)
	}
	if codes := regexp.MustCompile(`(?m)^\S+$`).FindAllString(out, -1); len(codes) != 2 || !strings.Contains(out, "valid until") {
		t.Fatalf("bypass-codes printed:\n%s", out)
	}
	if _, err := runAdmin(t, append([]string{"admin", "account", "disable", email}, remote...)...); err == nil || !strings.Contains(err.Error(), "reason_required") {
		t.Fatalf("disable without a reason: %v", err)
	}
	if _, err := runAdmin(t, "admin", "account", "disable", email, "--reason", reason, "--server", n.url, "--token", "asadm_forged", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "admin_unauthenticated") {
		t.Fatalf("disable with a forged token: %v", err)
	}
	if out, err := runAdmin(t, append([]string{"admin", "account", "disable", email, "--reason", reason}, remote...)...); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %v\n%s", err, out)
	}
	_, err = n.client().SignIn(ctxT(t), email, "correct horse battery staple")
	wantCode(t, err, "account_disabled")
	if out, err := runAdmin(t, append([]string{"admin", "account", "show", email}, remote...)...); err != nil ||
		!strings.Contains(out, "second factor:    on, 1 devices") || !strings.Contains(out, "disabled") {
		t.Fatalf("show through the API: %v\n%s", err, out)
	}

	// With the server stopped, over the data directory, acting as a named administrator.
	stop()
	local := []string{"--data-dir", dir}
	if _, err := runAdmin(t, append([]string{"admin", "account", "enable", email, "--reason", reason}, local...)...); err == nil || !strings.Contains(err.Error(), "option 'as'") {
		t.Fatalf("enable without --as: %v", err)
	}
	if out, err := runAdmin(t, append([]string{"admin", "account", "enable", email, "--reason", reason, "--as", "carol"}, local...)...); err != nil || !strings.Contains(out, "enabled") {
		t.Fatalf("enable over the data directory: %v\n%s", err, out)
	}
	if _, err := runAdmin(t, append([]string{"admin", "account", "enable", email, "--reason", reason, "--as", "carol"}, local...)...); err == nil || !strings.Contains(err.Error(), "not disabled") {
		t.Fatalf("enable twice: %v", err)
	}
	if _, err := runAdmin(t, append([]string{"admin", "account", "reset", "nobody@example.com", "--reason", reason, "--as", "carol"}, local...)...); err == nil || !strings.Contains(err.Error(), "no account") {
		t.Fatalf("reset of an unknown account: %v", err)
	}
	if out, err := runAdmin(t, append([]string{"admin", "account", "reset", email, "--reason", reason, "--as", "carol", "--enroll-within", "2h"}, local...)...); err != nil || !strings.Contains(out, "must set up a new one by") {
		t.Fatalf("reset over the data directory: %v\n%s", err, out)
	}
	if out, err := runAdmin(t, append([]string{"admin", "account", "show", email}, local...)...); err != nil ||
		!strings.Contains(out, "second factor:    off, 0 devices") || !strings.Contains(out, "a new second factor is due by") || strings.Contains(out, "disabled") {
		t.Fatalf("show over the data directory: %v\n%s", err, out)
	}
}

// TestAdminAccountErase erases one account through the server's admin API and another with the
// server stopped, over the data directory: each is named once (ACCOUNT, --account or --email),
// a reason is required, and the store's files hold neither email afterwards.
func TestAdminAccountErase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := runAdmin(t, "admin", "token", "create", "--name", "carol", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`asadm_[A-Za-z0-9_-]{43}`).FindString(out)
	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			if err := srv.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	n := &node{t: t, srv: srv, url: "http://" + srv.Addr(), rec: &recorder{}}
	const remoteEmail, localEmail = "by.api@example.com", "by.file@example.com"
	link(t, n, n.account(t, remoteEmail), newPhone(t, "the caller's phone"))
	n.account(t, localEmail)
	localID, err := n.srv.App.FindAccount(ctxT(t), localEmail)
	if err != nil {
		t.Fatal(err)
	}

	remote := []string{"--server", n.url, "--token", token, "--data-dir", dir}
	if _, err := runAdmin(t, append([]string{"admin", "account", "erase", "--email", remoteEmail}, remote...)...); err == nil || !strings.Contains(err.Error(), "reason_required") {
		t.Fatalf("erase without a reason: %v", err)
	}
	if _, err := runAdmin(t, append([]string{"admin", "account", "erase", remoteEmail, "--email", remoteEmail, "--reason", reason}, remote...)...); err == nil || !strings.Contains(err.Error(), "name the account once") {
		t.Fatalf("erase of an account named twice: %v", err)
	}
	if out, err := runAdmin(t, append([]string{"admin", "account", "erase", "--email", remoteEmail, "--reason", reason}, remote...)...); err != nil || !strings.Contains(out, "erased at") {
		t.Fatalf("erase through the API: %v\n%s", err, out)
	}
	_, err = n.client().SignIn(ctxT(t), remoteEmail, "correct horse battery staple")
	wantCode(t, err, "wrong_credentials")

	stop()
	local := []string{"--data-dir", dir, "--as", "carol"}
	if out, err := runAdmin(t, append([]string{"admin", "account", "erase", "--account", localID.String(), "--reason", reason}, local...)...); err != nil || !strings.Contains(out, "erased at") {
		t.Fatalf("erase over the data directory: %v\n%s", err, out)
	}
	if _, err := runAdmin(t, append([]string{"admin", "account", "show", localEmail}, local[:2]...)...); err == nil || !strings.Contains(err.Error(), "no account") {
		t.Fatalf("show of the erased account: %v", err)
	}
	if found := filesHold(t, dir, remoteEmail, localEmail, "the caller's phone"); len(found) > 0 {
		t.Fatalf("the store's files hold %v", found)
	}
}
