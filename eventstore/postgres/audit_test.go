package postgres_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/audit/checkpoint"
	"github.com/assent-dev/assent/audit/checkpointer"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
	"github.com/assent-dev/assent/eventstore/storetest"
	"github.com/assent-dev/assent/localdb"
)

func kinds(rep *audit.Report) []string {
	var out []string
	for _, f := range rep.Findings {
		if f.Severity == audit.SeverityError {
			out = append(out, f.Kind)
		}
	}
	return out
}

// The audit on PostgreSQL: two nodes append to shared streams and each signs checkpoints with
// the deployment's key; verify finds the log intact (its sparse positions are not deleted
// events), then finds an altered event and a deleted one.
func TestAuditVerifiesChainsAndCheckpointsAcrossNodes(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := open(t, url), open(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	cps := []*checkpointer.Checkpointer{
		checkpointer.New(checkpointer.Config{Log: a, Appender: a, Key: key, DB: localDB(t)}),
		checkpointer.New(checkpointer.Config{Log: b, Appender: b, Key: key, DB: localDB(t)}),
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var last eventstore.Position
	for n, s := range []eventstore.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				stream := fmt.Sprintf("account-%d", i%5)
				res, err := s.Append(ctx, stream, eventstore.Any(), storetest.Event("test.appended", n*100+i))
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				last = max(last, res.Position)
				mu.Unlock()
				if i%10 == 9 {
					if _, err := cps[n].Checkpoint(ctx); err != nil {
						t.Errorf("checkpoint on node %d: %v", n, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	// A transaction running elsewhere on the server (another test's) holds the horizon back for
	// a moment: the checkpoints and verify read what is below it.
	// A checkpointer that does not see the last checkpoint yet collides with it and skips its
	// turn: let each see it first.
	waitVisible(t, ctx, a, last)
	lastCheckpoint := func() eventstore.Position {
		cp, err := a.ReadStream(ctx, checkpoint.Stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1})
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return eventstore.Start // no checkpoint yet: the writers' ones saw nothing or collided
		}
		if err != nil {
			t.Fatal(err)
		}
		return cp[0].Position
	}
	for _, cp := range cps {
		waitVisible(t, ctx, a, lastCheckpoint())
		if _, err := cp.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitVisible(t, ctx, a, lastCheckpoint())
	// The first checkpoint is a base, which lists no heads: if it was the only one (the
	// writers' checkpoints collided or saw nothing new), no checkpoint names account-3's last
	// event, and its deletion below would be found only as a root that does not match. One
	// more event and a checkpoint after it make sure one does.
	res, err := a.Append(ctx, "account-3", eventstore.Any(), storetest.Event("test.appended", 999))
	if err != nil {
		t.Fatal(err)
	}
	waitVisible(t, ctx, a, max(res.Position, lastCheckpoint()))
	if _, err := cps[0].Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	waitVisible(t, ctx, a, lastCheckpoint())
	rep, err := audit.Verify(ctx, a, audit.VerifyOptions{TrustedKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checkpoints < 2 || rep.Events < 61 {
		t.Fatalf("verify: ok %v, %d events, %d checkpoints, findings %+v", rep.OK, rep.Events, rep.Checkpoints, rep.Findings)
	}
	t.Logf("intact: %d events in %d streams, %d checkpoints", rep.Events, rep.Streams, rep.Checkpoints)

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Alter an event that a checkpoint covers.
	var original []byte
	if err := conn.QueryRow(ctx, `SELECT data FROM events WHERE stream = 'account-1' AND version = 2`).Scan(&original); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE events SET data = '{"n":999}' WHERE stream = 'account-1' AND version = 2`); err != nil {
		t.Fatal(err)
	}
	rep, err = audit.Verify(ctx, a, audit.VerifyOptions{TrustedKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !slices.Contains(kinds(rep), audit.FindChainBroken) {
		t.Fatalf("altered event: ok %v, findings %v; want chain_broken", rep.OK, kinds(rep))
	}
	// Delete the last event of a stream that a checkpoint signed.
	if _, err := conn.Exec(ctx, `UPDATE events SET data = $1 WHERE stream = 'account-1' AND version = 2`, original); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM events WHERE stream = 'account-3' AND version = (SELECT max(version) FROM events WHERE stream = 'account-3')`); err != nil {
		t.Fatal(err)
	}
	rep, err = audit.Verify(ctx, a, audit.VerifyOptions{TrustedKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !slices.Contains(kinds(rep), audit.FindStreamCut) {
		t.Fatalf("deleted event: ok %v, findings %v; want stream_cut", rep.OK, kinds(rep))
	}
}

// waitVisible waits until readers of s see position p.
func waitVisible(t *testing.T, ctx context.Context, s *postgres.Store, p eventstore.Position) {
	t.Helper()
	for {
		head, err := s.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head >= p {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("position %d never became visible (head %d)", p, head)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// An event committed late, behind an older transaction, lies before a checkpoint's own event
// but after what the checkpoint covers: the next checkpoint covers it, instead of finding
// "nothing new since the last checkpoint" because the log's last event is a checkpoint.
func TestCheckpointCoversEventCommittedBehindIt(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	s := open(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	cp := checkpointer.New(checkpointer.Config{Log: s, Appender: s, Key: key, DB: localDB(t)})
	res, err := s.Append(ctx, "first", eventstore.NoStream(), storetest.Event("test.appended", 0))
	if err != nil {
		t.Fatal(err)
	}
	waitVisible(t, ctx, s, res.Position)
	tx := pgtest.HoldTransaction(t, ctx, url)
	late, err := s.Append(ctx, "late", eventstore.NoStream(), storetest.Event("test.appended", 1))
	if err != nil {
		t.Fatal(err)
	}
	first, err := cp.Checkpoint(ctx) // does not see the late event yet
	if err != nil || first == nil {
		t.Fatalf("first checkpoint: %+v %v", first, err)
	}
	if eventstore.Position(first.Position) >= late.Position {
		t.Fatalf("the first checkpoint covers %d, past the held event at %d", first.Position, late.Position)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	events, err := s.ReadStream(ctx, checkpoint.Stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitVisible(t, ctx, s, events[len(events)-1].Position)
	second, err := cp.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second == nil || eventstore.Position(second.Position) < late.Position {
		t.Fatalf("second checkpoint %+v does not cover the event at %d", second, late.Position)
	}
}

// localDB opens a node's local database (its data directory is its own, whatever the event
// store), where the audit checkpointer keeps the heads.
func localDB(t *testing.T) *localdb.DB {
	t.Helper()
	db, err := localdb.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
