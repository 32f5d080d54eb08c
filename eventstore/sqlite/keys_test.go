package sqlite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/assent-dev/assent/eventstore"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/eventstore/storetest"
)

// A destroyed key is gone from the files themselves, the database and its WAL, while the
// store stays open and after it is closed: not only from what queries return.
func TestDestroyedKeyLeavesNoBytesInTheFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 60)
	rand.Read(key)
	if _, err := s.CreateSubjectKey(ctx, "account-1", key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSubjectKey(ctx, "account-2", []byte("another account's key, kept")); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := s.Append(ctx, "stream-1", eventstore.Any(), storetest.Event("test.appended", i)); err != nil {
			t.Fatal(err)
		}
	}
	holds := func() bool {
		for _, f := range []string{path, path + "-wal"} {
			raw, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if bytes.Contains(raw, key) {
				return true
			}
		}
		return false
	}
	if !holds() {
		t.Fatal("the files do not hold the key before its destruction: the scan would prove nothing")
	}
	if err := s.DestroySubjectKey(ctx, "account-1"); err != nil {
		t.Fatal(err)
	}
	if holds() {
		t.Fatal("the files still hold the destroyed key while the store is open")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if holds() {
		t.Fatal("the files still hold the destroyed key after close")
	}
	s, err = sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if k, err := s.SubjectKey(ctx, "account-2"); err != nil || string(k) != "another account's key, kept" {
		t.Fatalf("the other key after reopening: %q, %v", k, err)
	}
}
