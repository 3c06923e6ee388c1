package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/build"
)

// loadErr loads body and returns its *Error, failing the test when Load
// accepts it or returns anything else.
func loadErr(t *testing.T, p string) *Error {
	t.Helper()
	c, err := Load(p)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load = %+v, %v (%T), want a *config.Error", c, err, err)
	}
	return ce
}

// A duration is written with a unit; a bare number is not nanoseconds.
func TestDurationsNeedUnits(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration // 0: an error containing msg
		msg   string
	}{
		{"5m", 5 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"90s", 90 * time.Second, ""},
		{`"5m"`, 5 * time.Minute, ""},
		{"5", 0, "modules[0].timeout: 5 has no unit; write e.g. timeout: 5m (90s, 5m or 1h30m)"},
		{"0", 0, "modules[0].timeout: 0 has no unit"},
		{`"5"`, 0, "modules[0].timeout: 5 has no unit"},
		{"1.5", 0, "modules[0].timeout: 1.5 has no unit; write e.g. timeout: 5m"},
		{"5 minutes", 0, `modules[0].timeout: "5 minutes" is not a duration; write e.g. 90s, 5m or 1h30m`},
		{"999999999h", 0, `modules[0].timeout: "999999999h" is not a duration`},
		{"true", 0, `modules[0].timeout: the boolean true is not a duration`},
		{"[5m]", 0, `modules[0].timeout: a list is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			p := write(t, mod("    timeout: "+tt.value+"\n"))
			if tt.want != 0 {
				c, err := Load(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := c.Modules[0].Timeout; got != tt.want {
					t.Errorf("timeout %s = %v, want %v", tt.value, got, tt.want)
				}
				return
			}
			ce := loadErr(t, p)
			if ce.Line != 4 || !strings.Contains(ce.Error(), p+":4: "+tt.msg) {
				t.Errorf("got %q, want %q at line 4", ce, tt.msg)
			}
		})
	}
}

// A pin is text: a number is never converted (a float would turn a
// 40-digit hash into 1.2345678901234568e+39), it is an error that says how
// to quote it.
func TestPinsAreStrings(t *testing.T) {
	hash := "1234567890123456789012345678901234567890"
	tests := []struct {
		source string
		msg    string // "": loads, with the pin as written
	}{
		{"{url: /r/a, commit: " + hash + "}", `must be a string, not the number ` + hash + `: quote it: commit: "` + hash + `"`},
		{"{url: /r/a, commit: 1234567}", `modules[0].source.commit: must be a string, not the number 1234567: quote it: commit: "1234567"`},
		{"{url: /r/a, tag: 1.10}", `modules[0].source.tag: must be a string, not the number 1.10: quote it: tag: "1.10"`},
		{"{url: /r/a, branch: 2024}", `quote it: branch: "2024"`},
		{"{url: /r/a, branch: true}", `must be a string, not the boolean true: quote it: branch: "true"`},
		{"{url: 7}", `modules[0].source.url: must be a string, not the number 7`},
		{`{url: /r/a, commit: "` + hash + `"}`, ""},
		{`{url: /r/a, tag: "1.10"}`, ""},
		{`{url: /r/a, tag: 2024-01-01}`, ""}, // a date as text is the text
		{`{url: /r/a, tag: v1.0}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			p := write(t, "modules:\n  - name: a\n    source: "+tt.source+"\n")
			if tt.msg == "" {
				c, err := Load(p)
				if err != nil {
					t.Fatal(err)
				}
				s := c.Modules[0].Source
				if got := s.Branch + s.Tag + s.Commit; !strings.Contains(tt.source, got) || got == "" {
					t.Errorf("pin %q, want it as written in %s", got, tt.source)
				}
				return
			}
			ce := loadErr(t, p)
			if ce.Line != 3 || !strings.Contains(ce.Error(), tt.msg) {
				t.Errorf("got %q, want line 3 and %q", ce, tt.msg)
			}
		})
	}
}

