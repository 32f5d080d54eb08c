package main

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
)

// startPostgresNode starts a node on the shared PostgreSQL log, with the deployment's keys and
// a data directory of its own.
func startPostgresNode(t *testing.T, dsn, keys string) *node {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen, cfg.SecretKeys, cfg.Postgres = t.TempDir(), "127.0.0.1:0", keys, dsn
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &node{t: t, srv: srv, url: "http://" + srv.Addr(), rec: &recorder{}}
}

// waitForDevice waits until node n's read models know device d linked to account a, as they
// learn it from the log that another node appended to.
func waitForDevice(t *testing.T, ctx context.Context, n *node, d, a uuid.UUID) {
	t.Helper()
	for {
		v, err := n.srv.App.Device(ctx, d)
		if err == nil && slices.Contains(v.Accounts, a) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node %s never learnt of device %s: %v", n.url, d, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Two nodes on one PostgreSQL database: an account is made and its phone linked through node
// B, the phone holds its socket on node A, and a sign-in on node B is pushed to the phone on
// node A, which answers through node A; the login page waiting on node B moves on, and one
// waiting on node A with the same login token sees the same outcome.
func TestClusterDeviceOnOneNodeSignInOnAnother(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	keys := newSecretKey(t, "k1")
	a, b := startPostgresNode(t, dsn, keys), startPostgresNode(t, dsn, keys)
	ctx := ctxT(t)

	browser := b.account(t, "ada@example.com")
	p := newPhone(t, "ada's phone")
	res := link(t, b, browser, p)
	waitForDevice(t, ctx, a, res.DeviceID, res.AccountID)
	p.connect(t, a)

	page, si := signIn(t, b, "ada@example.com")
	r := recv(t, p.requests, "the challenge node B issued, on the phone connected to node A")
	if r.ID != si.Challenge.ID {
		t.Fatalf("the phone got challenge %s, want %s", r.ID, si.Challenge.ID)
	}
	onB, onA := make(chan client.LoginStatus, 1), make(chan client.LoginStatus, 1)
	go func() {
		st, err := page.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken)
		if err != nil {
			t.Error(err)
		}
		onB <- st
	}()
	go func() {
		st, err := a.client().AwaitLogin(ctx, si.Challenge.ID, si.LoginToken)
		if err != nil {
			t.Error(err)
		}
		onA <- st
	}()
	if err := p.sock.Answer(ctx, r, "approve", number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	if st := recv(t, onB, "the outcome on node B's login page"); st.Status != "approved" {
		t.Fatalf("node B's login page got %+v", st)
	}
	if st := recv(t, onA, "the outcome on node A"); st.Status != "approved" {
		t.Fatalf("node A got %+v", st)
	}
	if err := page.RedeemLogin(ctx, si.Challenge.ID, si.LoginToken); err != nil {
		t.Fatal(err)
	}
	none(t, p.requests, "second delivery of the challenge")
}
