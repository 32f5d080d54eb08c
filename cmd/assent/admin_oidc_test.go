package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// runAdminIn runs `assent admin ARGS --data-dir dir` and returns its output.
func runAdminIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	return runAdmin(t, append(append([]string{"admin"}, args...), "--data-dir", dir)...)
}

// TestAdminOIDCClientsAndKeys runs the admin commands on a stopped server's data directory:
// the client is registered with its secret stored only as a hash, listed, rotated and
// disabled, a signing key is added, and a server started afterwards sees all of it.
func TestAdminOIDCClientsAndKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Stop(stop); err != nil {
		t.Fatal(err)
	}

	if _, err := runAdminIn(t, dir, "oidc-client", "create", "--name", "Grafana", "--redirect-uri", "http://grafana.example.com/cb"); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("plain http to a remote host: %v", err)
	}
	out, err := runAdminIn(t, dir, "oidc-client", "create", "--name", "Grafana", "--redirect-uri", "https://grafana.example.com/login/generic_oauth", "--post-logout-redirect-uri", "https://grafana.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`client_id: (\S+)\nclient_secret: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create printed %q", out)
	}
	id, secret := m[1], m[2]
	pub, err := runAdminIn(t, dir, "oidc-client", "create", "--name", "SPA", "--redirect-uri", "http://127.0.0.1:5173/cb", "--public")
	if err != nil || strings.Contains(pub, "client_secret") {
		t.Fatalf("public client: %q %v", pub, err)
	}
	rotated, err := runAdminIn(t, dir, "oidc-client", "rotate-secret", id)
	if err != nil || !strings.HasPrefix(rotated, "client_secret: ") {
		t.Fatalf("rotate: %q %v", rotated, err)
	}
	newSecret := strings.TrimSpace(strings.TrimPrefix(rotated, "client_secret: "))
	if _, err := runAdminIn(t, dir, "oidc-client", "disable", "nobody"); err == nil {
		t.Fatal("disabling an unknown client succeeded")
	}
	var keys []string
	for range 2 {
		out, err := runAdminIn(t, dir, "oidc-keys", "rotate")
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, strings.TrimSpace(strings.TrimPrefix(out, "signing key: ")))
	}
	if _, err := runAdminIn(t, dir, "oidc-client", "disable", id); err != nil {
		t.Fatal(err)
	}
	list, err := runAdminIn(t, dir, "oidc-client", "list")
	if err != nil || !strings.Contains(list, id) || !strings.Contains(list, "disabled") || !strings.Contains(list, "public") {
		t.Fatalf("list: %q %v", list, err)
	}

	// The secrets are nowhere in the log; their hashes are.
	srv, err = start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	}()
	// While the server runs, it is the store's one writer: a command fails clearly.
	if _, err := runAdminIn(t, dir, "oidc-client", "list"); !errors.Is(err, sqlite.ErrInUse) || !strings.Contains(err.Error(), "stop it") {
		t.Fatalf("admin beside a running server: %v", err)
	}
	recs, err := srv.store.ReadAll(ctxT(t), eventstore.Start, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if bytes.Contains(r.Data, []byte(secret)) || bytes.Contains(r.Data, []byte(newSecret)) {
			t.Fatalf("event %s holds a client secret in the clear", r.Type)
		}
	}
	c, err := srv.App.OIDCClient(ctxT(t), id)
	if err != nil || !c.Disabled || c.CheckSecret(secret) || !c.CheckSecret(newSecret) {
		t.Fatalf("client after the commands: %+v %v", c, err)
	}
	cur, prev, err := srv.App.OIDCSigningKeys(ctxT(t))
	if err != nil || prev.KeyID != keys[0] || cur.KeyID != keys[1] {
		t.Fatalf("keys after two rotations: current %s previous %s, want %v: %v", cur.KeyID, prev.KeyID, keys, err)
	}
	if _, err := srv.App.OpenOIDCSigningKey(cur); err != nil {
		t.Fatalf("the keyring opens the sealed key: %v", err)
	}
}