// Two modules whose names differ would still share a derived name: the
// variable their dependents get, a log file. Both are named, with lines.
func TestNameCollisions(t *testing.T) {
	tests := []struct {
		a, b string
		msg  string // "": both load
	}{
		{"a-b", "a_b", `"a_b" and "a-b" (modules[0], line 2) would share the variable AUTOBUILD_DEP_A_B_ROOT: rename one`},
		{"a.b", "a-b", `would share the variable AUTOBUILD_DEP_A_B_ROOT`},
		{"a+b", "a_b", `would share the variable AUTOBUILD_DEP_A_B_ROOT`},
		{"Lib", "lib", `"lib" and "Lib" (modules[0], line 2) would share the variable AUTOBUILD_DEP_LIB_ROOT`},
		{"x", "x.restored", `"x.restored" and "x" (modules[0], line 2) would share the log file x.restored.log: rename one`},
		{"x.restored", "x", `"x" and "x.restored" (modules[0], line 2) would share the log file x.restored.log`},
		{"a", "a.log", ""},
		{"ab", "a-b", ""},
		{"a", "b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			p := write(t, fmt.Sprintf("modules:\n  - name: %s\n    source: {url: /r/a}\n  - name: %s\n    source: {url: /r/b}\n", tt.a, tt.b))
			if tt.msg == "" {
				if _, err := Load(p); err != nil {
					t.Fatal(err)
				}
				return
			}
			ce := loadErr(t, p)
			if ce.Key != "modules[1].name" || ce.Line != 4 || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %q (line %d), want modules[1].name at line 4: %q", ce, ce.Line, tt.msg)
			}
		})
	}
}

// DepEnvVar is the variable the build step really sets.
func TestDepEnvVarIsTheBuildsVariable(t *testing.T) {
	for _, name := range []string{"lib", "a-b", "a.b", "A+b_c", "x.restored"} {
		env, _ := build.Env(build.Request{Module: "app", Deps: []build.Dep{{Name: name, Root: "/r/" + name}}}, func(string) bool { return false })
		want := DepEnvVar(name) + "=/r/" + name
		if !slices.Contains(env, want) {
			t.Errorf("the build of a dependent of %q has no %s (env %q)", name, want, env)
		}
	}
}

// A name is refused by Load, not at run time, when a file named after it
// would not fit a file name.
func TestNameLength(t *testing.T) {
	longest := strings.Repeat("n", MaxNameLen)
	// The longest file named after a module: the temporary file its state
	// is written through.
	if n := len("." + longest + ".json" + "9223372036854775807"); n > 255 {
		t.Fatalf("a %d-byte name makes a %d-byte file name", MaxNameLen, n)
	}
	if _, err := Load(write(t, "modules:\n  - name: "+longest+"\n    source: {url: /r/a}\n")); err != nil {
		t.Fatalf("a %d-byte name: %v", MaxNameLen, err)
	}
	ce := loadErr(t, write(t, "modules:\n  - name: "+longest+"x\n    source: {url: /r/a}\n"))
	if ce.Key != "modules[0].name" || ce.Line != 2 || !strings.Contains(ce.Msg, "201 bytes is too long for a module name (at most 200") {
		t.Errorf("got %q", ce)
	}
}

// publish.dir becomes a symlink the engine swaps: never one of the build
// root's folders (but its own public_html), never a folder holding it.
func TestPublishDir(t *testing.T) {
	tests := []struct {
		root, pub string
		msg       string // "": loads
	}{
		{"/srv/ab", "/var/www/ab", ""},
		{"/srv/ab", "/srv/ab/public_html", ""},
		{"/srv/ab", "/srv/ab/public_html/", ""},
		{"/srv/ab", "/srv/abc", ""},
		{"/srv/ab", "/srv/ab", "is the build root"},
		{"/srv/ab", "/srv/ab/", "is the build root"},
		{"/srv/ab", "/srv/ab/sites", "inside the build root /srv/ab"},
		{"/srv/ab", "/srv/ab/log-root/site", "inside the build root"},
		{"/srv/ab", "/srv/ab/public_html/x", "inside the build root"},
		{"/srv/ab", "/srv/ab/x/../sites", "inside the build root"},
		{"/srv/ab", "/srv", "holds the build root /srv/ab"},
		{"/srv/ab", "/", "holds the build root"},
		{"out", "out/site", "inside the build root"},
		{"out", ".", "holds the build root"},
	}
	for _, tt := range tests {
		t.Run(tt.root+" "+tt.pub, func(t *testing.T) {
			p := write(t, fmt.Sprintf("build_root: %s\npublish:\n  dir: %s\n", tt.root, tt.pub)+mod(""))
			if tt.msg == "" {
				c, err := Load(p)
				if err != nil {
					t.Fatal(err)
				}
				if c.Publish.Dir != filepath.Clean(tt.pub) {
					t.Errorf("publish.dir = %q", c.Publish.Dir)
				}
				return
			}
			ce := loadErr(t, p)
			if ce.Key != "publish.dir" || ce.Line != 3 || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %q (line %d), want publish.dir at line 3: %q", ce, ce.Line, tt.msg)
			}
		})
	}
}

