package audit_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/assent-dev/assent/audit"
	"github.com/assent-dev/assent/eventstore/sqlite"
	"github.com/assent-dev/assent/localdb"
)

// benchCheckpointer is the checkpointer BenchmarkCheckpoint measures, its tables in dir.
func benchCheckpointer(b *testing.B, s *sqlite.Store, key ed25519.PrivateKey, dir string) *audit.Checkpointer {
	db, err := localdb.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return audit.NewCheckpointer(audit.CheckpointerConfig{Log: s, Appender: s, Key: key, DB: db})
}
