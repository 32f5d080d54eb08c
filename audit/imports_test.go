package audit_test

import (
	"go/build"
	"strings"
	"testing"
)

// The auditor's side does not depend on the server's checkpoint writer: package audit, and
// every package of the module it imports, leave audit/checkpointer out.
func TestTheAuditorDoesNotImportTheWriter(t *testing.T) {
	const module, writer = "github.com/assent-dev/assent/", "github.com/assent-dev/assent/audit/checkpointer"
	seen := map[string]bool{}
	var walk func(path, from string)
	walk = func(path, from string) {
		if seen[path] {
			return
		}
		seen[path] = true
		if path == writer {
			t.Errorf("%s imports %s", from, writer)
			return
		}
		pkg, err := build.Default.Import(path, ".", 0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			if strings.HasPrefix(imp, module) {
				walk(imp, path)
			}
		}
	}
	walk(module+"audit", "")
	if !seen[module+"audit/checkpoint"] {
		t.Fatal("the walk did not reach the shared format, audit/checkpoint: it follows nothing")
	}
}
