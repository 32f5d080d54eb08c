package bearer_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assent-dev/assent/bearer"
)

var (
	readers = bearer.Kind{Prefix: "rd_", List: "readers", Option: "reader-tokens", Scope: "readers", Token: "reader token"}
	writers = bearer.Kind{Prefix: "wr_", List: "writers", Option: "writer-tokens", Scope: "writers", Token: "writer token"}
)

// A token added to a kind's file authenticates under its name with that kind only, and never
// with another kind, even one given the same hash; a wrong token and a nil set authenticate
// nobody.
func TestTokensAuthenticateWithTheirOwnKindOnly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "readers.json")
	token, err := readers.Add(path, "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "rd_") {
		t.Fatalf("token %q lacks the kind's prefix", token)
	}
	set, err := readers.Parse("", path)
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := set.Authenticate(token); !ok || name != "alice" || set.Len() != 1 {
		t.Fatalf("Authenticate = %q, %v; Len %d", name, ok, set.Len())
	}
	if _, ok := set.Authenticate(token + "x"); ok {
		t.Fatal("a changed token authenticated")
	}
	other, err := writers.Parse("bob:"+bearer.HashToken(token), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := other.Authenticate(token); ok {
		t.Fatal("a reader token authenticated as a writer")
	}
	var none *bearer.Set
	if _, ok := none.Authenticate(token); ok || none.Len() != 0 {
		t.Fatal("a nil set authenticated")
	}
}

// Every bad entry of the option is reported at once, naming the option; a bad file names the
// file and the expected form; a bad name is refused before anything is written.
func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := readers.Parse("Bad Name:00, carol:nothex", "")
	if err == nil || strings.Count(err.Error(), "option 'reader-tokens'") != 2 {
		t.Fatalf("error %v, want both entries reported", err)
	}
	path := filepath.Join(t.TempDir(), "readers.json")
	if _, err := readers.Add(path, "Not Valid", time.Now()); err == nil {
		t.Fatal("a bad name was added")
	}
	if _, err := readers.Parse("", path); err != nil {
		t.Fatalf("a file never written: %v", err)
	}
}
