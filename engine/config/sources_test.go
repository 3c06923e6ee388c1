package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// A module may combine several sources, each checked out into a folder
// of its own; a module of one source has it in Sources too.
func TestSeveralSources(t *testing.T) {
	p := write(t, `modules:
  - name: both
    sources:
      - {path: code, url: r/code, branch: main}
      - {path: data, url: /r/data, kind: git}
  - {name: one, source: {url: /r/one}, command: make}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	both := c.Module("both")
	if len(both.Sources) != 2 || both.Sources[0].Path != "code" || both.Sources[0].URL != filepath.Join(filepath.Dir(p), "r/code") ||
		both.Sources[0].Kind != "git" || both.Sources[0].Branch != "main" || both.Sources[1].Path != "data" {
		t.Errorf("both: sources %+v", both.Sources)
	}
	if both.Command != `cd code && ./autobuild.sh "$@"` {
		t.Errorf("both: command %q, want the first source's autobuild.sh", both.Command)
	}
	if one := c.Module("one"); len(one.Sources) != 1 || one.Sources[0] != one.Source || one.Sources[0].Path != "" {
		t.Errorf("one: source %+v, sources %+v", one.Source, one.Sources)
	}
	for _, tt := range []struct{ body, key, msg string }{
		{`modules:
  - {name: m, source: {url: /r/a}, sources: [{path: a, url: /r/a}]}
`, "modules[0].sources", "either source: or sources:"},
		{`modules:
  - {name: m, sources: [{url: /r/a}]}
`, "modules[0].sources[0].path", "missing"},
		{`modules:
  - {name: m, sources: [{path: a/b, url: /r/a}]}
`, "modules[0].sources[0].path", "one folder name"},
		{`modules:
  - {name: m, sources: [{path: .., url: /r/a}]}
`, "modules[0].sources[0].path", "not a folder name"},
		{`modules:
  - {name: m, sources: [{path: a, url: /r/a}, {path: a, url: /r/b}]}
`, "modules[0].sources[1].path", "sources[0] too"},
		{`modules:
  - {name: m, sources: [{path: a, url: /r/a}, {path: b}]}
`, "modules[0].sources[1].url", "missing"},
		{`modules:
  - {name: m, sources: [{path: a, url: /r/a, kind: nosuch}]}
`, "modules[0].sources[0].kind", "unknown source kind"},
		{`modules:
  - {name: m, sources: [{path: a, url: /r/a, branch: x, tag: y}]}
`, "modules[0].sources[0]", "at most one of branch, tag and commit"},
		{`modules:
  - {name: m, source: {url: /r/a, path: a}}
`, "modules[0].source.path", "only the sources:"},
		{`modules:
  - {name: m}
`, "modules[0].source.url", "missing"},
	} {
		e := loadErr(t, write(t, tt.body))
		if e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) || e.Line == 0 {
			t.Errorf("%s: got %s (line %d): %s; want %s: %s", tt.body, e.Key, e.Line, e.Msg, tt.key, tt.msg)
		}
	}
}
