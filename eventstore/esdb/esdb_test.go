package esdb

import (
	"context"
	"os"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// serverURL returns the connection string of a real EventStoreDB, or skips the test.
func serverURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("ASSENT_ESDB_URL")
	if url == "" {
		t.Skip("ASSENT_ESDB_URL is not set: no EventStoreDB to test against. Start one with\n" +
			"  docker run --rm -p 2113:2113 eventstore/eventstore:24.10 --insecure --run-projections=All\n" +
			"and run\n" +
			"  ASSENT_ESDB_URL='esdb://localhost:2113?tls=false' go test -race ./eventstore/esdb/")
	}
	return url
}

func openServer(t testing.TB, url string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return s
}

// TestContract runs the contract of every backend against a real EventStoreDB.
func TestContract(t *testing.T) {
	url := serverURL(t)
	t.Parallel()
	storetest.Run(t, func(t *testing.T) eventstore.Store { return openServer(t, url) })
}

// TestContractAgainstModel runs the same contract against the in-memory fake of the server
// (fake_server_test.go). It exercises the adapter and the real client; it does not prove what
// EventStoreDB does.
func TestContractAgainstModel(t *testing.T) {
	t.Parallel()
	f, _ := startFake(t, false)
	storetest.Run(t, func(t *testing.T) eventstore.Store { return openFake(t, f) })
}

// TestServerPositions checks, against a real server, that a stream read gives each event the
// position $all gives it (the contract relies on it), and records whether the position an
// append returns is that of its last event. Append does not rely on the latter (it reads its
// last event back); if it holds on the servers Assent supports, the read-back can go.
func TestServerPositions(t *testing.T) {
	url := serverURL(t)
	t.Parallel()
	s := openServer(t, url)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, done, err := s.acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	for _, n := range []int{1, 3} {
		stream := "probe-" + uuid.NewString()
		evs := make([]esdbclient.EventData, n)
		for i := range evs {
			if evs[i], err = toProposed(storetest.Event("test.probe", i)); err != nil {
				t.Fatal(err)
			}
		}
		res, err := c.AppendToStream(ctx, stream, esdbclient.AppendToStreamOptions{ExpectedRevision: esdbclient.NoStream{}}, evs...)
		if err != nil {
			t.Fatal(err)
		}
		read, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.ReadAll(ctx, read[0].Position-1, 1000)
		if err != nil {
			t.Fatal(err)
		}
		inAll := map[uuid.UUID]eventstore.Position{}
		for _, ev := range all {
			inAll[ev.ID] = ev.Position
		}
		for _, ev := range read {
			if inAll[ev.ID] != ev.Position {
				t.Errorf("event %s: the stream read gives position %d, $all gives %d", ev.ID, ev.Position, inAll[ev.ID])
			}
		}
		t.Logf("%d events: the append returned commit %d, prepare %d; the last event is at %d (equal: %v)",
			n, res.CommitPosition, res.PreparePosition, read[n-1].Position, res.CommitPosition == uint64(read[n-1].Position))
	}
}
