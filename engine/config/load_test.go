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

func TestLoadErrors(t *testing.T) {
	mod := func(extra string) string {
		return "modules:\n  - name: a\n    source: {url: /r/a}\n" + extra
	}
	tests := []struct {
		name, body, key string
		line            int
		msg             string
	}{
		{"unknown top key", "bogus: 1\n" + mod(""), "bogus", 1, "unknown key"},
		{"unknown module key", mod("    colour: red\n"), "modules[0].colour", 4, "unknown key"},
		{"unknown source key", "modules:\n  - name: a\n    source: {url: /r/a, brnch: x}\n", "modules[0].source.brnch", 3, "unknown key"},
		{"duplicate", mod("  - name: a\n    source: {url: /r/b}\n"), "modules[1].name", 4, "defined twice"},
		{"unknown dep", mod("    depends: [ghost]\n"), "modules[0].depends[0]", 4, `unknown module "ghost"`},
		{"cycle", "modules:\n  - name: a\n    source: {url: /r/a}\n    depends: [b]\n  - name: b\n    source: {url: /r/b}\n    depends: [a]\n", "modules[0].depends", 4, "dependency cycle: a → b → a"},
		{"bad trust", mod("    trust: root\n"), "modules[0].trust", 4, `unknown trust level "root"`},
		{"bad timeout", mod("    timeout: soon\n"), "modules[0].timeout", 4, "invalid duration"},
		{"negative workers", "workers: -1\n" + mod(""), "workers", 1, "must be 0"},
		{"no url", "modules:\n  - name: a\n", "modules[0].source.url", 2, "missing"},
		{"two pins", "modules:\n  - name: a\n    source: {url: /r/a, branch: x, tag: y}\n", "modules[0].source", 3, "at most one"},
		{"bad env", mod("    env: [NOEQUALS]\n"), "modules[0].env[0]", 4, "KEY=VALUE"},
		{"reserved env", mod("    env: [AUTOBUILD_MODULE=x]\n"), "modules[0].env[0]", 4, "set by the engine"},
		{"bad name", "modules:\n  - name: ../x\n    source: {url: /r/a}\n", "modules[0].name", 2, "not a valid module name"},
		{"no modules", "workers: 1\n", "modules", 0, "no modules"},
		{"bad yaml", "modules: [\n", "", 0, "invalid YAML"},
		{"level clash", "levels:\n  isolated: {network: none}\n" + mod(""), "levels.isolated", 2, "built-in level"},
		{"level network", "levels:\n  mine: {network: lan}\n" + mod(""), "levels.mine.network", 2, "must be"},
		{"unknown kind", "modules:\n  - name: a\n    source: {kind: cvs, url: /r/a}\n", "modules[0].source.kind", 3, `unknown source kind "cvs" (known: [git])`},
		{"short commit", "modules:\n  - name: a\n    source: {url: /r/a, commit: abc123}\n", "modules[0].source.commit", 3, "40-digit"},
		{"uids below 1000", "build_uids: {first: 10, count: 5}\n" + mod(""), "build_uids.first", 1, "1000 or more"},
		{"too few uids", "build_uids: {first: 300000, count: 1}\n" + mod("  - name: b\n    source: {url: /r/b}\n"), "build_uids.count", 1, "2 modules"},
		{"uid key", "build_uids: {start: 300000}\n" + mod(""), "build_uids.start", 1, "unknown key"},
		{"level limits", "levels:\n  mine: {limits: {processes: -1}}\n" + mod(""), "levels.mine.limits.processes", 2, "negative"},
	}
	for _, tt := range tests {
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
