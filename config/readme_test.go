package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/assent-dev/assent/config"
)

var update = flag.Bool("update", false, "rewrite the README's table of options from config.Options")

const (
	tableBegin = "<!-- options: begin (made from config.Options; go test ./config -run TestREADMETable -update rewrites it) -->\n"
	tableEnd   = "<!-- options: end -->\n"
)

// TestREADMETable: the README's Configuration table is exactly the one made from the declared
// options: every option, and no other.
func TestREADMETable(t *testing.T) {
	const path = "../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	begin, end := strings.Index(readme, tableBegin), strings.Index(readme, tableEnd)
	if begin < 0 || end < begin {
		t.Fatalf("the README has no table of options between %q and %q", tableBegin, tableEnd)
	}
	got, want := readme[begin+len(tableBegin):end], config.Table()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme[:begin+len(tableBegin)]+want+readme[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	gotRows, wantRows := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(gotRows), len(wantRows)); i++ {
		g, w := "", ""
		if i < len(gotRows) {
			g = gotRows[i]
		}
		if i < len(wantRows) {
			w = wantRows[i]
		}
		if g != w {
			t.Errorf("README row %d:\n have %s\n want %s", i+1, g, w)
		}
	}
	t.Fatal("the README's table of options differs from config.Options: go test ./config -run TestREADMETable -update rewrites it")
}

// TestOptionsAreDeclaredOnce: no two options share a name or a variable, and every option has
// its variable, its help and its README description.
func TestOptionsAreDeclaredOnce(t *testing.T) {
	t.Parallel()
	names, envs := map[string]bool{}, map[string]bool{}
	for _, o := range config.Options {
		if names[o.Name] || envs[o.Env] {
			t.Errorf("option %q or variable %q declared twice", o.Name, o.Env)
		}
		names[o.Name], envs[o.Env] = true, true
		if !strings.HasPrefix(o.Env, "ASSENT_") || o.Usage == "" || o.Doc == "" {
			t.Errorf("option %q lacks its variable, help or description: %+v", o.Name, o)
		}
		if o.Default == "" && o.DefaultDoc == "" {
			t.Errorf("option %q says nothing of its default", o.Name)
		}
	}
}

// TestREADMEExampleFileLoads: the example file of the README is a valid configuration, every
// key of it an option.
func TestREADMEExampleFileLoads(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- example: begin -->\n```toml\n")
	example, _, ok2 := strings.Cut(rest, "```\n<!-- example: end -->")
	if !ok || !ok2 {
		t.Fatal("the README has no example file between its markers")
	}
	path := writeFile(t, example)
	var all []string
	for _, o := range config.Options {
		all = append(all, o.Name)
	}
	c, err := config.Load(command(t, []string{"--config", path}, all...), nil)
	if err != nil {
		t.Fatalf("the README's example file: %v", err)
	}
	if c.DataDir != "/var/lib/assent" || c.TrustedProxies != "10.0.0.0/8,192.0.2.7" {
		t.Fatalf("the example read as %+v", c)
	}
}

// TestDeploymentFilesUseDeclaredVariables: every ASSENT_* variable the compose files and the
// Dockerfile set is a declared option's.
func TestDeploymentFilesUseDeclaredVariables(t *testing.T) {
	t.Parallel()
	declared := map[string]bool{}
	for _, o := range config.Options {
		declared[o.Env] = true
	}
	files, err := filepath.Glob("../docker-compose*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no compose file: %v", err)
	}
	variable := regexp.MustCompile(`ASSENT_[A-Z0-9_]+`)
	for _, f := range append(files, "../Dockerfile") {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range variable.FindAllString(string(raw), -1) {
			if !declared[v] {
				t.Errorf("%s sets %s, which is no option", f, v)
			}
		}
	}
}
