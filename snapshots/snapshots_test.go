package snapshots_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/assent-dev/assent/localdb"
	"github.com/assent-dev/assent/snapshots"
)

func TestSnapshotsAreSavedReplacedAndKeptAcrossOpens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := localdb.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshots.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Snapshot(ctx, "account-a"); ok || err != nil {
		t.Fatalf("snapshot of a stream never saved: ok %v, %v; want none", ok, err)
	}
	first := snapshots.Snapshot{Version: 99, LastID: uuid.New(), Schema: 1, Data: []byte(`{"v":99}`)}
	older := snapshots.Snapshot{Version: 40, LastID: uuid.New(), Schema: 2, Data: []byte(`{"v":40}`)}
	other := snapshots.Snapshot{Version: 7, LastID: uuid.New(), Schema: 1, Data: []byte(`{}`)}
	for _, c := range []struct {
		stream string
		snap   snapshots.Snapshot
	}{{"account-a", first}, {"account-b", other}} {
		if err := s.SaveSnapshot(ctx, c.stream, c.snap); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *snapshots.Store, stream string, want snapshots.Snapshot) {
		t.Helper()
		got, ok, err := s.Snapshot(ctx, stream)
		if err != nil || !ok || got.Version != want.Version || got.LastID != want.LastID || got.Schema != want.Schema || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("snapshot of %s = %+v, %v, %v; want %+v", stream, got, ok, err, want)
		}
	}
	check(s, "account-a", first)
	check(s, "account-b", other)
	// The newest save wins, even of an earlier version: the stream may have been restored.
	if err := s.SaveSnapshot(ctx, "account-a", older); err != nil {
		t.Fatal(err)
	}
	check(s, "account-a", older)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = localdb.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err = snapshots.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	check(s, "account-a", older)
	check(s, "account-b", other)
}
