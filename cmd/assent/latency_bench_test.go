package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/httpapi"
)

// BenchmarkPushLatency measures, with 1,000 device sockets connected to a real server on
// loopback over the SQLite store:
//
//	(a) challenge appended -> a device has it: from SignIn's return (it returns once the
//	    challenge is appended) to each of the account's devices receiving it on its socket;
//	(b) device answers -> login stream has it: from the device sending its signed approval to
//	    the login page's long-poll returning "approved"; and, as a part of it, until the device
//	    has the server's verdict (the approval is durable in the log).
//
// The 1,000 devices are spread over 250 accounts (4 each, a household's worth), so each
// challenge fans out to 4 sockets, which all acknowledge it; the answer is sent once the four
// receipts are recorded, as a person answers after reading. It prints p50 and p99 of both;
// b.N is the number of sign-ins.
func BenchmarkPushLatency(b *testing.B) {
	const accounts, perAccount = 250, 4
	cfg := config.Defaults()
	cfg.DataDir = b.TempDir()
	cfg.Listen = "127.0.0.1:0"
	ctx := context.Background()
	srv, err := start(ctx, cfg, slog.New(slog.DiscardHandler), startOptions{limits: &httpapi.RateLimits{}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop(ctx)
	base := "http://" + srv.Addr()
	svc := srv.App

	type arrival struct {
		challenge uuid.UUID
		at        time.Time
	}
	arrivals := make(chan arrival, accounts*perAccount*4)
	var phones [accounts][]*client.Socket
	var devices [accounts][]*client.Device
	var mu sync.Mutex
	requests := map[uuid.UUID]client.Request{}
	emails := make([]string, accounts)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for a := range accounts {
		emails[a] = fmt.Sprintf("bench-%d@example.com", a)
		acct, err := svc.Register(ctx, emails[a], "correct horse battery staple")
		if err != nil {
			b.Fatal(err)
		}
		for range perAccount {
			token, _, err := svc.StartEnrollment(ctx, acct)
			if err != nil {
				b.Fatal(err)
			}
			d, _ := client.NewDevice("bench", "bench")
			if _, err := client.New(base).Enroll(ctx, d, token); err != nil {
				b.Fatal(err)
			}
			ready := make(chan struct{}, 1)
			s := client.NewSocket(d, base, client.Handlers{
				Ready: func([]uuid.UUID) { ready <- struct{}{} },
				Request: func(r client.Request) {
					mu.Lock()
					requests[r.ID] = r
					mu.Unlock()
					arrivals <- arrival{r.ID, time.Now()}
				},
			})
			wg.Add(1)
			go func() { defer wg.Done(); s.Run(runCtx) }()
			<-ready
			phones[a] = append(phones[a], s)
			devices[a] = append(devices[a], d)
		}
	}
	b.Logf("%d device sockets connected", srv.Hub.Connected())

	var pushLat, answerLat, resultLat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		a := i % accounts
		res, err := svc.SignIn(ctx, emails[a], "correct horse battery staple", domain.LoginContext{UserAgent: "bench", IP: "127.0.0.1", At: time.Now().UTC().Truncate(time.Second)})
		appended := time.Now()
		if err != nil || res.Challenge == nil {
			b.Fatalf("sign in: %+v %v", res, err)
		}
		id := res.Challenge.ID
		for got := 0; got < perAccount; {
			select {
			case ar := <-arrivals:
				if ar.challenge == id {
					pushLat = append(pushLat, ar.at.Sub(appended))
					got++
				}
			case <-time.After(30 * time.Second):
				b.Fatalf("challenge %d reached %d of %d devices", i, got, perAccount)
			}
		}
		mu.Lock()
		r := requests[id]
		mu.Unlock()
		// A person reads the request before answering: let the devices' delivery receipts land
		// first, so that (b) measures the answer, not a race with the receipts.
		for {
			st, err := svc.ChallengeStatus(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if len(st.Delivered) == perAccount {
				break
			}
			time.Sleep(time.Millisecond)
		}
		browser := client.New(base)
		token := srv.Sessions.LoginToken(id)
		done := make(chan time.Time, 1)
		go func() {
			st, err := browser.AwaitLogin(ctx, id, token)
			if err != nil || st.Status != "approved" {
				b.Errorf("await: %+v %v", st, err)
			}
			done <- time.Now()
		}()
		time.Sleep(2 * time.Millisecond) // let the page's request reach the server and wait
		sent := time.Now()
		if err := phones[a][i%perAccount].Answer(ctx, r, domain.AnswerApprove, res.Challenge.Number); err != nil {
			b.Fatal(err)
		}
		resultLat = append(resultLat, time.Since(sent))
		answerLat = append(answerLat, (<-done).Sub(sent))
	}
	b.StopTimer()
	report(b, "push", pushLat)
	report(b, "answer", answerLat)
	report(b, "answer-recorded", resultLat)
	cancel()
	wg.Wait()
}

func report(b *testing.B, name string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(p(0.50).Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, name+"-p99-ms")
	b.Logf("%s: n=%d p50=%v p99=%v max=%v", name, len(lat), p(0.50), p(0.99), lat[len(lat)-1])
}
