package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
)

// schema2SQL is the events table as schema 2 wrote it.
const schema2SQL = `
CREATE TABLE events (
	position       INTEGER PRIMARY KEY,
	id             BLOB    NOT NULL UNIQUE,
	stream         TEXT    NOT NULL,
	version        INTEGER NOT NULL,
	type           TEXT    NOT NULL,
	schema_version INTEGER NOT NULL,
	data           BLOB    NOT NULL,
	correlation_id TEXT    NOT NULL,
	causation_id   TEXT    NOT NULL,
	actor          TEXT    NOT NULL,
	recorded_at    INTEGER NOT NULL,
	prev_hash      BLOB    NOT NULL DEFAULT x'',
	UNIQUE (stream, version)
);
CREATE TABLE checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_at INTEGER NOT NULL);
PRAGMA application_id = 1095978580;
PRAGMA user_version = 2;
`

// writeSchema2File writes a schema-2 file of 7 events in two streams, each chained, except that
// the event at position broken carries a wrong link. It returns the events and their links.
func writeSchema2File(t *testing.T, path string, broken eventstore.Position) []eventstore.ChainedEvent {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(schema2SQL); err != nil {
		t.Fatal(err)
	}
	heads := map[string]eventstore.Hash{}
	versions := map[string]uint64{}
	var out []eventstore.ChainedEvent
	for i := range 7 {
		stream := fmt.Sprint("legacy-", i%2)
		ev := eventstore.ChainedEvent{RecordedEvent: eventstore.RecordedEvent{
			ID: uuid.Must(uuid.NewV7()), Stream: stream, Type: "test.legacy", SchemaVersion: 1 + i%2,
			Data: fmt.Appendf(nil, `{"n":%d}`, i),
			Metadata: eventstore.Metadata{CorrelationID: fmt.Sprint("corr-", i), CausationID: "cause", Actor: "actor:x",
				RecordedAt: time.Unix(1_700_000_000+int64(i), 0).UTC()},
			Version: versions[stream], Position: eventstore.Position(i + 1),
		}}
		ev.PrevHash = heads[stream]
		if ev.Position == broken {
			ev.PrevHash[0] ^= 0xff
		}
		heads[stream] = eventstore.ChainHash(heads[stream], &ev.RecordedEvent)
		versions[stream]++
		md := ev.Metadata
		if _, err := db.Exec(`INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			int64(ev.Position), ev.ID[:], ev.Stream, int64(ev.Version), ev.Type, ev.SchemaVersion, ev.Data,
			md.CorrelationID, md.CausationID, md.Actor, md.RecordedAt.UnixNano(), ev.PrevHash[:]); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// TestSchema2FileIsMigratedKeepingItsChain opens a schema-2 file: a read-only opening refuses
// it with a clear error; a read-write opening migrates it, every event reads back the same,
// with the chain link it had, a broken one included (a migration never mends a chain), and
// appends chain on.
func TestSchema2FileIsMigratedKeepingItsChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	want := writeSchema2File(t, path, 4)

	if _, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true}); !errors.Is(err, sqlite.ErrOldSchema) {
		t.Fatalf("read-only opening of a schema-2 file: %v, want ErrOldSchema", err)
	}
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadAllChained(ctx, eventstore.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d events after the migration, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Stream != w.Stream || g.Version != w.Version || g.Position != w.Position || g.Type != w.Type ||
			g.SchemaVersion != w.SchemaVersion || !bytes.Equal(g.Data, w.Data) || g.Metadata != w.Metadata || g.PrevHash != w.PrevHash {
			t.Fatalf("event %d after the migration:\n got %+v\nwant %+v", i, g, w)
		}
	}
	evs, err := s.ReadStream(ctx, "legacy-1", eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].Position != 6 {
		t.Fatalf("last event of legacy-1: %+v, %v", evs, err)
	}
	res, err := s.Append(ctx, "legacy-1", eventstore.Exact(2), eventstore.EventData{Type: "test.after", SchemaVersion: 1, Data: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.ReadAllChained(ctx, res.Position-1, 1)
	if err != nil || len(after) != 1 {
		t.Fatalf("read the new event: %v", err)
	}
	if last := want[5]; after[0].PrevHash != last.Hash() {
		t.Fatal("the first append after the migration does not chain to the stream's last event")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != 3 {
		t.Fatalf("schema version after the migration: %d, %v", version, err)
	}
}
