package main

import (
	"context"
	"log/slog"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
)

// TestSignOutIsInTheLog checks that a sign-out is a fact of the log, not of one process's
// memory: a copy of the signed-out cookie (a stolen one) is refused by the node that served
// the sign-out, and still after that node restarts, while a session that was not signed out
// lives on across the restart.
func TestSignOutIsInTheLog(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	startServer := func() (*server, string) {
		srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return srv, "http://" + srv.Addr()
	}
	stop := func(srv *server) {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(sctx); err != nil {
			t.Fatal(err)
		}
	}
	// copyOf is another client holding the same session cookie as b (cookies are not bound to
	// a port, so it holds for the restarted server too).
	copyOf := func(b *client.Client, base string) *client.Client {
		c := client.New(base)
		jar, _ := cookiejar.New(nil)
		u, _ := url.Parse(b.BaseURL)
		jar.SetCookies(u, b.HTTP.Jar.Cookies(u))
		c.HTTP.Jar, c.CSRFToken = jar, b.CSRFToken
		return c
	}

	srv, base := startServer()
	ada := client.New(base)
	if _, err := ada.Register(ctx, "ada@example.com", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	if res, err := ada.SignIn(ctx, "ada@example.com", "correct horse battery staple"); err != nil || res.Status != "signed_in" {
		t.Fatalf("sign in: %+v %v", res, err)
	}
	stolen := copyOf(ada, base)
	kept := client.New(base)
	if res, err := kept.SignIn(ctx, "ada@example.com", "correct horse battery staple"); err != nil || res.Status != "signed_in" {
		t.Fatalf("second sign in: %+v %v", res, err)
	}
	if err := ada.Delete(ctx, "/v1/session"); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	wantCode(t, stolen.Get(ctx, "/v1/session", nil), "unauthenticated")
	stop(srv)

	srv, base = startServer()
	defer stop(srv)
	wantCode(t, copyOf(stolen, base).Get(ctx, "/v1/session", nil), "unauthenticated")
	if err := copyOf(kept, base).Get(ctx, "/v1/session", nil); err != nil {
		t.Fatalf("a session that was not signed out, after the restart: %v", err)
	}
}
