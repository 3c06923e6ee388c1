package config

import (
	"strings"
	"testing"
)

// enabled: false leaves a module out of the run (named in Disabled); an
// enabled module may not depend on it; label and links are kept, links
// must be web addresses.
func TestEnabledLabelAndLinks(t *testing.T) {
	c, err := Load(write(t, `modules:
  - name: lib
    source: {url: /r/lib}
    label: "The Lib Library"
    links: [{href: "https://lib.example.org/", label: home}, {href: "https://bugs.example.org/lib"}]
  - {name: old, source: {url: /r/old}, enabled: false}
  - {name: app, source: {url: /r/app}, depends: [lib], enabled: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range c.Modules {
		names = append(names, m.Name)
	}
	if strings.Join(names, " ") != "lib app" || strings.Join(c.Disabled, " ") != "old" {
		t.Errorf("modules %v, disabled %v; want [lib app] and [old]", names, c.Disabled)
	}
	lib := c.Module("lib")
	if lib.Label != "The Lib Library" || len(lib.Links) != 2 || lib.Links[0].Label != "home" || lib.Links[1].Href != "https://bugs.example.org/lib" {
		t.Errorf("lib: label %q, links %+v", lib.Label, lib.Links)
	}
	for _, tt := range []struct{ body, key, msg string }{
		{`modules:
  - {name: lib, source: {url: /r/lib}, enabled: false}
  - {name: app, source: {url: /r/app}, depends: [lib]}
`, "modules[1].depends[0]", "app depends on lib, which is disabled"},
		{`modules:
  - {name: lib, source: {url: /r/lib}, enabled: false}
`, "modules", "every module is disabled"},
		{`modules:
  - {name: lib, source: {url: /r/lib}, enabled: "no"}
`, "modules[0].enabled", "must be true or false"},
		{`modules:
  - {name: lib, source: {url: /r/lib}, links: [{href: "javascript:alert(1)"}]}
`, "modules[0].links[0].href", "must be an http:// or https:// URL"},
	} {
		e := loadErr(t, write(t, tt.body))
		if e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) || e.Line == 0 {
			t.Errorf("%s: got %s (line %d): %s; want %s: %s", tt.body, e.Key, e.Line, e.Msg, tt.key, tt.msg)
		}
	}
}
