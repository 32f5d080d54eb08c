package hashworker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/assent-dev/assent/secrets"
)

// TestMain makes the test binary the worker of the pools the tests start.
func TestMain(m *testing.M) {
	if IsWorker() {
		os.Exit(Main())
	}
	os.Exit(m.Run())
}

func newPool(t *testing.T, nice int) *Pool {
	t.Helper()
	return newPoolConfig(t, Config{Nice: nice})
}

func newPoolConfig(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var params = secrets.DefaultArgon2Params()

// TestKeysAreArgon2idKeys: the worker's keys are argon2.IDKey's, for concurrent requests, and
// a hash made through the pool verifies in this process and the other way round.
func TestKeysAreArgon2idKeys(t *testing.T) {
	t.Parallel()
	p := newPool(t, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw, salt := []byte(fmt.Sprintf("password %d", i)), bytes.Repeat([]byte{byte(i)}, 16)
			got, err := p.Key(ctx, pw, salt, params)
			if err != nil {
				t.Error(err)
				return
			}
			if want := argon2.IDKey(pw, salt, params.Iterations, params.Memory, params.Parallelism, params.KeyLength); !bytes.Equal(got, want) {
				t.Errorf("key %d: %x, want %x", i, got, want)
			}
		}()
	}
	wg.Wait()
	hash, err := params.HashWith(ctx, "correct horse", nil, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := secrets.VerifyPassword("correct horse", hash); !ok || err != nil {
		t.Fatalf("a hash made by the worker does not verify here: %v %v", ok, err)
	}
	here, _ := params.Hash("battery staple", nil)
	for pw, want := range map[string]bool{"battery staple": true, "battery stapler": false} {
		if ok, err := secrets.VerifyPasswordWith(ctx, pw, here, p.Key); ok != want || err != nil {
			t.Fatalf("the worker verifies %q as %v (%v), want %v", pw, ok, err, want)
		}
	}
}

// TestWorkerRunsAtItsNiceValue: every thread of the worker, including those made while it
// computes keys, runs at the nice value it was given, under the normal policy unless Idle.
func TestWorkerRunsAtItsNiceValue(t *testing.T) {
	t.Parallel()
	threadsOf(t, newPool(t, 19), func(path string, nice, policy int) {
		if nice != 19 || policy != schedNormal {
			t.Errorf("thread %s runs at nice %d under policy %d, want 19 and %d", path, nice, policy, schedNormal)
		}
	})
}

// TestIdleWorkerRunsUnderSchedIdle: with Idle, every thread of the worker, including those
// made while it computes keys, runs under SCHED_IDLE, at its nice value.
func TestIdleWorkerRunsUnderSchedIdle(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("SCHED_IDLE is Linux's")
	}
	threadsOf(t, newPoolConfig(t, Config{Nice: 19, Idle: true}), func(path string, nice, policy int) {
		if nice != 19 || policy != schedIdle {
			t.Errorf("thread %s runs at nice %d under policy %d, want 19 and SCHED_IDLE (%d)", path, nice, policy, schedIdle)
		}
	})
}

const (
	schedNormal = 0 // SCHED_OTHER
	schedIdle   = 5
)

// threadsOf has the worker compute keys four at a time (which makes the runtime start
// threads), then calls check with each of its threads' nice value and scheduling policy.
func threadsOf(t *testing.T, p *Pool, check func(path string, nice, policy int)) {
	t.Helper()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Key(context.Background(), []byte("pw"), make([]byte, 16), params); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", p.PID()))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("threads of the worker: %v %v", tasks, err)
	}
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the thread ended
		}
		// Fields after the command's closing parenthesis: state is the 3rd field, nice the
		// 19th, policy the 41st.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		nice, _ := strconv.Atoi(fields[16])
		policy, _ := strconv.Atoi(fields[38])
		check(path, nice, policy)
	}
}

// TestWorkerRestartsWhenItDies: a key asked while the worker is killed is asked again of a new
// worker, and the keys after it are computed too.
func TestWorkerRestartsWhenItDies(t *testing.T) {
	t.Parallel()
	p := newPool(t, 0)
	ctx := context.Background()
	if _, err := p.Key(ctx, []byte("pw"), make([]byte, 16), params); err != nil {
		t.Fatal(err)
	}
	first := p.PID()
	slow := params
	slow.Iterations = 40 // long enough to be killed in the middle
	done := make(chan error, 1)
	go func() {
		_, err := p.Key(ctx, []byte("pw"), make([]byte, 16), slow)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	proc, _ := os.FindProcess(first)
	proc.Kill()
	if err := <-done; err != nil {
		t.Fatalf("the key asked while the worker died: %v", err)
	}
	if pid := p.PID(); pid == first || pid == 0 {
		t.Fatalf("worker %d after the first (%d) died", pid, first)
	}
	if _, err := p.Key(ctx, []byte("pw"), make([]byte, 16), params); err != nil {
		t.Fatal(err)
	}
}

// TestRefusals: parameters out of bounds are refused without the password in the error; an
// ended context ends the wait; a closed pool refuses.
func TestRefusals(t *testing.T) {
	t.Parallel()
	p := newPool(t, 0)
	bad := params
	bad.Memory = 1024
	_, err := p.Key(context.Background(), []byte("hunter2-secret"), make([]byte, 16), bad)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "out of bounds") {
		t.Fatalf("out of bounds: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Key(ctx, []byte("pw"), make([]byte, 16), params); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v", err)
	}
	p.Close()
	if _, err := p.Key(context.Background(), []byte("pw"), make([]byte, 16), params); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("closed pool: %v", err)
	}
	if _, err := New(Config{Nice: 20}); err == nil || !strings.Contains(err.Error(), "option 'nice' must be between 0 and 19 but it's configured as '20'") {
		t.Fatalf("nice 20: %v", err)
	}
}
