package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The settings for Test-AutoBuild's scripts: their defaults, and the
// global env merged under each module's own.
func TestLegacySettings(t *testing.T) {
	c, err := Load(write(t, mod("")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Counter != CounterRun || c.TimestampFormat != TimestampRFC3339 || c.InstallRoot != InstallRootMerged ||
		c.Modules[0].InstallRoot != InstallRootMerged || !c.Modules[0].MergedInstallRoot() || len(c.Modules[0].Env) != 0 {
		t.Errorf("defaults: counter %q, timestamp_format %q, install_root %q, module's %q, env %q",
			c.Counter, c.TimestampFormat, c.InstallRoot, c.Modules[0].InstallRoot, c.Modules[0].Env)
	}

	c, err = Load(write(t, `counter: changelist
timestamp_format: epoch
install_root: own
env: ["CFLAGS=-O2", "LANGUAGE=fr", "EMPTY="]
modules:
  - name: a
    source: {url: /r/a}
    env: ["CFLAGS=-g", "OWN=1"]
  - name: b
    source: {url: /r/b}
    install_root: merged
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Counter != CounterChangelist || c.TimestampFormat != TimestampEpoch {
		t.Errorf("counter %q, timestamp_format %q", c.Counter, c.TimestampFormat)
	}
	a, b := c.Modules[0], c.Modules[1]
	if a.InstallRoot != InstallRootOwn || a.MergedInstallRoot() || b.InstallRoot != InstallRootMerged || !b.MergedInstallRoot() {
		t.Errorf("install_root: a %q, b %q: the global one is the default, a module's wins", a.InstallRoot, b.InstallRoot)
	}
	// The global env first, less what the module sets, then the module's:
	// its own value wins wherever the build looks.
	if want := []string{"LANGUAGE=fr", "EMPTY=", "CFLAGS=-g", "OWN=1"}; !slices.Equal(a.Env, want) {
		t.Errorf("a's env = %q, want %q", a.Env, want)
	}
	if want := []string{"CFLAGS=-O2", "LANGUAGE=fr", "EMPTY="}; !slices.Equal(b.Env, want) {
		t.Errorf("b's env = %q, want %q", b.Env, want)
	}
}

// Every counter Test-AutoBuild had is accepted.
func TestLegacyCounters(t *testing.T) {
	for _, v := range Counters {
		c, err := Load(write(t, "counter: "+v+"\n"+mod("")))
		if err != nil || c.Counter != v {
			t.Errorf("counter: %s: %v, %+v", v, err, c)
		}
	}
}

// A bad value names the file, the line, the key and the problem.
func TestLegacyErrors(t *testing.T) {
	tests := []struct {
		name, body, key string
		line            int
		msg             string
	}{
		{"counter", "counter: Test::AutoBuild::Counter::Time\n" + mod(""), "counter", 1,
			`must be "run", "time", "timestamp" or "changelist", not "Test::AutoBuild::Counter::Time"`},
		{"counter type", "counter: 3\n" + mod(""), "counter", 1, "must be a string"},
		{"timestamp_format", "timestamp_format: iso\n" + mod(""), "timestamp_format", 1, `must be "rfc3339" or "epoch", not "iso"`},
		{"install_root", "install_root: shared\n" + mod(""), "install_root", 1, `must be "merged" or "own", not "shared"`},
		{"module install_root", mod("    install_root: Merged\n"), "modules[0].install_root", 4, `must be "merged" or "own", not "Merged"`},
		{"env not a list", "env: {CFLAGS: -O2}\n" + mod(""), "env", 1, "must be a list"},
		{"env without =", "env:\n  - CFLAGS\n" + mod(""), "env[0]", 2, `must be KEY=VALUE, not "CFLAGS"`},
		{"env empty key", "env: [\"=x\"]\n" + mod(""), "env[0]", 1, "must be KEY=VALUE"},
		{"env twice", "env:\n  - A=1\n  - B=2\n  - A=3\n" + mod(""), "env[2]", 4, "A is set twice (first in env[0])"},
		{"env sets the engine's", "env:\n  - AUTOBUILD_INSTALL_ROOT=/usr\n" + mod(""), "env[0]", 2, "AUTOBUILD_INSTALL_ROOT is set by the engine"},
		{"env sets Test-AutoBuild's", "env:\n  - AUTO_BUILD_ROOT=/usr\n" + mod(""), "env[0]", 2, "AUTO_BUILD_ROOT is set by the engine"},
		{"module env sets Test-AutoBuild's", mod("    env: [AUTO_BUILD_COUNTER=1]\n"), "modules[0].env[0]", 4, "AUTO_BUILD_COUNTER is set by the engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, tt.body)
			ce := loadErr(t, p)
			if ce.File != p || ce.Key != tt.key || ce.Line != tt.line || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %q (key %q line %d), want %s:%d: %s: …%s…", ce, ce.Key, ce.Line, p, tt.line, tt.key, tt.msg)
			}
			if !strings.HasPrefix(ce.Error(), p+":") {
				t.Errorf("%q does not start with the file and line", ce)
			}
		})
	}
}

// The example of README.md's section on Test-AutoBuild scripts loads,
// and means what the section says.
func TestREADMELegacyExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n## Running Test-AutoBuild scripts unchanged\n")
	_, after, ok2 := strings.Cut(after, "```yaml\n")
	block, _, ok3 := strings.Cut(after, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md's section on Test-AutoBuild scripts has no yaml example")
	}
	c, err := Load(write(t, block))
	if err != nil {
		t.Fatalf("README.md's example: %v", err)
	}
	if c.Counter != CounterTime || c.TimestampFormat != TimestampEpoch || !c.Modules[1].MergedInstallRoot() ||
		!slices.Equal(c.Modules[1].Env, []string{"LC_ALL=C"}) {
		t.Errorf("README.md's example reads %+v", c)
	}
}
