package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/assent-dev/assent/storegen"
)

// TestLoadtestStartupTimesAServerOnAGeneratedStore generates a small store, runs the startup
// measurement on it with the built binary, and checks that it printed each figure and that
// every sign-in passed.
func TestLoadtestStartupTimesAServerOnAGeneratedStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := storegen.Generate(ctx, storegen.Config{DataDir: dir, Accounts: 50, Events: 500, Seed: "startup"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := startupOptions{DataDir: dir, Binary: buildBinary(t), SignIns: 4, Concurrency: 2, Timeout: 2 * 60e9}
	if err := runStartup(ctx, o, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		`store: 50 accounts, about 500 events`,
		`/healthz answered 200 after \d`,
		`/readyz  answered 200 after \d`,
		`resident memory when ready: \d+\.\d MiB`,
		`4 sign-ins \(password, then TOTP code\), 0 refused; latency n=4 p50`,
		`resident memory after the sign-ins: \d+\.\d MiB`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("the output does not match %q:\n%s", want, out.String())
		}
	}
}

// TestLinkedAccountsAreDistinctAndHave2FA: the sign-ins of one run go to different accounts,
// each with a device.
func TestLinkedAccountsAreDistinctAndHave2FA(t *testing.T) {
	t.Parallel()
	m := storegen.Manifest{Accounts: 1000, LinkedEvery: 5}
	seen := map[int]bool{}
	for k := range 800 {
		i := linkedAccount(m, k)
		if i < 0 || i >= m.Accounts || !m.Linked(i) || seen[i] {
			t.Fatalf("sign-in %d goes to account %d (linked %v, seen %v)", k, i, m.Linked(i), seen[i])
		}
		seen[i] = true
	}
}
