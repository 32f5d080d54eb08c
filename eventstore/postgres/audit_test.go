package postgres_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/postgres"
	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
	"github.com/assent-dev/assent/eventstore/storetest"
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
	cps := []*audit.Checkpointer{
		audit.NewCheckpointer(audit.CheckpointerConfig{Log: a, Appender: a, Key: key}),
		audit.NewCheckpointer(audit.CheckpointerConfig{Log: b, Appender: b, Key: key}),
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
	waitVisible(t, ctx, a, last)
	for _, cp := range cps {
		if _, err := cp.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := a.ReadStream(ctx, audit.CheckpointStream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitVisible(t, ctx, a, cp[0].Position)
	rep, err := audit.Verify(ctx, a, audit.VerifyOptions{TrustedKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checkpoints < 1 || rep.Events < 60 {
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
