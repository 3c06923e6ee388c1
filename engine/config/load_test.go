package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/graph"
)

const good = `build_root: out
workers: 3
modules:
  - name: lib
    source: {url: repos/lib}
  - name: app
    source: {url: repos/app, branch: main}
    depends: [lib]
    env: ["CFLAGS=-O2"]
    timeout: 5m
    trust: network
`

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "autobuild.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadGood(t *testing.T) {
	p := write(t, good)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	if c.BuildRoot != filepath.Join(dir, "out") || c.Workers != 3 {
		t.Errorf("build_root %q workers %d", c.BuildRoot, c.Workers)
	}
	app := c.Module("app")
	if app.Timeout != 5*time.Minute || app.Trust != "network" || app.Env[0] != "CFLAGS=-O2" || app.Command != DefaultCommand {
		t.Errorf("app = %+v", app)
	}
	if lib := c.Module("lib"); lib.Trust != DefaultLevel || lib.Source.URL != filepath.Join(dir, "repos/lib") {
		t.Errorf("lib = %+v", lib)
	}
	if c.Publish.Dir != filepath.Join(dir, "out", "public_html") {
		t.Errorf("publish dir %q", c.Publish.Dir)
	}
	if c.BuildUIDs != (UIDRange{First: 200000, Count: 100000}) {
		t.Errorf("build_uids %+v, want the default range", c.BuildUIDs)
	}
}

