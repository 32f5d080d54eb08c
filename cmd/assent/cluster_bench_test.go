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
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
	"github.com/assent-dev/assent/transport/httpapi"
)

// BenchmarkClusterPushLatency measures, for one account with one phone, (a) from a sign-in's
// challenge appended to the phone having it, and (b) from the phone's approval sent to the
// login page's long-poll returning "approved":
//
//   - embedded: one node on the SQLite store, the phone and the page on it;
//   - postgres: two nodes on one PostgreSQL database, the phone on node A, the sign-in and the
//     login page on node B, so that both paths cross the database.
//
// It prints p50 and p99 of both; b.N is the number of sign-ins.
func BenchmarkClusterPushLatency(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		cfg := config.Defaults()
		cfg.DataDir, cfg.Listen = b.TempDir(), "127.0.0.1:0"
		n := benchNode(b, cfg)
		benchPush(b, n, n)
	})
	b.Run("postgres", func(b *testing.B) {
		dsn := pgtest.Database(b)
		keys := "k1:" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		nodes := make([]*server, 2)
		for i := range nodes {
			cfg := config.Defaults()
			cfg.DataDir, cfg.Listen, cfg.Postgres, cfg.SecretKeys = b.TempDir(), "127.0.0.1:0", dsn, keys
			nodes[i] = benchNode(b, cfg)
		}
		benchPush(b, nodes[0], nodes[1])
	})
}

func benchNode(b *testing.B, cfg config.Config) *server {
	b.Helper()
	srv, err := start(context.Background(), cfg, slog.New(slog.DiscardHandler), startOptions{limits: &httpapi.RateLimits{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Stop(context.Background()) })
	return srv
}

// benchPush links a phone on device's node, signs in on page's node b.N times, and reports the
// latencies.
func benchPush(b *testing.B, device, page *server) {
	ctx := context.Background()
	const email = "bench@example.com"
	acct, err := page.App.Register(ctx, email, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	token, _, err := page.App.StartEnrollment(ctx, acct)
	if err != nil {
		b.Fatal(err)
	}
	d, _ := client.NewDevice("bench", "bench")
	if _, err := client.New("http://"+page.Addr()).Enroll(ctx, d, token); err != nil {
		b.Fatal(err)
	}
	requests := make(chan client.Request, 4)
	arrived := make(chan time.Time, 4)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var sock *client.Socket
	for {
		got := make(chan int, 1)
		sock = client.NewSocket(d, "http://"+device.Addr(), client.Handlers{
			Ready:   func(a []uuid.UUID) { got <- len(a) },
			Request: func(r client.Request) { arrived <- time.Now(); requests <- r },
		})
		sctx, scancel := context.WithCancel(runCtx)
		defer scancel()
		go sock.Run(sctx)
		if <-got == 1 {
			break
		}
		scancel() // the device's node has not learnt of the link yet
		time.Sleep(20 * time.Millisecond)
	}
	var pushLat, resultLat []time.Duration
	b.ResetTimer()
	for range b.N {
		res, err := page.App.SignIn(ctx, email, "correct horse battery staple", domain.LoginContext{UserAgent: "bench", IP: "127.0.0.1", At: time.Now().UTC().Truncate(time.Second)})
		appended := time.Now()
		if err != nil || res.Challenge == nil {
			b.Fatalf("sign in: %+v %v", res, err)
		}
		var r client.Request
		for r.ID != res.Challenge.ID {
			select {
			case at := <-arrived:
				r = <-requests
				if r.ID == res.Challenge.ID {
					pushLat = append(pushLat, at.Sub(appended))
				}
			case <-time.After(30 * time.Second):
				b.Fatal("the challenge never reached the phone")
			}
		}
		browser := client.New("http://" + page.Addr())
		done := make(chan time.Time, 1)
		go func() {
			st, err := browser.AwaitLogin(ctx, r.ID, page.Sessions.LoginToken(r.ID))
			if err != nil || st.Status != "approved" {
				b.Errorf("await: %+v %v", st, err)
			}
			done <- time.Now()
		}()
		time.Sleep(2 * time.Millisecond) // let the page's request reach the server and wait
		sent := time.Now()
		if err := sock.Answer(ctx, r, domain.AnswerApprove, res.Challenge.Number); err != nil {
			b.Fatal(err)
		}
		resultLat = append(resultLat, (<-done).Sub(sent))
	}
	b.StopTimer()
	report := func(name string, ds []time.Duration) {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	report("push", pushLat)
	report("result", resultLat)
}
