package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeAs writes body as autobuild.<format> in a folder of its own.
func writeAs(t testing.TB, format, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "autobuild."+format)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// good, as TOML and as JSON.
const goodTOML = `build_root = "out"
workers = 3

[[modules]]
name = "lib"
source = {url = "repos/lib"}

[[modules]]
name = "app"
source.url = "repos/app"
source.branch = "main"
depends = ["lib"]
env = ["CFLAGS=-O2"]
timeout = "5m"
trust = "network"
`

const goodJSON = `{
  "build_root": "out",
  "workers": 3,
  "modules": [
    {"name": "lib", "source": {"url": "repos/lib"}},
    {
      "name": "app",
      "source": {"url": "repos/app", "branch": "main"},
      "depends": ["lib"],
      "env": ["CFLAGS=-O2"],
      "timeout": "5m",
      "trust": "network"
    }
  ]
}
`

// One configuration reads the same in every format.
func TestFormatsAgree(t *testing.T) {
	want, err := Load(writeAs(t, "yaml", good))
	if err != nil {
		t.Fatal(err)
	}
	for format, body := range map[string]string{"toml": goodTOML, "json": goodJSON, "yml": good} {
		t.Run(format, func(t *testing.T) {
			p := writeAs(t, format, body)
			got, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			// Paths are relative to each file's own folder.
			rel := func(c *Config) Config {
				d := filepath.Dir(c.File)
				x := *c
				x.File, x.BuildRoot, x.Publish.Dir = "", strings.TrimPrefix(x.BuildRoot, d), strings.TrimPrefix(x.Publish.Dir, d)
				x.Modules = append([]Module(nil), c.Modules...)
				for i := range x.Modules {
					x.Modules[i].Source.URL = strings.TrimPrefix(x.Modules[i].Source.URL, d)
					x.Modules[i].Sources = append([]Source(nil), x.Modules[i].Sources...)
					for j := range x.Modules[i].Sources {
						x.Modules[i].Sources[j].URL = strings.TrimPrefix(x.Modules[i].Sources[j].URL, d)
					}
				}
				return x
			}
			if g, w := rel(got), rel(want); !reflect.DeepEqual(g, w) {
				t.Errorf("%s reads\n%+v\nYAML reads\n%+v", format, g, w)
			}
		})
	}
}

