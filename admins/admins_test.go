package admins

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAddParseAuthenticate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), File)
	token, err := Add(path, "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, TokenPrefix) {
		t.Fatalf("token %q lacks the prefix", token)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), token) {
		t.Fatal("the file holds the token")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the file's mode is %v", fi.Mode().Perm())
	}
	other, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse("bob:"+hash, path)
	if err != nil || a.Len() != 2 {
		t.Fatalf("parse: %d, %v", a.Len(), err)
	}
	for tok, want := range map[string]string{token: "alice", other: "bob"} {
		if name, err := a.Authenticate(tok); err != nil || name != want {
			t.Errorf("authenticate %s: %q %v", want, name, err)
		}
	}
	for _, bad := range []string{"", TokenPrefix + "forged", "asa_" + strings.TrimPrefix(token, TokenPrefix), strings.TrimPrefix(token, TokenPrefix)} {
		if _, err := a.Authenticate(bad); !errors.Is(err, ErrUnknown) {
			t.Errorf("authenticate %q: %v", bad, err)
		}
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), File)
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Parse("Alice:00,bob:zz", path)
	for _, want := range []string{"the name 'Alice'", "the hash of 'bob'", "is not valid JSON"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if _, err := Add(path, "no spaces allowed", time.Now()); err == nil {
		t.Error("a bad name was added")
	}
}
