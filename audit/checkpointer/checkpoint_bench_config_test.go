package checkpointer_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/assent-dev/assent/audit/checkpointer"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/localdb"
)

// benchCheckpointer is the checkpointer BenchmarkCheckpoint measures, its tables in dir.
func benchCheckpointer(b *testing.B, s *sqlite.Store, key ed25519.PrivateKey, dir string) *checkpointer.Checkpointer {
	db, err := localdb.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return checkpointer.New(checkpointer.Config{Log: s, Appender: s, Key: key, DB: db})
}
