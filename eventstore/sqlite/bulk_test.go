package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// TestAppendBatchWritesWhatAppendsWrite appends the same events once append by append and once
// in one AppendBatch where a stream comes several times: the two logs must be the same, event
// for event, with the same positions, versions and chain links, and the index must agree.
func TestAppendBatchWritesWhatAppendsWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	open := func(name string) *sqlite.Store {
		s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), name), sqlite.Options{Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	appends := []eventstore.StreamAppend{
		{Stream: "a-1", Expected: eventstore.NoStream(), Events: []eventstore.EventData{storetest.Event("test.a", 1), storetest.Event("test.a", 2)}},
		{Stream: "b-1", Expected: eventstore.NoStream(), Events: []eventstore.EventData{storetest.Event("test.b", 3)}},
		{Stream: "a-1", Expected: eventstore.Exact(1), Events: []eventstore.EventData{storetest.Event("test.a", 4)}},
		{Stream: "b-1", Expected: eventstore.StreamExists(), Events: []eventstore.EventData{storetest.Event("test.b", 5)}},
		{Stream: "a-1", Expected: eventstore.Exact(2), Events: []eventstore.EventData{storetest.Event("test.a", 6)}},
	}
	one := open("one.db")
	var want []eventstore.AppendResult
	for _, a := range appends {
		res, err := one.Append(ctx, a.Stream, a.Expected, a.Events...)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res)
	}
	bulk := open("bulk.db")
	got, err := bulk.AppendBatch(ctx, appends)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AppendBatch results = %v, Append results = %v", got, want)
	}
	logOne, err := one.ReadAllChained(ctx, eventstore.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	logBulk, err := bulk.ReadAllChained(ctx, eventstore.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(logBulk) != 6 || !reflect.DeepEqual(logBulk, logOne) {
		t.Fatalf("the batch wrote\n%v\nthe appends wrote\n%v", logBulk, logOne)
	}
	evs, err := bulk.ReadStream(ctx, "a-1", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || evs[3].Version != 3 || evs[3].Position != 6 {
		t.Fatalf("stream a-1 after the batch = %v", evs)
	}
	problems, err := bulk.VerifyIndex(ctx)
	if err != nil || len(problems) != 0 {
		t.Fatalf("VerifyIndex = %v, %v", problems, err)
	}
}

// TestAppendBatchConflictWritesNothing: one append of the batch expects a version its stream
// will not have (after the appends before it); the whole batch is refused.
func TestAppendBatchConflictWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	_, err := s.AppendBatch(ctx, []eventstore.StreamAppend{
		{Stream: "a-1", Expected: eventstore.NoStream(), Events: []eventstore.EventData{storetest.Event("test.a", 1)}},
		{Stream: "b-1", Expected: eventstore.NoStream(), Events: []eventstore.EventData{storetest.Event("test.b", 2)}},
		{Stream: "a-1", Expected: eventstore.Exact(1), Events: []eventstore.EventData{storetest.Event("test.a", 3)}},
	})
	var conflict *eventstore.ConflictError
	if !errors.As(err, &conflict) || conflict.Stream != "a-1" || conflict.Actual != 0 {
		t.Fatalf("AppendBatch = %v, want a conflict on a-1 at version 0", err)
	}
	if s.Head() != 0 {
		t.Fatalf("head after a refused batch = %d, want 0", s.Head())
	}
	if _, err := s.ReadStream(ctx, "b-1", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("stream b-1 after a refused batch: %v", err)
	}
}
