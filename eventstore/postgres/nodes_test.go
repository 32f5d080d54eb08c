package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// Four stores on one database stand for four nodes; each appends to one stream from eight
// goroutines, each append with the exact version it read, retrying on conflict. The database
// alone decides: every append lands once, at its own version, and the versions are dense.
func TestManyNodesAppendToOneStream(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	const nodes, workers, appends = 4, 8, 10
	stores := make([]*postgres.Store, nodes)
	for i := range stores {
		stores[i] = open(t, url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream := "shared-" + uuid.NewString()
	var wg sync.WaitGroup
	var mu sync.Mutex
	written := map[uuid.UUID]bool{}
	conflicts := 0
	for n := range nodes {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := stores[n]
				for i := range appends {
					ev := storetest.Event("test.appended", n*1000+w*100+i)
					for {
						expected := eventstore.NoStream()
						last, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1})
						if err == nil {
							expected = eventstore.Exact(last[0].Version)
						} else if !errors.Is(err, eventstore.ErrStreamNotFound) {
							t.Errorf("read: %v", err)
							return
						}
						_, err = s.Append(ctx, stream, expected, ev)
						if errors.Is(err, eventstore.ErrConflict) {
							mu.Lock()
							conflicts++
							mu.Unlock()
							continue
						}
						if err != nil {
							t.Errorf("append: %v", err)
							return
						}
						mu.Lock()
						written[ev.ID] = true
						mu.Unlock()
						break
					}
				}
			}()
		}
	}
	wg.Wait()
	evs, err := stores[0].ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != nodes*workers*appends {
		t.Fatalf("the stream holds %d events, want %d", len(evs), nodes*workers*appends)
	}
	for i, ev := range evs {
		if ev.Version != uint64(i) {
			t.Fatalf("event %d has version %d", i, ev.Version)
		}
		if !written[ev.ID] {
			t.Fatalf("event %s was stored but its append did not succeed, or it is stored twice", ev.ID)
		}
		delete(written, ev.ID)
	}
	if conflicts == 0 {
		t.Errorf("no append conflicted: the test did not race")
	}
	t.Logf("%d appends, %d conflicts settled by the database", len(evs), conflicts)
}

// The connection string's password appears in no error, whether the string does not parse or
// the server cannot be reached.
func TestPasswordNotInErrors(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"postgres://assent:s3cret-pw@127.0.0.1:1/assent?connect_timeout=2",
		"postgres://assent:s3cret-pw@127.0.0.1:notaport/assent",
		"host=127.0.0.1 port=1 user=assent password=s3cret-pw connect_timeout=2",
	} {
		_, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err == nil {
			t.Fatalf("open %q: no error", url)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
