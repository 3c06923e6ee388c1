package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A disabled module is never checked out or built, and the site says it
// is disabled; a module's label and links are on the site and in
// status.json.
func TestDisabledModuleAndLinks(t *testing.T) {
	f := newFarm(t)
	f.repo("lib", script(`echo lib > "$AUTOBUILD_PACKAGE_ROOT/lib.bin"`))
	f.repo("old", script(`echo old > "$AUTOBUILD_PACKAGE_ROOT/old.bin"`))
	f.config(`modules:
  - name: lib
    source: {url: repos/lib}
    label: "The Lib Library"
    links: [{href: "https://lib.example.org/", label: home page}]
  - {name: old, source: {url: repos/old}, enabled: false}
`)
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	st := f.status()
	if len(st.Modules) != 1 || st.Modules[0].Name != "lib" || len(st.Disabled) != 1 || st.Disabled[0] != "old" {
		t.Fatalf("status.json: modules %v, disabled %v", st.Modules, st.Disabled)
	}
	if lib := st.Modules[0]; lib.Label != "The Lib Library" || len(lib.Links) != 1 || lib.Links[0].Href != "https://lib.example.org/" {
		t.Errorf("lib: label %q, links %+v", lib.Label, lib.Links)
	}
	for _, d := range []string{"source-root", "package-root", "scm-root"} {
		if _, err := os.Stat(filepath.Join(f.root, d, "old")); err == nil {
			t.Errorf("the disabled module has a %s folder", d)
		}
	}
	page, _ := os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
	for _, want := range []string{"The Lib Library", `<a href="https://lib.example.org/" rel="nofollow noopener">home page</a>`, "Disabled (<code>enabled: false</code>): old"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if r := ab(t, nil, "plan", "--config", f.cfg); !strings.Contains(r.stdout, "disabled (enabled: false): old") {
		t.Errorf("plan does not name the disabled module:\n%s", r.dump())
	}
}