// formatErrorCases are files in each format Load must refuse, with the
// key, line and message it must name.
var formatErrorCases = []struct {
	name, format, body, key string
	line                    int
	msg                     string
}{
	{"toml syntax", "toml", "workers = 3\nbuild_root = \n", "", 2, "invalid TOML"},
	{"toml unknown key", "toml", "workers = 3\n\n[[modules]]\nname = \"a\"\ncolour = \"red\"\n", "modules[0].colour", 5, "unknown key"},
	{"toml unknown nested key", "toml", "[[modules]]\nname = \"a\"\n[modules.source]\nurl = \"/r/a\"\nbrnch = \"x\"\n", "modules[0].source.brnch", 5, "unknown key"},
	{"toml bare duration", "toml", "[[modules]]\nname = \"a\"\nsource = {url = \"/r/a\"}\ntimeout = 5\n", "modules[0].timeout", 4, `5 has no unit; write e.g. timeout = "5m"`},
	{"toml numeric commit", "toml", "[[modules]]\nname = \"a\"\nsource.url = \"/r/a\"\nsource.commit = 1234567\n", "modules[0].source.commit", 4, `quote it: commit = "1234567"`},
	{"toml date tag", "toml", "[[modules]]\nname = \"a\"\nsource = {url = \"/r/a\", tag = 2024-01-01}\n", "modules[0].source.tag", 3, `must be a string, not the date 2024-01-01`},
	{"toml second module", "toml", "[[modules]]\nname = \"a\"\nsource = {url = \"/r/a\"}\n\n[[modules]]\nname = \"b\"\n", "modules[1].source.url", 5, "missing"},
	{"toml collision", "toml", "[[modules]]\nname = \"a-b\"\nsource = {url = \"/r/a\"}\n[[modules]]\nname = \"a_b\"\nsource = {url = \"/r/b\"}\n", "modules[1].name", 5, `(modules[0], line 2) would share the variable`},
	{"toml workers float", "toml", "workers = 1e10\n[[modules]]\nname = \"a\"\nsource = {url = \"/r/a\"}\n", "workers", 1, "must be a whole number"},
	{"toml level", "toml", "[levels.mine]\nnetwork = \"lan\"\n[[modules]]\nname = \"a\"\nsource = {url = \"/r/a\"}\n", "levels.mine.network", 2, "must be"},
	{"toml inline modules", "toml", "modules = [\n  {name = \"a\", source = {url = \"/r/a\"}},\n  {name = \"b\"},\n]\n", "modules[1].source.url", 3, "missing"},
	{"toml dependency", "toml", "[[modules]]\nname = \"a\"\nsource = {url = \"/r/a\"}\ndepends = [\n  \"b\",\n  \"ghost\",\n]\n[[modules]]\nname = \"b\"\nsource = {url = \"/r/b\"}\n", "modules[0].depends[1]", 6, `unknown module "ghost"`},
	{"toml no modules", "toml", "workers = 1\n", "modules", 1, "no modules"},
	{"toml publish dir", "toml", "build_root = \"/srv/ab\"\n[publish]\ndir = \"/srv/ab/sites\"\n[[modules]]\nname = \"a\"\nsource = {url = \"/r/a\"}\n", "publish.dir", 3, "inside the build root"},
	{"toml duplicate key", "toml", "workers = 1\nworkers = 2\n", "", 2, "invalid TOML"},
	{"json syntax", "json", "{\n  \"workers\": 3,\n  \"modules\": [\n}\n", "", 4, "invalid JSON"},
	{"json truncated", "json", "{\n  \"workers\": 3,\n", "", 3, "invalid JSON"},
	{"json unknown key", "json", "{\n  \"workers\": 3,\n  \"modules\": [\n    {\"name\": \"a\",\n     \"colour\": \"red\"}\n  ]\n}\n", "modules[0].colour", 5, "unknown key"},
	{"json bare duration", "json", "{\"modules\": [\n {\"name\": \"a\",\n  \"source\": {\"url\": \"/r/a\"},\n  \"timeout\": 300}\n]}\n", "modules[0].timeout", 4, `300 has no unit; write e.g. "timeout": "300m"`},
	{"json numeric commit", "json", "{\"modules\": [\n {\"name\": \"a\",\n  \"source\": {\"url\": \"/r/a\",\n    \"commit\": 1234567}}\n]}\n", "modules[0].source.commit", 4, `quote it: "commit": "1234567"`},
	{"json validation", "json", "{\"modules\": [\n {\"name\": \"a\",\n  \"source\": {\"url\": \"/r/a\"},\n  \"trust\": \"root\"}\n]}\n", "modules[0].trust", 4, `unknown trust level "root"`},
	{"json missing url", "json", "{\"modules\": [\n {\"name\": \"a\"},\n {\"name\": \"b\"}\n]}\n", "modules[0].source.url", 2, "missing"},
	{"json workers fraction", "json", "{\n\"workers\": 2.5,\n\"modules\": []}\n", "workers", 2, "must be a whole number, not the number 2.5"},
	{"json duplicate key", "json", "{\n\"workers\": 1,\n\"workers\": 2\n}\n", "", 3, `key "workers" is defined twice (first on line 2)`},
	{"json trailing", "json", "{\"workers\": 1}\n{}\n", "", 2, "more after the top-level value"},
	{"json not an object", "json", "\n[1, 2]\n", "", 2, "must be a mapping"},
	{"json keys keep case", "json", "{\n\"Workers\": 1\n}\n", "Workers", 2, "unknown key"},
	{"unknown extension", "conf", "workers: 1\n", "", 0, "cannot read a .conf file: name it .yaml, .toml or .json"},
}

// Every error names its line, whatever the format: syntax errors, keys
// the schema does not know, values of the wrong type, and validation.
func TestErrorLinesInEveryFormat(t *testing.T) {
	for _, tt := range formatErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			p := writeAs(t, tt.format, tt.body)
			ce := loadErr(t, p)
			if ce.File != p || ce.Key != tt.key || ce.Line != tt.line || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %q (key %q line %d), want key %q line %d msg containing %q", ce, ce.Key, ce.Line, tt.key, tt.line, tt.msg)
			}
		})
	}
}

