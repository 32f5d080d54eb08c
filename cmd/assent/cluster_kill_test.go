package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
)

// process is an `assent serve` process on the shared PostgreSQL log.
type process struct {
	*node
	cmd *exec.Cmd
}

// startServeProcess runs the built binary as a node and waits until it listens.
func startServeProcess(t *testing.T, bin, dsn, keys string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "ASSENT_LOG_FORMAT=json", "ASSENT_POSTGRES="+dsn, "ASSENT_SECRET_KEYS="+keys)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "listening" {
				addr <- rec["addr"].(string)
			}
		}
	}()
	select {
	case a := <-addr:
		return &process{node: &node{t: t, url: a, rec: &recorder{}}, cmd: cmd}
	case <-time.After(60 * time.Second):
		t.Fatal("the node never listened")
		return nil
	}
}

// socketOn holds a socket of dev on n until its Ready lists every account of want (the node
// learns of links from the log, a moment after the node that linked them).
func socketOn(t *testing.T, n *node, dev *client.Device, want []uuid.UUID) *phone {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := &phone{dev: dev}
		p.requests = make(chan client.Request, 16)
		p.outcomes = make(chan client.Outcome, 16)
		ready := make(chan []uuid.UUID, 16)
		p.sock = client.NewSocket(dev, n.url, client.Handlers{
			Ready:   func(a []uuid.UUID) { ready <- a },
			Request: func(r client.Request) { p.requests <- r },
			Outcome: func(o client.Outcome) { p.outcomes <- o },
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.sock.Run(ctx) }()
		got := recv(t, ready, "ready")
		if !slices.ContainsFunc(want, func(a uuid.UUID) bool { return !slices.Contains(got, a) }) {
			t.Cleanup(func() { cancel(); <-done })
			return p
		}
		cancel()
		<-done
		if time.Now().After(deadline) {
			t.Fatalf("node %s lists %v, want %v", n.url, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Three `assent serve` processes on one database. A phone linked to three accounts holds its
// socket on node A and gets a challenge issued on node B; node A is killed with SIGKILL, and
// two more challenges are issued on nodes B and C while the phone is away. The phone reconnects
// to node B: it gets the three pending challenges, each once, answers them through node B, and
// the login pages waiting on nodes B and C move on.
func TestClusterNodeKilledDevicesReconnectElsewhere(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	keys := newSecretKey(t, "k1")
	bin := buildBinary(t)
	a, b, c := startServeProcess(t, bin, dsn, keys), startServeProcess(t, bin, dsn, keys), startServeProcess(t, bin, dsn, keys)
	ctx := ctxT(t)

	dev, err := client.NewDevice("phone", "test")
	if err != nil {
		t.Fatal(err)
	}
	emails := []string{"one@example.com", "two@example.com", "three@example.com"}
	var accounts []uuid.UUID
	for _, email := range emails {
		browser := b.account(t, email)
		res := link(t, b.node, browser, &phone{dev: dev})
		accounts = append(accounts, res.AccountID)
	}
	onA := socketOn(t, a.node, dev, accounts)

	type login struct {
		page *client.Client
		si   client.SignInResponse
	}
	var logins []login
	page, si := signIn(t, b.node, emails[0])
	logins = append(logins, login{page, si})
	if r := recv(t, onA.requests, "the first challenge on node A"); r.ID != si.Challenge.ID {
		t.Fatalf("node A pushed %s, want %s", r.ID, si.Challenge.ID)
	}

	if err := a.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, the socket just drops
		t.Fatal(err)
	}
	for i, n := range []*process{b, c} {
		page, si := signIn(t, n.node, emails[i+1])
		logins = append(logins, login{page, si})
	}

	onB := socketOn(t, b.node, dev, accounts)
	got := map[uuid.UUID]client.Request{}
	for range logins {
		r := recv(t, onB.requests, "a pending challenge after the reconnection")
		if _, twice := got[r.ID]; twice {
			t.Fatalf("challenge %s delivered twice", r.ID)
		}
		got[r.ID] = r
	}
	none(t, onB.requests, "a further delivery")
	for _, l := range logins {
		r, ok := got[l.si.Challenge.ID]
		if !ok {
			t.Fatalf("challenge %s was lost; got %v", l.si.Challenge.ID, got)
		}
		if err := onB.sock.Answer(ctx, r, domain.AnswerApprove, number(t, l.si.Challenge)); err != nil {
			t.Fatal(err)
		}
		st, err := l.page.AwaitLogin(ctx, l.si.Challenge.ID, l.si.LoginToken)
		if err != nil || st.Status != "approved" {
			t.Fatalf("login page: %+v %v", st, err)
		}
	}
}