func TestEnvOverride(t *testing.T) {
	t.Setenv("AUTOBUILD_WORKERS", "7")
	c, err := Load(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Workers != 7 {
		t.Errorf("workers = %d, want 7 from the environment", c.Workers)
	}
}

// mod is a file with one good module a, and extra lines after it.
func mod(extra string) string {
	return "modules:\n  - name: a\n    source: {url: /r/a}\n" + extra
}

// loadErrorCase is a YAML file Load must refuse: the key, the line and
// part of the message it must name.
type loadErrorCase struct {
	name, body, key string
	line            int
	msg             string
}

var loadErrorCases = []loadErrorCase{
	{"unknown top key", "bogus: 1\n" + mod(""), "bogus", 1, "unknown key"},
	{"unknown module key", mod("    colour: red\n"), "modules[0].colour", 4, "unknown key"},
	{"unknown source key", "modules:\n  - name: a\n    source: {url: /r/a, brnch: x}\n", "modules[0].source.brnch", 3, "unknown key"},
	{"keys keep their case", "Workers: 3\n" + mod(""), "Workers", 1, "unknown key (known here: build_root, workers,"},
	{"duplicate", mod("  - name: a\n    source: {url: /r/b}\n"), "modules[1].name", 4, `defined twice (first as modules[0], line 2)`},
	{"unknown dep", mod("    depends: [ghost]\n"), "modules[0].depends[0]", 4, `unknown module "ghost"`},
	{"cycle", "modules:\n  - name: a\n    source: {url: /r/a}\n    depends: [b]\n  - name: b\n    source: {url: /r/b}\n    depends: [a]\n", "modules[0].depends", 4, "dependency cycle: a → b → a"},
	{"bad trust", mod("    trust: root\n"), "modules[0].trust", 4, `unknown trust level "root"`},
	{"trust in another case", "levels:\n  WithProxy: {network: outgoing}\n" + mod("    trust: withproxy\n"), "modules[0].trust", 6, `did you mean "WithProxy"?`},
	{"bad timeout", mod("    timeout: soon\n"), "modules[0].timeout", 4, `"soon" is not a duration; write e.g. 90s, 5m or 1h30m`},
	{"negative timeout", mod("    timeout: -5m\n"), "modules[0].timeout", 4, "must not be negative"},
	{"negative workers", "workers: -1\n" + mod(""), "workers", 1, "must be from 0 to 1024, not -1"},
	{"too many workers", "workers: 1025\n" + mod(""), "workers", 1, "must be from 0 to 1024, not 1025"},
	{"workers 1e10", "workers: 1e10\n" + mod(""), "workers", 1, "must be a whole number, not the number 1e10"},
	{"workers beyond int64", "workers: 99999999999999999999\n" + mod(""), "workers", 1, "must be a whole number"},
	{"workers as text", "workers: many\n" + mod(""), "workers", 1, `must be a whole number, not "many"`},
	{"bool as text", "allow_weaker_confinement: sometimes\n" + mod(""), "allow_weaker_confinement", 1, `must be true or false, not "sometimes"`},
	{"no url", "modules:\n  - name: a\n", "modules[0].source.url", 2, "missing"},
	{"no name", "modules:\n  - source: {url: /r/a}\n", "modules[0].name", 2, "missing"},
	{"two pins", "modules:\n  - name: a\n    source: {url: /r/a, branch: x, tag: y}\n", "modules[0].source", 3, "at most one"},
	{"bad env", mod("    env: [NOEQUALS]\n"), "modules[0].env[0]", 4, "KEY=VALUE"},
	{"reserved env", mod("    env: [AUTOBUILD_MODULE=x]\n"), "modules[0].env[0]", 4, "set by the engine"},
	{"bad name", "modules:\n  - name: ../x\n    source: {url: /r/a}\n", "modules[0].name", 2, "not a valid module name"},
	{"no modules", "workers: 1\n", "modules", 1, "no modules"},
	{"empty file", "", "modules", 1, "no modules"},
	{"modules not a list", "modules: {a: 1}\n", "modules", 1, "must be a list, not a mapping"},
	{"module not a mapping", "modules: [a]\n", "modules[0]", 1, `must be a mapping of keys (name, source,`},
	{"not a mapping", "- a\n- b\n", "", 1, "must be a mapping of keys"},
	{"bad yaml", "modules: [\n", "", 1, "invalid YAML"},
	{"duplicate key", "workers: 1\nworkers: 2\n" + mod(""), "", 2, `key "workers" is defined twice (first on line 1)`},
	{"tab indent", "modules:\n\t- name: a\n", "", 2, "invalid YAML"},
	{"control character", "workers: 1\nbuild_root: \"a\x01\"\n" + mod(""), "", 2, "invalid YAML"},
	{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", "", 0, "aliases expand to too many values"},
	{"level clash", "levels:\n  isolated: {network: none}\n" + mod(""), "levels.isolated", 2, "built-in level"},
	{"level clash in case", "levels:\n  Isolated: {network: none}\n" + mod(""), "levels.Isolated", 2, `only in case`},
	{"level network", "levels:\n  mine: {network: lan}\n" + mod(""), "levels.mine.network", 2, "must be"},
	{"unknown kind", "modules:\n  - name: a\n    source: {kind: cvs, url: /r/a}\n", "modules[0].source.kind", 3, `unknown source kind "cvs" (known: [git])`},
	{"short commit", "modules:\n  - name: a\n    source: {url: /r/a, commit: abc123}\n", "modules[0].source.commit", 3, "40-digit"},
	{"uids below 1000", "build_uids: {first: 10, count: 5}\n" + mod(""), "build_uids.first", 1, "from 1000"},
	{"uids beyond uid_t", "build_uids: {first: 9223372036854775000, count: 1000}\n" + mod(""), "build_uids.first", 1, "to 2147483646"},
	{"too few uids", "build_uids: {first: 300000, count: 1}\n" + mod("  - name: b\n    source: {url: /r/b}\n"), "build_uids.count", 1, "2 modules"},
	{"uid key", "build_uids: {start: 300000}\n" + mod(""), "build_uids.start", 1, "unknown key"},
	{"level limits", "levels:\n  mine: {limits: {processes: -1}}\n" + mod(""), "levels.mine.limits.processes", 2, "negative"},
	{"level memory overflows", "levels:\n  mine: {limits: {memory_mb: 9000000000000}}\n" + mod(""), "levels.mine.limits.memory_mb", 2, "more than any machine has"},
	{"unknown base", "levels:\n  mine:\n    base: Isolated\n" + mod(""), "levels.mine.base", 3, `unknown built-in level "Isolated"`},
	{"publish keep", "publish: {keep: 0}\n" + mod(""), "publish.keep", 1, "at least 1"},
	{"publish title control", "workers: 1\npublish:\n  title: \"bell\\a\"\n" + mod(""), "publish.title", 3, "no control or invisible character"},
	{"publish commit url placeholder", "publish: {commit_url: \"https://git.example.org/{repo}/commit/{revision}\"}\n" + mod(""), "publish.commit_url", 1, "unknown placeholder {repo}"},
	{"publish commit url scheme", "publish: {commit_url: \"javascript:{revision}\"}\n" + mod(""), "publish.commit_url", 1, "http:// or https://"},
	{"publish title long", "publish: {title: " + strings.Repeat("x", 101) + "}\n" + mod(""), "publish.title", 1, "at most 100 characters"},
}

func TestLoadErrors(t *testing.T) {
	for _, tt := range loadErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, tt.body)
			_, err := Load(p)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want *config.Error", err, err)
			}
			if ce.File != p || ce.Key != tt.key || (tt.line != 0 && ce.Line != tt.line) || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %q (key %q line %d), want key %q line %d msg containing %q", err, ce.Key, ce.Line, tt.key, tt.line, tt.msg)
			}
			if ce.Line < 1 {
				t.Errorf("%q names no line", err)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	var ce *Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not unwrap to fs.ErrNotExist", err)
	}
}

// A config error keeps its cause for errors.As: a cycle is still a
// *graph.CycleError naming the modules.
func TestErrorUnwrapsItsCause(t *testing.T) {
	p := write(t, "modules:\n  - name: a\n    source: {url: /r/a}\n    depends: [b]\n  - name: b\n    source: {url: /r/b}\n    depends: [a]\n")
	_, err := Load(p)
	var ce *graph.CycleError
	if !errors.As(err, &ce) || len(ce.Path) != 3 {
		t.Fatalf("err = %v (%T), want a *graph.CycleError inside", err, err)
	}
}
