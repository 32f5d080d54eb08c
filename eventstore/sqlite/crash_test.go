package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

const crashChildEnv = "ASSENT_CRASH_CHILD_DB"

// crashRounds is how many times TestCrashKeepsAcknowledgedAppends kills a writer.
const crashRounds = 20

// TestMain turns the test binary into the crash child when crashChildEnv is set.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

// crashChild is the child of TestCrashKeepsAcknowledgedAppends: it appends from 8 goroutines,
// three events at a time, and prints "ack <group>" after each acknowledged append, until it is
// killed.
func crashChild(path string) {
	// A small index batch, so that the child is often killed while moving its tail into
	// stream_index, and always with a tail to load again.
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{IndexBatch: 50})
	if err != nil {
		fmt.Printf("open failed: %v\n", err)
		os.Exit(3)
	}
	fmt.Println("ready")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				group := fmt.Sprintf("p%d-w%d-%d", os.Getpid(), w, i)
				evs := make([]eventstore.EventData, 3)
				for j := range evs {
					evs[j] = storetest.Event("crash.appended", j)
					evs[j].Metadata.CorrelationID = group
				}
				if _, err := s.Append(context.Background(), fmt.Sprint("crash-", w), eventstore.Any(), evs...); err != nil {
					fmt.Printf("append failed: %v\n", err)
					os.Exit(4)
				}
				mu.Lock()
				os.Stdout.WriteString("ack " + group + "\n")
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCrashKeepsAcknowledgedAppends kills a child that appends under load with SIGKILL at a
// random moment, then reopens the file: every acknowledged append is there, no append is there
// in part, and the store takes new appends.
func TestCrashKeepsAcknowledgedAppends(t *testing.T) {
	if testing.Short() {
		t.Skip("crash rounds take a while")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	totalAcked, tailsLoaded := 0, 0
	for round := range crashRounds {
		acked := runCrashChild(t, path, time.Duration(50+rand.IntN(400))*time.Millisecond)
		totalAcked += len(acked)

		s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if st := s.Stats(); st.Unindexed > 0 {
			tailsLoaded++
		}
		groups := map[string]int{}
		streams := map[string][]eventstore.Position{}
		after := eventstore.Start
		for {
			evs, err := s.ReadAll(context.Background(), after, 5000)
			if err != nil {
				t.Fatalf("round %d: read: %v", round, err)
			}
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				groups[ev.Metadata.CorrelationID]++
				streams[ev.Stream] = append(streams[ev.Stream], ev.Position)
			}
			after = evs[len(evs)-1].Position
		}
		for g, n := range groups {
			if n != 3 && !strings.HasPrefix(g, "after-") {
				t.Fatalf("round %d: append %s is stored with %d of its 3 events", round, g, n)
			}
		}
		for _, g := range acked {
			if groups[g] != 3 {
				t.Fatalf("round %d: acknowledged append %s has %d events after the crash", round, g, groups[g])
			}
		}
		// Each stream reads whole and in order, whether its entries were in stream_index or in
		// the tail the reopened store loaded from the log.
		for stream, want := range streams {
			evs, err := s.ReadStream(context.Background(), stream, eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatalf("round %d: read %s: %v", round, stream, err)
			}
			if len(evs) != len(want) {
				t.Fatalf("round %d: %s reads %d events, the log holds %d", round, stream, len(evs), len(want))
			}
			for i, ev := range evs {
				if ev.Position != want[i] || ev.Version != uint64(i) {
					t.Fatalf("round %d: %s event %d is at position %d version %d, want %d and %d", round, stream, i, ev.Position, ev.Version, want[i], i)
				}
			}
		}
		ev := storetest.Event("crash.after", round)
		ev.Metadata.CorrelationID = fmt.Sprint("after-", round)
		if _, err := s.Append(context.Background(), "after-crash", eventstore.Any(), ev); err != nil {
			t.Fatalf("round %d: append after reopen: %v", round, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: close: %v", round, err)
		}
	}
	t.Logf("%d rounds, %d acknowledged appends checked, %d reopenings loaded an unindexed tail", crashRounds, totalAcked, tailsLoaded)
	if tailsLoaded == 0 {
		t.Fatal("no reopening found an unindexed tail: the recovery of stream_index was not tested")
	}
	if totalAcked == 0 {
		t.Fatal("no child acknowledged any append: the test proved nothing")
	}
}

// runCrashChild starts the child, lets it append for about d after it is ready, kills it and
// returns the groups it acknowledged.
func runCrashChild(t *testing.T, path string, d time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	var acked []string
	var failure string
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "ready":
				close(ready)
			case strings.HasPrefix(line, "ack "):
				acked = append(acked, strings.TrimPrefix(line, "ack "))
			case strings.Contains(line, "failed"):
				failure = line
			}
		}
	}()
	select {
	case <-ready:
	case <-lines:
		cmd.Wait()
		t.Fatalf("child ended before it was ready: %s", failure)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child did not start")
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-lines
	cmd.Wait()
	if failure != "" {
		t.Fatalf("child: %s", failure)
	}
	return acked
}
