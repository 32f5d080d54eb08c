package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/app"
	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
)

// startPostgresNode starts a node on the shared PostgreSQL log, with the deployment's keys and
// a data directory of its own.
func startPostgresNode(t *testing.T, dsn, keys string, tune ...func(*app.Config)) *node {
	t.Helper()
	var opts startOptions
	if len(tune) > 0 {
		opts.tuneApp = tune[0]
	}
	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen, cfg.SecretKeys, cfg.Postgres = t.TempDir(), "127.0.0.1:0", keys, dsn
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), opts)
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

// Nodes on one PostgreSQL database: an account is made and its phone linked through node B,
// the phone holds its socket on node A, and a sign-in on node B is pushed to the phone on node
// A, which answers through node A; the login page waiting on node B moves on, and one waiting
// on node A with the same login token sees the same outcome. A second sign-in on node B is
// answered through node C (the HTTP answer route), and node B's page moves on again.
func TestClusterDeviceOnOneNodeSignInOnAnother(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	keys := newSecretKey(t, "k1")
	a, b, c := startPostgresNode(t, dsn, keys), startPostgresNode(t, dsn, keys), startPostgresNode(t, dsn, keys)
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
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
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

	page, si = signIn(t, b, "ada@example.com")
	r = recv(t, p.requests, "the second challenge on the phone")
	if r.ID != si.Challenge.ID {
		t.Fatalf("the phone got challenge %s, want %s", r.ID, si.Challenge.ID)
	}
	waitForDevice(t, ctx, c, res.DeviceID, res.AccountID)
	go func() {
		st, err := page.AwaitLogin(ctx, si.Challenge.ID, si.LoginToken)
		if err != nil {
			t.Error(err)
		}
		onB <- st
	}()
	if err := c.client().AnswerHTTP(ctx, p.dev, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatalf("answer through node C: %v", err)
	}
	if st := recv(t, onB, "the outcome on node B's login page"); st.Status != "approved" {
		t.Fatalf("node B's login page got %+v after the answer through node C", st)
	}
}

// decisions returns the types of the events of a challenge's stream that decide it.
func decisions(t *testing.T, ctx context.Context, n *node, id uuid.UUID) []string {
	t.Helper()
	evs, err := n.srv.store.ReadStream(ctx, domain.ChallengeStream(id), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		switch ev.Type {
		case "challenge.approved", "challenge.denied", "challenge.fraud.reported", "challenge.expired":
			out = append(out, ev.Type)
		}
	}
	return out
}

// Three nodes, one phone holding a socket on each: 32 answers to one challenge race, spread
// over the three nodes, approvals and denials mixed. Exactly one wins, and the challenge's
// stream holds exactly one decision.
func TestClusterRacingAnswersOneWins(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	keys := newSecretKey(t, "k1")
	nodes := []*node{startPostgresNode(t, dsn, keys), startPostgresNode(t, dsn, keys), startPostgresNode(t, dsn, keys)}
	ctx := ctxT(t)
	browser := nodes[0].account(t, "race@example.com")
	p := newPhone(t, "phone")
	res := link(t, nodes[0], browser, p)
	socks := make([]*phone, len(nodes))
	for i, n := range nodes {
		waitForDevice(t, ctx, n, res.DeviceID, res.AccountID)
		socks[i] = &phone{dev: p.dev}
		socks[i].connect(t, n)
	}
	_, si := signIn(t, nodes[1], "race@example.com")
	reqs := make([]client.Request, len(nodes))
	for i := range socks {
		reqs[i] = recv(t, socks[i].requests, "the challenge on the socket of each node")
	}
	const answers = 32
	var wg sync.WaitGroup
	errs := make([]error, answers)
	start := make(chan struct{})
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answer, num := domain.AnswerApprove, number(t, si.Challenge)
			if i%2 == 1 {
				answer, num = domain.AnswerDeny, 0 // a denial carries no number
			}
			errs[i] = socks[i%len(nodes)].sock.Answer(ctx, reqs[i%len(nodes)], answer, num)
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d answers won, want exactly one; errors: %v", won, errs)
	}
	for _, err := range errs {
		var e *client.Error
		if err != nil && (!errors.As(err, &e) || (e.Code != "challenge_decided" && e.Code != "rate_limited")) {
			t.Errorf("a losing answer got %v, want challenge_decided (or rate_limited)", err)
		}
	}
	if got := decisions(t, ctx, nodes[2], si.Challenge.ID); len(got) != 1 {
		t.Fatalf("the challenge's stream holds the decisions %v, want one", got)
	}
}

