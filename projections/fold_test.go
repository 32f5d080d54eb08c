package projections_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/domain"
	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/projections"
)

// sliceLog is a LogReader over events held in memory.
type sliceLog []eventstore.RecordedEvent

func (l sliceLog) ReadAll(_ context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for _, ev := range l {
		if ev.Position > after && len(out) < limit {
			ev.Data = bytes.Clone(ev.Data)
			out = append(out, ev)
		}
	}
	return out, nil
}

// sealedMark stands for a sealing: the stored data of every event starts with it, and only
// Open takes it off.
var sealedMark = []byte("sealed:")

// openingLog is an OpeningReader over sealed events. It counts the events it opens and the
// calls of its ReadAll, and fails to open the event at failAt, if set.
type openingLog struct {
	stored        sliceLog
	opened, reads atomic.Int64
	failAt        eventstore.Position
}

func (l *openingLog) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	l.reads.Add(1)
	evs, _ := l.ReadAllUnopened(ctx, after, limit)
	return evs, l.OpenAll(ctx, evs)
}

func (l *openingLog) ReadAllUnopened(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	return l.stored.ReadAll(ctx, after, limit)
}

func (l *openingLog) OpenAll(_ context.Context, evs []eventstore.RecordedEvent) error {
	for i := range evs {
		ev := &evs[i]
		l.opened.Add(1)
		if ev.Position == l.failAt {
			return fmt.Errorf("no key for the event at %d", ev.Position)
		}
		data, ok := bytes.CutPrefix(ev.Data, sealedMark)
		if !ok {
			return fmt.Errorf("event at %d is not sealed", ev.Position)
		}
		ev.Data = data
	}
	return nil
}

var _ projections.OpeningReader = (*openingLog)(nil)

