package projections_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/bridge"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/projections"
)

// TestRouterPoisonEventInABatch feeds the read models through NewRouter from a log that
// holds, among others, a device registration of a schema version newer than the code. The
// router delivers it in a message with other events; the batch is retried until the event
// has been tried MaxAttempts times, then the devices read model alone skips it, every read
// model folds the rest, and the set reaches the log's last position.
func TestRouterPoisonEventInABatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	app := func(stream string, e domain.Event, version int) eventstore.Position {
		t.Helper()
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if version != 0 {
			ver = version
		}
		res, err := store.Append(ctx, stream, eventstore.Any(), eventstore.EventData{Type: typ, SchemaVersion: ver, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return res.Position
	}
	accounts := make([]uuid.UUID, 6)
	for i := range accounts {
		accounts[i] = uuid.Must(uuid.NewV7())
		email, _ := domain.ParseEmail(fmt.Sprintf("p%d@example.com", i))
		app(domain.AccountStream(accounts[i]), domain.AccountRegistered{AccountID: accounts[i], Email: email, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$a$b", At: at}, 0)
	}
	dev := uuid.Must(uuid.NewV7())
	poison := app("device-"+dev.String(), domain.DeviceRegistered{DeviceID: dev, PublicKey: make([]byte, 32), Name: "phone", At: at}, 99)
	last := app(domain.AccountStream(accounts[0]), domain.MFAEnabled{AccountID: accounts[0], At: at}, 0)

	set := projections.NewSet()
	r, err := projections.NewRouter(set, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var poisonIn []int // the size of each message that held the poison event, at each try
	first := true
	r.AddMiddleware(func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			events, err := bridge.Events(msg)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			if first {
				first = false
				time.Sleep(100 * time.Millisecond) // the rest of the log piles up behind
			}
			for _, ev := range events {
				if ev.Position == poison {
					poisonIn = append(poisonIn, len(events))
				}
			}
			mu.Unlock()
			return h(msg)
		}
	})
	go func() {
		if err := r.Run(ctx); err != nil {
			t.Errorf("router: %v", err)
		}
	}()
	defer r.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := set.WaitFor(wctx, last); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	tries := append([]int(nil), poisonIn...)
	mu.Unlock()
	if len(tries) != projections.MaxAttempts {
		t.Fatalf("the poison event was tried %d times (%v), want %d", len(tries), tries, projections.MaxAttempts)
	}
	for _, n := range tries {
		if n < 2 {
			t.Fatalf("the poison event came in a message of %d events (%v), want it in a batch", n, tries)
		}
	}
	if set.Skipped() != 1 {
		t.Fatalf("%d events skipped, want 1", set.Skipped())
	}
	fs, err := set.Store().Failures(ctx)
	if err != nil || len(fs) != 1 || fs[0].Projection != "devices" || fs[0].Position != poison || !fs[0].Skipped || fs[0].Attempts != projections.MaxAttempts {
		t.Fatalf("failed events %+v, %v; want devices at %d skipped after %d attempts", fs, err, poison, projections.MaxAttempts)
	}
	for i, id := range accounts {
		v, err := set.Accounts.Get(id)
		if err != nil || v.MFAEnabled != (i == 0) {
			t.Fatalf("account %d: %+v, %v", i, v, err)
		}
	}
	if _, err := set.Devices.Get(dev); !errors.Is(err, projections.ErrNotFound) {
		t.Fatalf("the device of the skipped event: %v, want ErrNotFound", err)
	}
	for _, p := range set.All() {
		if p.Position() != last {
			t.Fatalf("%s is at %d, want %d", p.Name(), p.Position(), last)
		}
	}
}
