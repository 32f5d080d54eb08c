package schemas_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/schemas"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// TestANodeThatCannotReadWhatTheDeploymentWritesDoesNotStart: a newer node recorded version 2
// of a type; a node that reads only version 1 refuses to start, on a shared store as on the
// store of one writer, and records nothing.
func TestANodeThatCannotReadWhatTheDeploymentWritesDoesNotStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := openStore(t)
	if _, _, err := schemas.Raise(ctx, log, schemas.Versions{"a.x": 2, "b.y": 1}, "test", now); err != nil {
		t.Fatal(err)
	}
	for _, sole := range []bool{false, true} {
		_, _, err := schemas.Start(ctx, log, schemas.Versions{"a.x": 1, "b.y": 1}, sole, now)
		if !errors.Is(err, schemas.ErrUnreadable) || !strings.Contains(err.Error(), "a.x at schema 2 (this build reads up to 1)") {
			t.Fatalf("start of an older node (sole %v): %v, want ErrUnreadable naming a.x", sole, err)
		}
	}
	// A type the old node does not know at all counts the same.
	if _, _, err := schemas.Raise(ctx, log, schemas.Versions{"a.x": 2, "b.y": 1, "c.z": 1}, "test", now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := schemas.Start(ctx, log, schemas.Versions{"a.x": 2, "b.y": 1}, false, now); !errors.Is(err, schemas.ErrUnreadable) {
		t.Fatalf("start of a node that does not know c.z: %v, want ErrUnreadable", err)
	}
	rec, _, err := schemas.Read(ctx, log)
	if err != nil || rec.Versions["a.x"] != 2 || rec.Versions["c.z"] != 1 {
		t.Fatalf("record after the refusals = %+v, %v", rec, err)
	}
}

// TestANodeWritesNoVersionTheDeploymentDoesNotAllow: on a shared store the first node records
// its versions; a newer node that writes version 2 is refused until the operator raises the
// record, and then allowed.
func TestANodeWritesNoVersionTheDeploymentDoesNotAllow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := openStore(t)
	if _, found, err := schemas.Start(ctx, log, schemas.Versions{"a.x": 1}, false, now); err != nil || !found {
		t.Fatalf("the first node of a shared store: %v, %v; want its record", found, err)
	}
	newer := schemas.Versions{"a.x": 2, "n.new": 1}
	rec, _, err := schemas.Start(ctx, log, newer, false, now)
	if err != nil {
		t.Fatalf("a newer node reads what the deployment writes and must start: %v", err)
	}
	if rec.Versions["a.x"] != 1 {
		t.Fatalf("a newer node on a shared store raised the record to %v", rec.Versions)
	}
	guard := schemas.NewGuard(log, rec, 0)
	if err := guard.Allow(ctx, "a.x", 1); err != nil {
		t.Fatalf("version 1 of a.x: %v", err)
	}
	for _, c := range []struct {
		typ string
		v   int
	}{{"a.x", 2}, {"n.new", 1}} {
		err := guard.Allow(ctx, c.typ, c.v)
		if !errors.Is(err, schemas.ErrNotAllowed) || !strings.Contains(err.Error(), "assent schema raise") {
			t.Fatalf("%s at %d before the raise: %v, want ErrNotAllowed saying what to do", c.typ, c.v, err)
		}
	}
	if _, raised, err := schemas.Raise(ctx, log, newer, "operator", now); err != nil || !raised {
		t.Fatalf("raise = %v, %v", raised, err)
	}
	if err := guard.Allow(ctx, "a.x", 2); err != nil {
		t.Fatalf("a.x at 2 after the raise: %v", err)
	}
	if _, raised, err := schemas.Raise(ctx, log, newer, "operator", now); err != nil || raised {
		t.Fatalf("a second raise to the same versions = %v, %v; want nothing recorded", raised, err)
	}
	if _, _, err := schemas.Raise(ctx, log, schemas.Versions{"a.x": 1}, "operator", now); !errors.Is(err, schemas.ErrUnreadable) {
		t.Fatalf("raise from an older build: %v, want ErrUnreadable", err)
	}
}

// TestTheOnlyWriterRaisesTheRecordAtStart: on a store with one writer there is no other node:
// without a record the node makes none and guards nothing; with one, an upgraded node raises
// it to its own versions at once.
func TestTheOnlyWriterRaisesTheRecordAtStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := openStore(t)
	if _, found, err := schemas.Start(ctx, log, schemas.Versions{"a.x": 1}, true, now); err != nil || found || log.Head() != 0 {
		t.Fatalf("start of a sole node without a record: found %v, %v, head %d; want nothing written", found, err, log.Head())
	}
	if _, _, err := schemas.Raise(ctx, log, schemas.Versions{"a.x": 1}, "operator", now); err != nil {
		t.Fatal(err)
	}
	rec, found, err := schemas.Start(ctx, log, schemas.Versions{"a.x": 2}, true, now)
	if err != nil || !found || rec.Versions["a.x"] != 2 {
		t.Fatalf("start of an upgraded sole node = %+v, %v, %v; want a.x at 2", rec, found, err)
	}
}
