package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
)

// stormResult is what a reconnect storm measured.
type stormResult struct {
	signIns, refused          int
	firstRefusal              string
	expected, received, twice int
	reconnected, delivered    time.Duration // from the storm's start
	retries                   int           // dials refused (too many waiting, say) and retried
	firstRetry                string
}

// runStorm drops every device socket at once, signs in o.StormSignIns times while the devices
// are away (each challenge pending for the account's devices), then opens the sockets again
// at o.StormRate per second and waits until every pending challenge has reached every one of
// its devices, at most 30 s after the sockets are back.
func runStorm(ctx context.Context, o loadOptions, st *loadState, accounts int, f *fleet, w io.Writer) (stormResult, error) {
	var res stormResult
	if err := f.command(ctx, "drop"); err != nil {
		return res, err
	}
	retriesBefore, _ := f.retried()

	// The sign-ins while the devices are away, a few at a time (each is a password check).
	expect := map[uuid.UUID][]int{} // challenge -> the devices it waits for
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for n := range o.StormSignIns {
		k := n % accounts
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := clientFrom(o.Server, accountAddr(k))
			r, err := whenNotBusy(ctx, func() (client.SignInResponse, error) { return c.SignIn(ctx, st.Accounts[k].Email, loadPassword) })
			mu.Lock()
			defer mu.Unlock()
			res.signIns++
			if err != nil || r.Challenge == nil {
				res.refused++
				if res.firstRefusal == "" {
					res.firstRefusal = fmt.Sprintf("%s %v", r.Status, err)
				}
				return
			}
			for j := range o.PerAccount {
				expect[r.Challenge.ID] = append(expect[r.Challenge.ID], k*o.PerAccount+j)
			}
		}()
	}
	wg.Wait()
	for _, devs := range expect {
		res.expected += len(devs)
	}
	fmt.Fprintf(w, "storm: %d sockets dropped; %d sign-ins while they were away (%d refused), %d pushes pending\n",
		o.Devices, res.signIns, res.refused, res.expected)

	started := time.Now()
	per := o.StormRate / float64(len(f.cmds))
	if err := f.command(ctx, fmt.Sprintf("connect %g", per)); err != nil {
		return res, err
	}
	res.reconnected = time.Since(started)
	n, first := f.retried()
	res.retries, res.firstRetry = n-retriesBefore, first
	count := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		got := 0
		for id, devs := range expect {
			for _, d := range devs {
				if _, ok := f.arrivals[id][d]; ok {
					got++
				}
			}
		}
		return got
	}
	deadline := time.Now().Add(30 * time.Second)
	for res.received = count(); res.received < res.expected && time.Now().Before(deadline); res.received = count() {
		time.Sleep(10 * time.Millisecond)
	}
	res.delivered = time.Since(started)
	time.Sleep(time.Second) // a push sent twice would come right after the first
	f.mu.Lock()
	for id, devs := range expect {
		for _, d := range devs {
			res.twice += max(0, f.times[arrival{id, d}]-1)
		}
	}
	f.mu.Unlock()
	return res, nil
}
