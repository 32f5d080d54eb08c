package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"syscall"
	"testing"
	"time"

	duo "github.com/duosecurity/duo_api_golang"
	"github.com/duosecurity/duo_api_golang/authapi"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
	"github.com/assent-dev/assent/config"
	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/transport/httpapi"
)

// BenchmarkDuoRoundTrip measures the integration round trip over the Auth API: auth with
// async=1 -> the device has the push and approves it -> auth_status answers allow, with 1,000
// integration users, each with a device socket connected, and 16 callers at once, each with
// Duo's official Go client over TLS (the server's own, --tls-cert). No password check is in
// this path. Every round trip appends the challenge, its receipt and the approval durably
// before auth_status answers. It prints p50 and p99 of a round trip and round trips per
// second; b.N is the number of round trips.
func BenchmarkDuoRoundTrip(b *testing.B) {
	const users, callers = 1000, 16
	dir := b.TempDir()
	ca := newTestCA(b)
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.issue(b, "auth.test", 2, certPath, keyPath)
	cfg := config.Defaults()
	cfg.DataDir, cfg.Listen, cfg.TLSCert, cfg.TLSKey = filepath.Join(dir, "data"), "127.0.0.1:0", certPath, keyPath
	ctx := context.Background()
	srv, err := start(ctx, cfg, slog.New(slog.DiscardHandler), startOptions{limits: &httpapi.RateLimits{}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop(ctx)
	svc := srv.App
	k, err := svc.CreateIntegration(ctx, "Bench")
	if err != nil {
		b.Fatal(err)
	}
	// Devices reach the server over TLS too, trusting the CA through the default transport of
	// this process (the client package has no option for a private CA).
	http.DefaultTransport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: ca.pool, ServerName: "auth.test"}
	base := "https://" + srv.Addr()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	names := make([]string, users)
	for u := range users {
		names[u] = fmt.Sprintf("user-%d", u)
		en, err := svc.EnrollIntegrationUser(ctx, k.Key, names[u], time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		d, _ := client.NewDevice("bench", "bench")
		if _, err := client.New(base).Enroll(ctx, d, en.Token); err != nil {
			b.Fatal(err)
		}
		ready := make(chan struct{}, 1)
		var sock *client.Socket
		sock = client.NewSocket(d, base, client.Handlers{
			Ready: func([]uuid.UUID) { ready <- struct{}{} },
			// The person approves as soon as the push is shown.
			Request: func(r client.Request) { go sock.Answer(runCtx, r, domain.AnswerApprove, 0) },
		})
		wg.Add(1)
		go func() { defer wg.Done(); sock.Run(runCtx) }()
		<-ready
	}
	b.Logf("%d device sockets connected", srv.Hub.Connected())

	_, port, _ := net.SplitHostPort(srv.Addr())
	apis := make([]*authapi.AuthApi, callers)
	for i := range apis {
		tr := &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: ca.pool},
			MaxIdleConnsPerHost: 4,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, srv.Addr())
			},
		}
		c := duo.NewDuoApi(k.Key.String(), k.Secret, "auth.test:"+port, "bench")
		c.SetCustomHTTPClient(&http.Client{Transport: tr})
		apis[i] = authapi.NewAuthApi(*c)
	}

	lat := make([][]time.Duration, callers)
	stopProfile := profileTimed(b)
	cpu0 := processCPU(b)
	b.ResetTimer()
	began := time.Now()
	var cw sync.WaitGroup
	for w := range callers {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for i := w; i < b.N; i += callers {
				t0 := time.Now()
				a, err := apis[w].Auth("push", authapi.AuthUsername(names[i%users]), authapi.AuthAsync())
				if err != nil || a.Stat != "OK" {
					b.Errorf("auth: %+v %v", a, err)
					return
				}
				st, err := apis[w].AuthStatus(a.Response.Txid)
				for err == nil && st.Stat == "OK" && st.Response.Result == "waiting" {
					st, err = apis[w].AuthStatus(a.Response.Txid)
				}
				if err != nil || st.Response.Result != "allow" {
					b.Errorf("auth_status: %+v %v", st, err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	cw.Wait()
	elapsed := time.Since(began)
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	stopProfile()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	report(b, "roundtrip", all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "roundtrips/s")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(max(len(all), 1)), "cpu-ms/roundtrip")
	b.Logf("%d round trips in %v: %.0f/s with %d callers; %.2f ms of CPU each (server and clients, one process)",
		len(all), elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds(), callers, float64(cpu.Microseconds())/1000/float64(max(len(all), 1)))
	cancel()
	wg.Wait()
}

// processCPU returns the CPU time this process has used, user and system: on a machine
// shared with other work, the CPU a round trip costs moves far less from run to run than
// round trips per second do.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profileTimed writes a CPU profile of the timed part of a benchmark alone (not its setup) to
// the file named by ASSENT_BENCH_CPUPROFILE, when it is set; the function it returns stops it.
func profileTimed(b *testing.B) func() {
	path := os.Getenv("ASSENT_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}
