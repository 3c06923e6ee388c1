package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// The real binary's site: a module that builds, then fails. Its page
// shows the failure with its log's last lines and the artifact and log
// of its last good build (run 1), downloadable from the site; both runs
// have a page; revisions link to the configured commit URL.
func TestModulePageShowsTheLastGoodBuild(t *testing.T) {
	f := newFarm(t)
	lib := f.repo("lib", script(`echo "lib v$(cat version)" > "$AUTOBUILD_PACKAGE_ROOT/lib.bin"; echo building lib`))
	testutil.Commit(t, lib, map[string]string{"version": "1\n"})
	f.config(`publish: {commit_url: "https://git.example.org/{module}/commit/{revision}"}
modules:
  - {name: lib, source: {url: repos/lib, branch: main}}
`)
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	good := module(f.status(), "lib").Revision
	testutil.Commit(t, lib, map[string]string{"autobuild.sh": "#!/bin/sh\necho 'compiler says: <b>no</b>'\nexit 3\n"})
	if r := f.run(); r.code == 0 {
		t.Fatalf("the broken build passed:\n%s", r.dump())
	}
	if m := module(f.status(), "lib"); m.State != report.Failed {
		t.Fatalf("lib: %s, want failed", m.State)
	}
	site := filepath.Join(f.root, "public_html")
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(site, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	page := read("modules/lib.html")
	for _, want := range []string{
		`<span class="failed">failed</span>`,
		"compiler says: &lt;b&gt;no&lt;/b&gt;",
		"Last good build: run 1",
		`href="../modules/lib/last-good/packages/lib.bin"`,
		`href="../modules/lib/last-good/lib.log"`,
		`href="https://git.example.org/lib/commit/` + good + `"`,
		`href="../runs/1.html"`, `href="../runs/2.html"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("modules/lib.html has no %s:\n%s", want, page)
		}
	}
	if got := read("modules/lib/last-good/packages/lib.bin"); got != "lib v1\n" {
		t.Errorf("the last good artifact holds %q", got)
	}
	if got := read("modules/lib/last-good/lib.log"); !strings.Contains(got, "building lib") {
		t.Errorf("the last good log holds %q", got)
	}
	for _, r := range []string{"runs/1.html", "runs/2.html"} {
		if p := read(r); !strings.Contains(p, `href="../modules/lib.html"`) {
			t.Errorf("%s does not link lib's page", r)
		}
	}
	if idx := read("index.html"); !strings.Contains(idx, `href="modules/lib.html"`) || !strings.Contains(idx, `href="runs/1.html"`) {
		t.Errorf("index.html does not link the module and run pages")
	}
}