// togglingLog returns a log of n accounts registered first, then pages' worth of MFA turned on
// and off and devices linked, each account's events spread over every page: folded out of
// order, the accounts' final states differ. sealed puts sealedMark before every event's data.
func togglingLog(t *testing.T, n, total int, sealed bool) sliceLog {
	t.Helper()
	var log sliceLog
	add := func(e domain.Event) {
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if sealed {
			data = append(bytes.Clone(sealedMark), data...)
		}
		log = append(log, eventstore.RecordedEvent{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data, Position: eventstore.Position(len(log) + 1)})
	}
	ids := make([]uuid.UUID, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
		email, _ := domain.ParseEmail(fmt.Sprintf("fold%d@example.com", i))
		add(domain.AccountRegistered{AccountID: ids[i], Email: email, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$a$b", At: t0})
	}
	for k := 0; len(log) < total; k++ {
		id := ids[k%n]
		at := t0.Add(time.Duration(k) * time.Second)
		switch (k/n + k%n) % 3 {
		case 0:
			add(domain.MFAEnabled{AccountID: id, At: at})
		case 1:
			add(domain.MFADisabled{AccountID: id, At: at})
		case 2:
			dev := uuid.New()
			add(domain.DeviceRegistered{DeviceID: dev, PublicKey: make([]byte, 32), Name: "phone", Platform: "android", At: at})
			add(domain.DeviceLinked{AccountID: id, DeviceID: dev, PublicKey: make([]byte, 32), Name: fmt.Sprintf("phone %d", k), Method: domain.LinkFromPhone, At: at})
		}
	}
	return log
}

// TestFoldOpensAndDecodesPagesInParallelInLogOrder rebuilds from a log of several pages that
// must be opened (a sealed log): the rebuild reads it unopened and opens every event once on
// its workers, never through ReadAll, and the read models equal those folded from the same
// log in the clear, in order on one goroutine.
func TestFoldOpensAndDecodesPagesInParallelInLogOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	total := 3*projections.PageSize + 17
	clear := togglingLog(t, 50, total, false)
	sealed := &openingLog{stored: togglingLog(t, 50, total, true)}
	for i := range sealed.stored { // the same events, so that the rows compare equal
		sealed.stored[i].ID = clear[i].ID
		sealed.stored[i].Data = append(bytes.Clone(sealedMark), clear[i].Data...)
	}

	want := projections.NewSet()
	if err := want.ApplyBatch(ctx, clear); err != nil { // in order, on one goroutine
		t.Fatal(err)
	}
	got := projections.NewSet()
	st, err := got.Rebuild(ctx, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != len(clear) || st.Position != clear[len(clear)-1].Position {
		t.Fatalf("rebuilt %d events to %d, want %d to %d", st.Events, st.Position, len(clear), clear[len(clear)-1].Position)
	}
	if n := sealed.opened.Load(); n != int64(len(clear)) {
		t.Fatalf("%d events opened, want each of the %d once", n, len(clear))
	}
	if n := sealed.reads.Load(); n != 0 {
		t.Fatalf("ReadAll called %d times: the pages were opened on the reading goroutine", n)
	}
	if !reflect.DeepEqual(got.Accounts.All(), want.Accounts.All()) {
		t.Fatal("the accounts rebuilt from the sealed log differ from those folded in order")
	}
	if !reflect.DeepEqual(got.Devices.All(), want.Devices.All()) {
		t.Fatal("the devices rebuilt from the sealed log differ from those folded in order")
	}
	mfa := 0
	for _, a := range got.Accounts.All() {
		if a.MFAEnabled {
			mfa++
		}
	}
	if mfa == 0 || mfa == 50 {
		t.Fatalf("%d of 50 accounts with MFA: the log does not tell an order from another", mfa)
	}

	// A catch-up over the same reader, from the start, folds the same.
	caught := projections.NewSet()
	if _, err := caught.CatchUp(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(caught.Accounts.All(), want.Accounts.All()) || caught.Position() != st.Position {
		t.Fatal("the catch-up over the sealed log differs from the fold in order")
	}
}

// TestFoldStopsAtAnEventThatDoesNotOpen: an event the log cannot open (no key) fails the
// rebuild with the reading error, and the read models keep what they had.
func TestFoldStopsAtAnEventThatDoesNotOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	total := 2*projections.PageSize + 5
	sealed := &openingLog{stored: togglingLog(t, 20, total, true), failAt: projections.PageSize + 3}
	set := projections.NewSet()
	_, err := set.Rebuild(ctx, sealed)
	if err == nil || !strings.Contains(err.Error(), "read the log") || !strings.Contains(err.Error(), "no key for the event") {
		t.Fatalf("rebuild: %v, want the reading error", err)
	}
	if set.Position() != 0 || set.Accounts.Len() != 0 {
		t.Fatalf("a failed rebuild replaced the read models: position %d, %d accounts", set.Position(), set.Accounts.Len())
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal("the error is the cancellation, not the reading error")
	}
}

// cancellingLog is a LogReader that cancels the rebuild's context when its second page is
// read, and returns that page all the same: the reading stops in the middle of the log without
// an error of its own.
type cancellingLog struct {
	sliceLog
	cancel context.CancelFunc
	reads  atomic.Int64
}

func (l *cancellingLog) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	if l.reads.Add(1) > 1 {
		l.cancel()
		<-ctx.Done()
	}
	return l.sliceLog.ReadAll(ctx, after, limit)
}

// TestRebuildCancelledMidwayKeepsTheLiveTables: a rebuild whose context ends while the log is
// read fails with the cancellation and promotes nothing.
func TestRebuildCancelledMidwayKeepsTheLiveTables(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &cancellingLog{sliceLog: togglingLog(t, 20, 4*projections.PageSize+5, false), cancel: cancel}
	set := projections.NewSet()
	if _, err := set.Rebuild(ctx, log); !errors.Is(err, context.Canceled) {
		t.Fatalf("rebuild: %v, want the cancellation", err)
	}
	if set.Position() != 0 || set.Accounts.Len() != 0 {
		t.Fatalf("a cancelled rebuild replaced the read models: position %d, %d accounts", set.Position(), set.Accounts.Len())
	}
}
