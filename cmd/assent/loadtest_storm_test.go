package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/transport/httpapi"
)

// TestReconnectStormDeliversEveryPendingChallengeOnce: 500 device sockets (10 accounts of 50
// devices, seeded through the API: few accounts, as each costs password hashes) on a real
// node are dropped at once; each account signs in
// while its devices are away; the 500 sockets come back at 2,000 per second, and every device
// receives its account's pending challenge exactly once, and nothing else.
func TestReconnectStormDeliversEveryPendingChallengeOnce(t *testing.T) {
	t.Parallel()
	const accounts, perAccount = 10, 50
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	// The password checks of the seeding run in the server's process: at the worker's lowest
	// priority they would wait behind every other job of a busy machine, and the storm is not
	// about them.
	cfg.PasswordHashing = "inline"
	limits := httpapi.DefaultRateLimits()
	limits.EnrollmentPerIP = httpapi.Limit{PerMinute: 6000, Burst: 2 * perAccount} // an account's devices enroll from its address
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{limits: &limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	server := "http://" + srv.Addr()
	began := time.Now()
	st, err := seedLoad(ctx, server, accounts, perAccount, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d devices in %s", accounts*perAccount, time.Since(began))

	var mu sync.Mutex
	got := map[int]map[uuid.UUID]int{} // device -> challenge -> times received
	var closedByServer atomic.Int64
	h := newDeviceHolder(server, st.devices(), 0, true, func(p devicePush) {
		mu.Lock()
		defer mu.Unlock()
		if got[p.Device] == nil {
			got[p.Device] = map[uuid.UUID]int{}
		}
		got[p.Device][p.Challenge]++
	}, func(int, string) { closedByServer.Add(1) })
	t.Cleanup(h.drop)
	if err := h.connect(ctx, 0); err != nil {
		t.Fatal(err)
	}
	h.drop()

	// Every account signs in while its devices are away.
	want := map[int]uuid.UUID{} // device -> its account's pending challenge
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for k := range accounts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := clientFrom(server, accountAddr(k))
			r, err := whenNotBusy(ctx, func() (client.SignInResponse, error) { return c.SignIn(ctx, st.Accounts[k].Email, loadPassword) })
			if err != nil || r.Challenge == nil {
				t.Errorf("account %d: sign-in while its devices are away: %+v %v", k, r, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for j := range perAccount {
				want[k*perAccount+j] = r.Challenge.ID
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	mu.Lock()
	if len(got) != 0 {
		t.Fatalf("challenges reached devices that were away: %v", got)
	}
	mu.Unlock()

	began = time.Now()
	if err := h.connect(ctx, 2000); err != nil {
		t.Fatal(err)
	}
	n, first := h.Retries()
	t.Logf("reconnected %d sockets in %s; %d dials refused and retried (%s)", len(want), time.Since(began), n, first)
	arrived := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for d, id := range want {
			if got[d][id] > 0 {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(time.Minute); arrived() < len(want) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second) // a challenge sent twice comes right behind the first
	mu.Lock()
	defer mu.Unlock()
	if len(want) != accounts*perAccount {
		t.Fatalf("%d devices wait for a challenge, want %d", len(want), accounts*perAccount)
	}
	missing, extra := 0, 0
	for d, id := range want {
		switch n := got[d][id]; {
		case n == 0:
			missing++
		case n > 1:
			t.Errorf("device %d received its pending challenge %d times", d, n)
		}
		extra += len(got[d]) - min(1, got[d][id])
	}
	if missing > 0 || extra > 0 {
		t.Errorf("after the storm: %d devices lack their pending challenge, %d challenges went where none was pending", missing, extra)
	}
	if n := closedByServer.Load(); n > 0 {
		t.Errorf("the server closed %d sockets", n)
	}
	if n := srv.Hub.Connected(); n < accounts*perAccount {
		t.Errorf("the hub holds %d sockets after the storm, want %d", n, accounts*perAccount)
	}
}
