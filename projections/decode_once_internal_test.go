package projections

import (
	"context"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// countDecodes makes decodeEvent count its calls by the event's data until the test ends.
// The tests that use it do not run in parallel.
func countDecodes(t *testing.T) func() map[string]int {
	var mu sync.Mutex
	counts := map[string]int{}
	orig := decodeEvent
	t.Cleanup(func() { decodeEvent = orig })
	decodeEvent = func(typ string, version int, data []byte) (domain.Event, error) {
		mu.Lock()
		counts[string(data)]++
		mu.Unlock()
		return orig(typ, version, data)
	}
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(counts)
	}
}

// decodedOnce fails unless every event was decoded exactly once.
func decodedOnce(t *testing.T, events []eventstore.RecordedEvent, counts map[string]int) {
	t.Helper()
	for _, ev := range events {
		if n := counts[string(ev.Data)]; n != 1 {
			t.Errorf("%s at %d decoded %d times, want once", ev.Type, ev.Position, n)
		}
	}
}

// oneAccount returns the events of an account whose every event several read models fold:
// a registration (accounts, history), a device registered and linked (accounts, devices,
// history), a challenge (accounts, pending, challenges, history).
func oneAccount(t *testing.T) []domain.Event {
	acct, dev, ch := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	email, _ := domain.ParseEmail("once@example.com")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return []domain.Event{
		domain.AccountRegistered{AccountID: acct, Email: email, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$a$b", At: at},
		domain.DeviceRegistered{DeviceID: dev, PublicKey: make([]byte, 32), Name: "phone", Platform: "android", At: at},
		domain.DeviceLinked{AccountID: acct, DeviceID: dev, PublicKey: make([]byte, 32), Name: "phone", Method: domain.LinkFromPhone, At: at},
		domain.SignInChallenged{AccountID: acct, ChallengeID: ch, ExpiresAt: at.Add(time.Minute), At: at},
		domain.ChallengeIssued{ChallengeID: ch, AccountID: acct, Number: 42, ContextDigest: make([]byte, 32),
			Devices: []domain.ChallengeDevice{{DeviceID: dev, PublicKey: make([]byte, 32)}}, ExpiresAt: at.Add(time.Minute), At: at},
		domain.ChallengeApproved{ChallengeID: ch, AccountID: acct, DeviceID: dev, Number: 42, Signature: make([]byte, 64), At: at},
	}
}

// handledByMany checks that most events of the log are folded by at least two read models
// of set, so that a decode per read model would show.
func handledByMany(t *testing.T, set *Set, events []domain.Event) {
	shared := 0
	for _, e := range events {
		n := 0
		for _, p := range set.All() {
			if p.base().handles[e.EventType()] {
				n++
			}
		}
		if n >= 2 {
			shared++
		}
	}
	if shared < len(events)/2 {
		t.Fatalf("%d of %d events are folded by several read models: the log does not test a shared decode", shared, len(events))
	}
}

// TestRouterDecodesEachEventOnce: the live fold (the router over the log, ApplyBatch) decodes
// every event once and hands the value to every read model that folds it.
func TestRouterDecodesEachEventOnce(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	set := NewSet()
	events := oneAccount(t)
	handledByMany(t, set, events)
	counts := countDecodes(t)
	var last eventstore.Position
	for _, e := range events {
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		res, err := store.Append(ctx, "s-"+e.EventType(), eventstore.Any(), eventstore.EventData{Type: typ, SchemaVersion: ver, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
	}
	stored, err := store.ReadAll(ctx, eventstore.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRouter(set, store, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := set.WaitFor(wctx, last); err != nil {
		t.Fatal(err)
	}
	cancel()
	r.Close()
	<-done
	decodedOnce(t, stored, counts())
}

// TestApplyBatchAndRebuildDecodeEachEventOnce: so do a batch applied to the set and a rebuild.
func TestApplyBatchAndRebuildDecodeEachEventOnce(t *testing.T) {
	ctx := context.Background()
	set := NewSet()
	handledByMany(t, set, oneAccount(t))
	var log []eventstore.RecordedEvent
	for i, e := range oneAccount(t) {
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, eventstore.RecordedEvent{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data, Position: eventstore.Position(i + 1)})
	}
	counts := countDecodes(t)
	if err := set.ApplyBatch(ctx, log); err != nil {
		t.Fatal(err)
	}
	decodedOnce(t, log, counts())

	counts = countDecodes(t)
	if _, err := NewSet().Rebuild(ctx, memLog(log)); err != nil {
		t.Fatal(err)
	}
	decodedOnce(t, log, counts())
}

// memLog is a LogReader over events in memory.
type memLog []eventstore.RecordedEvent

func (l memLog) ReadAll(_ context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for _, ev := range l {
		if ev.Position > after && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}
