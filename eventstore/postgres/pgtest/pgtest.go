// Package pgtest gives tests a PostgreSQL database of their own, on the server that the
// ASSENT_TEST_POSTGRES_URL variable names (a role that may create databases). Without the
// variable the tests skip and say so, except under CI, where a missing server fails them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the variable that names the test server.
const EnvURL = "ASSENT_TEST_POSTGRES_URL"

// Database creates a new, empty database, drops it (closing whatever is still connected) when
// the test ends, and returns its connection string.
func Database(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests (.ci/run starts a server)", EnvURL)
		}
		t.Skipf("PostgreSQL tests skipped: %s is not set (.ci/run installs and starts a server and sets it)", EnvURL)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "assent_test_" + hex.EncodeToString(b[:])
	admin(t, base, `CREATE DATABASE `+name)
	t.Cleanup(func() { admin(t, base, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u.Path = "/" + name
	return u.String()
}

func admin(t testing.TB, base, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to the test server (%s): %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// HoldTransaction begins a transaction on its own connection to the database at url and gives
// it a transaction ID, so that it holds back every reader's horizon until it ends. The test
// rolls it back (or commits it); the connection closes when the test ends.
func HoldTransaction(t testing.TB, ctx context.Context, url string) pgx.Tx {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	return tx
}
