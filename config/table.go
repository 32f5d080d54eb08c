package config

import (
	"fmt"
	"strings"
)

// Table is the README's table of options, in Markdown, made from Options: the flag, the
// environment variable, the key in the configuration file, the default and the meaning.
func Table() string {
	var b strings.Builder
	b.WriteString("| flag | variable | file key | default | meaning |\n| --- | --- | --- | --- | --- |\n")
	for _, o := range Options {
		flag := "`--" + o.FlagName() + "`"
		if o.Commands != "" {
			flag += " of " + o.Commands
		}
		key := "`" + o.Name + "`"
		if o.NotInFile {
			key = "—"
		}
		def := o.DefaultDoc
		if def == "" {
			def = "`" + o.Default + "`"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", flag, o.Env, key, def, o.Doc)
	}
	return b.String()
}
