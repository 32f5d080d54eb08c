package config

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	gotoml "github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"
)

// optionAnnotation marks a flag with the option it sets, so that Load knows which options a
// command takes (two options share the flag name --server, and two --token).
const optionAnnotation = "assent-option"

// Register adds to fs a flag for each named option, and --config; a flag fs already has is
// left as it is. The flag's help names its environment variable; its default is the option's,
// but never a secret one's.
func Register(fs *pflag.FlagSet, names ...string) {
	defaults := Defaults()
	for _, name := range append([]string{ConfigOption}, names...) {
		o, ok := lookup(name)
		if !ok {
			panic("config: Register of an undeclared option '" + name + "'")
		}
		if fs.Lookup(o.FlagName()) != nil {
			continue
		}
		fs.String(o.FlagName(), defaults.Get(o.Name), fmt.Sprintf("%s (env %s)", o.Usage, o.Env))
		_ = fs.SetAnnotation(o.FlagName(), optionAnnotation, []string{o.Name})
	}
}

// taken returns the names of the options whose flags Register added to fs: the options the
// command takes.
func taken(fs *pflag.FlagSet) map[string]bool {
	names := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) {
		if a := f.Annotations[optionAnnotation]; len(a) == 1 {
			names[a[0]] = true
		}
	})
	return names
}

// Load reads the options of the command whose flags are fs (those Register added): each from
// its flag if given, else its environment variable (environ is os.Environ() in production),
// else the TOML file named by --config or ASSENT_CONFIG, else its default. It validates them
// and reports every problem at once, each naming the option and where its value came from.
// Options the command does not take are neither read nor checked, but every key of the file
// must be an option: the file is shared by every command.
func Load(fs *pflag.FlagSet, environ []string) (Config, error) {
	c := Defaults()
	takes := taken(fs)
	var errs []error

	flags := koanf.New(".")
	if err := flags.Load(posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
		if a := f.Annotations[optionAnnotation]; len(a) == 1 && f.Changed {
			return a[0], f.Value.String()
		}
		return "", nil
	}), nil); err != nil {
		return c, err
	}
	vars := koanf.New(".")
	byEnv := map[string]string{}
	for _, o := range Options {
		byEnv[o.Env] = o.Name
	}
	if err := vars.Load(env.Provider("", env.Opt{Prefix: "ASSENT_",
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(k, v string) (string, any) {
			if name, ok := byEnv[k]; ok {
				return name, v
			}
			return "", nil // another ASSENT_* variable: not an option
		}}), nil); err != nil {
		return c, err
	}

	path := vars.String(ConfigOption)
	if flags.Exists(ConfigOption) {
		path = flags.String(ConfigOption)
	}
	c.File = path
	inFile := koanf.New(".")
	if path != "" {
		errs = append(errs, readFile(inFile, path)...)
	}

	merged := koanf.New(".")
	for _, layer := range []*koanf.Koanf{inFile, vars, flags} { // the last wins
		if err := merged.Merge(layer); err != nil {
			return c, err
		}
	}
	failed := map[string]bool{}
	for _, o := range Options {
		if o.Name == ConfigOption || !takes[o.Name] || !merged.Exists(o.Name) {
			continue
		}
		v, err := value(merged.Get(o.Name), o)
		if err == nil {
			err = o.assign(&c, v)
		}
		if err != nil {
			failed[o.Name] = true
			switch {
			case flags.Exists(o.Name):
			case vars.Exists(o.Name):
				err = fmt.Errorf("%w (from %s)", err, o.Env)
			default:
				err = fmt.Errorf("%w (from the file '%s')", err, path)
			}
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.validate(func(o Option) bool { return takes[o.Name] && !failed[o.Name] }))
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// readFile loads the TOML file at path into k, and returns its problems: a file that cannot
// be read or parsed, and each key that is not an option.
func readFile(k *koanf.Koanf, path string) []error {
	err := k.Load(file.Provider(path), toml.Parser())
	var syntax *gotoml.DecodeError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return []error{fmt.Errorf("server: option 'config' must name a file that exists but it's configured as '%s'", path)}
	case errors.As(err, &syntax):
		row, col := syntax.Position()
		return []error{fmt.Errorf("server: the configuration file '%s' must be TOML, but line %d, column %d says: %s", path, row, col, syntax.Error())}
	case err != nil:
		return []error{fmt.Errorf("server: option 'config' must name a readable TOML file but '%s' cannot be read: %w", path, err)}
	}
	var errs []error
	for _, key := range k.Keys() {
		if o, ok := lookup(key); !ok || o.NotInFile {
			errs = append(errs, fmt.Errorf("server: the configuration file '%s' has the key '%s', which is not an option%s", path, key, suggest(key)))
		}
	}
	return errs
}

// value is the text of an option's value: flags and variables are text already; the file may
// give a string, a number or a boolean, and an array of strings for a list.
func value(v any, o Option) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []any:
		if !o.List {
			return "", fmt.Errorf("server: option '%s' must be one value, not a list", o.Name)
		}
		items := make([]string, 0, len(v))
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				return "", fmt.Errorf("server: option '%s' must be a list of strings but it holds '%v'", o.Name, item)
			}
			items = append(items, s)
		}
		return strings.Join(items, ","), nil
	case map[string]any:
		return "", fmt.Errorf("server: option '%s' must be a value, not a table", o.Name)
	default:
		return fmt.Sprint(v), nil
	}
}

// suggest names the declared option closest to a key that is not one, when one is close.
func suggest(key string) string {
	best, dist := "", 3 // more than two edits away: no suggestion
	for _, o := range Options {
		if o.NotInFile {
			continue
		}
		if d := editDistance(key, o.Name); d < dist {
			best, dist = o.Name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean '%s'?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = slices.Min([]int{prev[j] + 1, cur[j-1] + 1, prev[j-1] + cost})
		}
		prev = cur
	}
	return prev[len(b)]
}
