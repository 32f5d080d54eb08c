package localdb_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/assent-dev/assent/localdb"
)

func TestOpenCreatesAnOwnerOnlyFileThatKeepsWhatWasCommitted(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := localdb.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Writer.ExecContext(ctx, `CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, localdb.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	db, err = localdb.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.Reader.QueryRowContext(ctx, `SELECT v FROM t`).Scan(&v); err != nil || v != 7 {
		t.Fatalf("read back %d, %v; want 7", v, err)
	}
}
