package auditors_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/auditors"
)

func TestAuditorTokens(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/auditors.json"
	token, err := auditors.Add(path, "alice", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), token) || !strings.Contains(string(raw), auditors.HashToken(token)) {
		t.Fatalf("the file must hold the token's hash only: %s", raw)
	}
	_, hash, _ := auditors.NewToken()
	a, err := auditors.Parse("bob:"+hash, path)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := a.Authenticate(token); err != nil || name != "alice" {
		t.Fatalf("alice: %q %v", name, err)
	}
	if _, err := a.Authenticate(token + "x"); err == nil {
		t.Fatal("a wrong token was accepted")
	}
	if _, err := auditors.Parse("Bad Name:zz, ok:12", ""); err == nil || !strings.Contains(err.Error(), "Bad Name") || !strings.Contains(err.Error(), "'ok'") {
		t.Fatalf("want every bad entry named: %v", err)
	}
}