// Every node runs the expiry sweep. Three nodes whose clocks pass a challenge's expiry, each
// also expiring at once by hand, write one challenge.expired between them, and none fails.
func TestClusterExpiryWrittenOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	keys := newSecretKey(t, "k1")
	clock := &testClock{now: time.Now()}
	tune := func(c *app.Config) { c.Clock = clock.Now }
	nodes := []*node{startPostgresNode(t, dsn, keys, tune), startPostgresNode(t, dsn, keys, tune), startPostgresNode(t, dsn, keys, tune)}
	ctx := ctxT(t)
	browser := nodes[0].account(t, "expiry@example.com")
	p := newPhone(t, "phone")
	res := link(t, nodes[0], browser, p)
	_, si := signIn(t, nodes[0], "expiry@example.com")
	for _, n := range nodes {
		waitForDevice(t, ctx, n, res.DeviceID, res.AccountID)
		for {
			if _, err := n.srv.App.ChallengeStatus(ctx, si.Challenge.ID); err == nil {
				break
			} else if ctx.Err() != nil {
				t.Fatalf("node %s never learnt of the challenge: %v", n.url, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	clock.Advance(3 * time.Minute)
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := n.srv.App.ExpireDueChallenges(ctx); err != nil {
				t.Errorf("expire on %s: %v", n.url, err)
			}
		}()
	}
	wg.Wait()
	// Let the sweepers (every second) run too.
	time.Sleep(1500 * time.Millisecond)
	if got := decisions(t, ctx, nodes[1], si.Challenge.ID); len(got) != 1 || got[0] != "challenge.expired" {
		t.Fatalf("the challenge's stream holds the decisions %v, want one challenge.expired", got)
	}
}

// The lockout is counted in the account's stream, so it holds for the deployment: ten wrong
// passwords spread over three nodes (three or four on each, under every node's own rate
// limits) lock the second factor, and the right password is then refused on every node.
func TestClusterLockoutAcrossNodes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	keys := newSecretKey(t, "k1")
	nodes := []*node{startPostgresNode(t, dsn, keys), startPostgresNode(t, dsn, keys), startPostgresNode(t, dsn, keys)}
	ctx := ctxT(t)
	browser := nodes[0].account(t, "locked@example.com")
	p := newPhone(t, "phone")
	res := link(t, nodes[0], browser, p)
	for _, n := range nodes {
		waitForDevice(t, ctx, n, res.DeviceID, res.AccountID)
	}
	for i := range 10 {
		_, err := nodes[(i+1)%len(nodes)].client().SignIn(ctx, "locked@example.com", "not the password")
		wantCode(t, err, "wrong_credentials")
	}
	for _, n := range nodes {
		_, err := n.client().SignIn(ctx, "locked@example.com", "correct horse battery staple")
		wantCode(t, err, "locked")
	}
}

// A login page that the proxy sends to another node than the one that issued its challenge
// finds it there, even while that node's read models cannot have it yet: a transaction held
// open elsewhere on the server keeps the new events above the readers' horizon for 400 ms.
// Node A looks the unknown challenge up in the log and waits for its read models, instead of
// answering 404 challenge_not_found; the page then sees the approval.
func TestClusterLoginPageOnAnotherNodeFindsNewChallenge(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	keys := newSecretKey(t, "k1")
	a, b := startPostgresNode(t, dsn, keys), startPostgresNode(t, dsn, keys)
	ctx := ctxT(t)
	browser := b.account(t, "page@example.com")
	p := newPhone(t, "phone")
	res := link(t, b, browser, p)
	waitForDevice(t, ctx, a, res.DeviceID, res.AccountID)
	p.connect(t, b)

	tx := pgtest.HoldTransaction(t, ctx, dsn)
	released := make(chan error, 1)
	go func() {
		time.Sleep(400 * time.Millisecond)
		released <- tx.Rollback(context.Background())
	}()

	_, si := signIn(t, b, "page@example.com")
	onA := make(chan client.LoginStatus, 1)
	go func() {
		st, err := a.client().AwaitLogin(ctx, si.Challenge.ID, si.LoginToken)
		if err != nil {
			t.Errorf("the login page on node A: %v", err)
		}
		onA <- st
	}()
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	r := recv(t, p.requests, "the challenge on the phone")
	if err := p.sock.Answer(ctx, r, domain.AnswerApprove, number(t, si.Challenge)); err != nil {
		t.Fatal(err)
	}
	if st := recv(t, onA, "the outcome on node A"); st.Status != "approved" {
		t.Fatalf("node A's login page got %+v", st)
	}
}