// YAML anchors and merge keys read as YAML says; aliases cannot blow up.
func TestYAMLAliases(t *testing.T) {
	c, err := Load(write(t, "modules:\n  - &lib\n    name: lib\n    source: &src {url: /r/lib, branch: main}\n  - name: app\n    source: *src\n    depends: [lib]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Modules[1].Source.Branch != "main" || c.Modules[1].Source.URL != "/r/lib" {
		t.Errorf("alias: %+v", c.Modules[1].Source)
	}
	c, err = Load(write(t, "modules:\n  - &base\n    name: lib\n    source: {url: /r/lib}\n    trust: network\n    timeout: 5m\n  - <<: *base\n    name: app\n"))
	if err != nil {
		t.Fatal(err)
	}
	if app := c.Modules[1]; app.Name != "app" || app.Trust != "network" || app.Source.URL != "/r/lib" {
		t.Errorf("merge: %+v", app)
	}
}

// readmeExample is the configuration README.md shows.
func readmeExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no Configuration section")
	}
	_, after, ok = strings.Cut(after, "```yaml\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("the Configuration section of README.md has no yaml example")
	}
	return block
}

// The README's example loads, and testdata holds it in TOML and JSON.
func TestREADMEExample(t *testing.T) {
	want, err := Load(writeAs(t, "yaml", readmeExample(t)))
	if err != nil {
		t.Fatalf("README.md's example: %v", err)
	}
	if lv := want.Levels["with-proxy"]; lv.Network != "outgoing" || lv.Limits.MemoryMB != 16384 || want.Modules[0].Timeout.String() != "30m0s" {
		t.Errorf("README.md's example reads %+v", want)
	}
	for _, format := range []string{"toml", "json"} {
		got, err := Load(filepath.Join("testdata", "readme."+format))
		if err != nil {
			t.Fatal(err)
		}
		got.File = want.File
		if !reflect.DeepEqual(got, want) {
			t.Errorf("testdata/readme.%s reads\n%+v\nREADME.md's example\n%+v", format, got, want)
		}
	}
}

// The example configuration the package installs loads as it is.
func TestShippedExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "dist", "autobuild.yaml.example"))
	if os.IsNotExist(err) {
		t.Skip("no dist/autobuild.yaml.example")
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(writeAs(t, "yaml", string(b))); err != nil {
		t.Errorf("dist/autobuild.yaml.example: %v", err)
	}
}

// A file nested deeper than maxDepth is an error at its line in every
// format, however the nesting is dressed (TOML's parser would otherwise
// overflow the stack, which nothing recovers from); brackets inside
// strings and comments nest nothing.
func TestDeepNesting(t *testing.T) {
	const deep = 1_000_000
	open := strings.Repeat("[", deep)
	alternating := strings.Repeat(`"]", [`, deep/6)
	tests := []struct {
		name, format, body string
		line               int
		msg                string
	}{
		{"toml arrays", "toml", "workers = 1\na = " + open, 2, "nested more than 10000 deep"},
		{"toml inline tables", "toml", "a = " + strings.Repeat("{b = ", deep/5), 1, "nested more than 10000 deep"},
		{"toml after a multi-line string", "toml", "a = [\"\"\"x\"\"\"\", " + open, 1, "nested more than 10000 deep"},
		{"toml after a literal string", "toml", "a = ['''x''''', " + open, 1, "nested more than 10000 deep"},
		{"toml among strings", "toml", "a = [" + alternating, 1, "nested more than 10000 deep"},
		{"toml after an escaped quote", "toml", `a = ["\"", ` + open, 1, "nested more than 10000 deep"},
		{"json", "json", "\n" + open, 2, "nested too deeply"},
		{"yaml", "yaml", open, 1, "max depth"},
		{"yaml lists", "yaml", strings.Repeat("- ", deep/2), 1, "max depth"},
		// Controls: the same brackets in strings and comments, and a
		// nesting within the bound, are read (and then refused as values).
		{"toml brackets in a string", "toml", `build_root = "` + strings.Repeat("[{", deep/2) + "\"\n", 1, "no modules"},
		{"toml brackets in a multi-line string", "toml", "build_root = '''\n" + strings.Repeat("[", deep) + "'''\n", 1, "no modules"},
		{"toml brackets in a comment", "toml", "# " + open + "\nworkers = 1\n", 1, "no modules"},
		{"toml nested within the bound", "toml", "build_root = " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", 1, "must be a string, not a list"},
		{"json nested within the bound", "json", `{"build_root": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}", 1, "must be a string, not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeAs(t, tt.format, tt.body)
			ce := loadErr(t, p)
			if ce.File != p || ce.Line != tt.line || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %.200q (line %d), want line %d and %q", ce, ce.Line, tt.line, tt.msg)
			}
		})
	}
}