// Only the documented variables override the file.
func TestEnvOverrides(t *testing.T) {
	t.Setenv("AUTOBUILD_BUILD_ROOT", "/srv/env-root")
	t.Setenv("AUTOBUILD_WORKERS", "7")
	t.Setenv("AUTOBUILD_ALLOW_WEAKER_CONFINEMENT", "true")
	t.Setenv("AUTOBUILD_SCM_LEVEL", "network")
	// Not overrides: the engine reads none of these.
	t.Setenv("AUTOBUILD_PUBLISH_DIR", "/tmp/elsewhere")
	t.Setenv("AUTOBUILD_PUBLISH_KEEP", "9")
	t.Setenv("AUTOBUILD_ARCHIVE_DISABLED", "true")
	t.Setenv("AUTOBUILD_MODULES", "x")
	t.Setenv("AUTOBUILD_BUILD_UIDS_FIRST", "5")
	c, err := Load(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if c.BuildRoot != "/srv/env-root" || c.Workers != 7 || !c.AllowWeakerConfinement || c.SCMLevel != "network" {
		t.Errorf("the documented overrides did not apply: %+v", c)
	}
	if c.Publish.Dir != "/srv/env-root/public_html" || c.Publish.Keep != 3 || c.Archive.Disabled || len(c.Modules) != 2 || c.BuildUIDs.First != 200000 {
		t.Errorf("an undocumented variable changed the configuration: %+v", c)
	}
}

func TestEnvOverrideKeepsTheFileWithoutIt(t *testing.T) {
	t.Setenv("AUTOBUILD_WORKERS", "")
	c, err := Load(write(t, good))
	if err != nil || c.Workers != 3 {
		t.Fatalf("workers = %v, %v; want the file's 3 (an empty variable is unset)", c, err)
	}
}

// A bad value from the environment names the variable, not a line of the
// file.
func TestEnvOverrideErrors(t *testing.T) {
	tests := []struct {
		env, value, key, msg string
	}{
		{"AUTOBUILD_WORKERS", "many", "workers", `must be a whole number, not "many"`},
		{"AUTOBUILD_WORKERS", "5000", "workers", "must be from 0 to 1024, not 5000"},
		{"AUTOBUILD_ALLOW_WEAKER_CONFINEMENT", "perhaps", "allow_weaker_confinement", `must be true or false, not "perhaps"`},
		{"AUTOBUILD_SCM_LEVEL", "nope", "scm_level", `unknown trust level "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			p := write(t, good)
			ce := loadErr(t, p)
			if ce.Env != tt.env || ce.Key != tt.key || ce.Line != 0 || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %#v", ce)
			}
			want := tt.env + " (environment, overriding " + tt.key + " of " + p + "): "
			if !strings.HasPrefix(ce.Error(), want) {
				t.Errorf("%q does not start %q", ce, want)
			}
		})
	}
}

func TestValidateWorkers(t *testing.T) {
	for n, ok := range map[int]bool{-1: false, 0: true, 1: true, MaxWorkers: true, MaxWorkers + 1: false, 1 << 40: false} {
		if err := ValidateWorkers(n); (err == nil) != ok {
			t.Errorf("ValidateWorkers(%d) = %v", n, err)
		}
	}
}

// Level names keep their case in every format: a level named WithProxy
// is the one a module's trust: WithProxy means.
func TestLevelNamesKeepCase(t *testing.T) {
	files := map[string]string{
		"yaml": "levels:\n  WithProxy: {network: outgoing}\n  withproxy: {network: none}\nmodules:\n  - name: a\n    source: {url: /r/a}\n    trust: WithProxy\n",
		"toml": "[levels.WithProxy]\nnetwork = \"outgoing\"\n[levels.withproxy]\nnetwork = \"none\"\n[[modules]]\nname = \"a\"\nsource = {url = \"/r/a\"}\ntrust = \"WithProxy\"\n",
		"json": `{"levels": {"WithProxy": {"network": "outgoing"}, "withproxy": {"network": "none"}}, "modules": [{"name": "a", "source": {"url": "/r/a"}, "trust": "WithProxy"}]}`,
	}
	for format, body := range files {
		t.Run(format, func(t *testing.T) {
			c, err := Load(writeAs(t, format, body))
			if err != nil {
				t.Fatal(err)
			}
			if c.Modules[0].Trust != "WithProxy" || c.Levels["WithProxy"].Network != "outgoing" || c.Levels["withproxy"].Network != "none" {
				t.Errorf("trust %q, levels %+v", c.Modules[0].Trust, c.Levels)
			}
		})
	}
}
