package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/sandbox"
)

// fuzzFormats are the formats FuzzLoad writes, by its format argument.
var fuzzFormats = []string{"yaml", "toml", "json"}

func fuzzFormat(ext string) uint8 {
	for i, f := range fuzzFormats {
		if f == ext {
			return uint8(i)
		}
	}
	return 0
}

// FuzzLoad: whatever the file holds, Load does not panic, and returns
// either a configuration that keeps every rule or a *Error naming the file
// and the line of the problem (no variable is set: every problem is in the
// file). Seeds: every case of the tests and the files in testdata/.
// `make test-go` fuzzes it for a while; crashers go to
// testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	for _, o := range overrides {
		f.Setenv(o.env, "") // empty is unset
	}
	f.Add(fuzzFormat("yaml"), good)
	f.Add(fuzzFormat("toml"), goodTOML)
	f.Add(fuzzFormat("json"), goodJSON)
	for _, c := range loadErrorCases {
		f.Add(fuzzFormat("yaml"), c.body)
	}
	for _, c := range formatErrorCases {
		f.Add(fuzzFormat(c.format), c.body)
	}
	for _, extra := range []string{
		"    timeout: 5\n", "    timeout: 5 minutes\n", "    timeout: 1e400\n",
		"  - name: a_b\n    source: {url: /r/b}\n", "  - name: a.restored\n    source: {url: /r/b}\n",
		"  - name: " + strings.Repeat("x", MaxNameLen+1) + "\n    source: {url: /r/b}\n",
		"    source: {url: /r/a, commit: 1234567}\n", "    trust: WithProxy\nlevels:\n  WithProxy: {}\n",
	} {
		f.Add(fuzzFormat("yaml"), mod(extra))
	}
	f.Add(fuzzFormat("yaml"), "build_root: /srv/ab\npublish: {dir: /srv/ab/sites}\n"+mod(""))
	f.Add(fuzzFormat("yaml"), "workers: 1e10\n"+mod(""))
	// The crasher of TOML's parser: nesting deep enough to overflow the
	// stack (tomlTooDeep refuses it first), plain and behind strings.
	f.Add(fuzzFormat("toml"), "a = "+strings.Repeat("[", 2_000_000))
	f.Add(fuzzFormat("toml"), "a = [\"\"\"x\"\"\"\", "+strings.Repeat("[", maxDepth+1))
	f.Add(fuzzFormat("toml"), "a = ["+strings.Repeat(`"]", [`, maxDepth+1))
	files, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fuzzFormat(strings.TrimPrefix(filepath.Ext(p), ".")), string(b))
	}
	if b, err := os.ReadFile(filepath.Join("..", "..", "dist", "autobuild.yaml.example")); err == nil {
		f.Add(fuzzFormat("yaml"), string(b))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, format uint8, body string) {
		p := filepath.Join(dir, "autobuild."+fuzzFormats[int(format)%len(fuzzFormats)])
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p)
		if err != nil {
			var ce *Error
			switch {
			case !errors.As(err, &ce):
				t.Fatalf("error %q is a %T, not a *config.Error", err, err)
			case ce.File != p:
				t.Fatalf("error %q names the file %q, not %q", err, ce.File, p)
			case ce.Line < 1:
				t.Fatalf("error %q names no line", err)
			case ce.Msg == "" || ce.Env != "":
				t.Fatalf("error %#v", ce)
			}
			return
		}
		checkValid(t, c, p)
	})
}

// checkValid checks what Load promises of a configuration it returns.
func checkValid(t *testing.T, c *Config, p string) {
	t.Helper()
	if c.File != p || !filepath.IsAbs(c.BuildRoot) || !filepath.IsAbs(c.Publish.Dir) {
		t.Fatalf("paths: file %q build root %q publish %q", c.File, c.BuildRoot, c.Publish.Dir)
	}
	if ValidateWorkers(c.Workers) != nil || c.Publish.Keep < 1 || c.Archive.Keep < 1 || c.BuildUIDs.First < 1000 || c.BuildUIDs.Count < len(c.Modules) {
		t.Fatalf("numbers: %+v", c)
	}
	if len(c.Modules) == 0 {
		t.Fatal("no modules")
	}
	builtin := sandbox.Builtin()
	forms := map[string]bool{}
	for _, m := range c.Modules {
		if msg := checkName(m.Name); msg != "" {
			t.Fatalf("module %q: %s", m.Name, msg)
		}
		for _, f := range nameForms(m.Name) {
			if forms[f.form] {
				t.Fatalf("module %q shares %s %s", m.Name, f.what, f.form)
			}
			forms[f.form] = true
		}
		if m.Timeout <= 0 || m.Source.URL == "" || m.Command == "" {
			t.Fatalf("module %+v", m)
		}
		if _, ok := builtin[m.Trust]; !ok {
			if _, ok := c.Levels[m.Trust]; !ok {
				t.Fatalf("module %q: unknown level %q", m.Name, m.Trust)
			}
		}
	}
}
