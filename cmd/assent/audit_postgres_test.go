package main

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assent-dev/assent/eventstore/postgres/pgtest"
)

// TestAuditCommandsReadAPostgreSQLLog: `assent audit verify`, `export` and `timeline` with
// --postgres read the shared log of PostgreSQL nodes directly, with the keys of a node's data
// directory: verify passes on the nodes' log (with the checkpoints they signed) and fails once
// an event's data is changed in the database; export prints every event.
func TestAuditCommandsReadAPostgreSQLLog(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	keys := newSecretKey(t, "k1")
	n := startPostgresNode(t, dsn, keys)
	browser := n.account(t, "audited@example.com")
	link(t, n, browser, newPhone(t, "audited phone"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.srv.audit.cp.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(n.srv.audit.cp.PublicKey())
	dir := t.TempDir() // no keyring and no anchor: the key is given, checkpoints are in the log

	out, err := runCLI(t, "audit", "verify", "--postgres", dsn, "--data-dir", dir, "--key", key)
	if err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("verify of the nodes' log: %v\n%s", err, out)
	}
	out, err = runCLI(t, "audit", "export", "--postgres", dsn, "--data-dir", dir)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"type":"account.registered"`) || !strings.Contains(out, `"type":"device.linked"`) || !strings.Contains(out, "audit.checkpoint") {
		t.Fatalf("export lacks the registration, the link or the checkpoint:\n%.2000s", out)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Change the registration's data, which the checkpoint covers (its time: the email is sealed).
	if _, err := conn.Exec(ctx, `UPDATE events SET data = convert_to(replace(convert_from(data, 'UTF8'), '"at":"2', '"at":"1'), 'UTF8') WHERE type = 'account.registered'`); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "audit", "verify", "--postgres", dsn, "--data-dir", dir, "--key", key)
	if err == nil || strings.Contains(out, "OK") && !strings.Contains(out, "FAIL") {
		t.Fatalf("verify passed over a changed event: %v\n%s", err, out)
	}
}
