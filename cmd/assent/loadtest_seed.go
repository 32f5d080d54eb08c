package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/client"
)

// loadPassword is the password of every account the load test makes.
const loadPassword = "correct horse battery staple"

// loadState is what the load test seeded on a server: written once, used by later runs
// against the same data directory.
type loadState struct {
	Server   string        `json:"server"`
	Accounts []loadAccount `json:"accounts"`
}

type loadAccount struct {
	Email   string         `json:"email"`
	Devices []seededDevice `json:"devices"`
}

// devices lists every seeded device, account by account.
func (s *loadState) devices() []seededDevice {
	var out []seededDevice
	for _, a := range s.Accounts {
		out = append(out, a.Devices...)
	}
	return out
}

func loadLoadState(path string) (*loadState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s loadState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("loadtest: %s is not a load test state file: %w", path, err)
	}
	return &s, nil
}

func (s *loadState) save(path string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600) // the devices' keys
}

// clientFrom returns an API client whose requests leave from the loopback address src and
// keep no idle connection.
func clientFrom(server string, src net.IP) *client.Client {
	c := client.New(server)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 30 * time.Second}
	c.HTTP.Transport = &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}
	return c
}

// seedLoad registers accounts accounts with perAccount devices each through the public API:
// sign-up, sign-in, an enrollment link from the security page and the device's enrollment,
// each account from its own loopback address. The devices' IDs and keys are returned.
func seedLoad(ctx context.Context, server string, accounts, perAccount int, progress func(done int)) (*loadState, error) {
	st := &loadState{Server: server, Accounts: make([]loadAccount, accounts)}
	stamp := time.Now().UTC().Format("20060102150405")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	done := 0
	sem := make(chan struct{}, 8)
	for k := range accounts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a, err := seedAccount(ctx, server, k, fmt.Sprintf("load-%s-%d@example.com", stamp, k), perAccount)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("account %d: %w", k, err))
				return
			}
			st.Accounts[k] = a
			done++
			if progress != nil && done%100 == 0 {
				progress(done)
			}
		}()
		mu.Lock()
		failed := len(errs) > 0
		mu.Unlock()
		if failed {
			break
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return st, nil
}

// whenNotBusy runs a request that checks a password until the server is not too busy to check
// it (503 busy, which tells a person to try again), for a minute at most: the seeding and the
// storm's sign-ins are not what the load test measures.
func whenNotBusy[T any](ctx context.Context, f func() (T, error)) (T, error) {
	return backoff.Retry(ctx, func() (T, error) {
		v, err := f()
		if ce := (*client.Error)(nil); err != nil && !(errors.As(err, &ce) && ce.Code == "busy") {
			return v, backoff.Permanent(err)
		}
		return v, err
	}, backoff.WithBackOff(backoff.NewExponentialBackOff()), backoff.WithMaxElapsedTime(time.Minute))
}

func seedAccount(ctx context.Context, server string, k int, email string, perAccount int) (loadAccount, error) {
	a := loadAccount{Email: email}
	b := clientFrom(server, accountAddr(k))
	if _, err := whenNotBusy(ctx, func() (uuid.UUID, error) { return b.Register(ctx, email, loadPassword) }); err != nil {
		return a, fmt.Errorf("sign up: %w", err)
	}
	if res, err := whenNotBusy(ctx, func() (client.SignInResponse, error) { return b.SignIn(ctx, email, loadPassword) }); err != nil || res.Status != "signed_in" {
		return a, fmt.Errorf("sign in: %s %w", res.Status, err)
	}
	for range perAccount {
		var e struct {
			Link string `json:"link"`
		}
		if err := b.Post(ctx, "/v1/security/enrollments", nil, &e); err != nil {
			return a, fmt.Errorf("enrollment link: %w", err)
		}
		_, token, err := client.ParseEnrollmentLink(e.Link)
		if err != nil {
			return a, err
		}
		seed := make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		d := &client.Device{Name: "load", Platform: "loadtest", PrivateKey: ed25519.NewKeyFromSeed(seed)}
		if _, err := clientFrom(server, accountAddr(k)).Enroll(ctx, d, token); err != nil {
			return a, fmt.Errorf("enroll: %w", err)
		}
		a.Devices = append(a.Devices, seededDevice{ID: d.ID, Seed: seed, Account: k})
	}
	return a, nil
}
