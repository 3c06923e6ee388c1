package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// A build that makes a .deb (with the real dpkg-deb, inside its sandbox)
// and a tarball: status.json describes each with its name, version and
// architecture, and packages.html lists them; a file named .deb that is
// none is listed as not a package. A reused module keeps its packages.
func TestPackagesListed(t *testing.T) {
	testutil.NeedTool(t, "dpkg-deb", "dpkg")
	f := newFarm(t)
	f.repo("hello", script(`work=$(mktemp -d)
mkdir -p "$work/DEBIAN" "$work/usr/share/hello"
echo hi > "$work/usr/share/hello/README"
printf 'Package: hello\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: a test\n a test package\n' > "$work/DEBIAN/control"
dpkg-deb --root-owner-group --build "$work" "$AUTOBUILD_PACKAGE_ROOT/hello_1.0-1_all.deb"
tar -C "$work" -czf "$AUTOBUILD_PACKAGE_ROOT/hello-src-1.0.tar.gz" usr
echo 'not a package' > "$AUTOBUILD_PACKAGE_ROOT/fake.deb"
echo 'plain' > "$AUTOBUILD_PACKAGE_ROOT/README"
rm -rf "$work"`))
	f.config(`modules:
  - {name: hello, source: {url: repos/hello}}
`)
	check := func(run string, wantState report.State) {
		t.Helper()
		m := module(f.status(), "hello")
		if m.State != wantState {
			t.Fatalf("%s: hello %s (%s), want %s", run, m.State, m.Reason, wantState)
		}
		got := map[string]report.Artifact{}
		for _, a := range m.Artifacts {
			got[a.Path] = a
		}
		deb, tgz := got["hello_1.0-1_all.deb"].Package, got["hello-src-1.0.tar.gz"].Package
		if deb == nil || *deb != (report.Package{Kind: "deb", Name: "hello", Version: "1.0-1", Arch: "all", Entries: deb.Entries}) || deb.Entries < 3 {
			t.Errorf("%s: the .deb: %+v (%q)", run, deb, got["hello_1.0-1_all.deb"].NotPackage)
		}
		if tgz == nil || *tgz != (report.Package{Kind: "tar", Name: "hello-src", Version: "1.0", Entries: tgz.Entries}) || tgz.Entries < 3 {
			t.Errorf("%s: the tarball: %+v (%q)", run, tgz, got["hello-src-1.0.tar.gz"].NotPackage)
		}
		if a := got["fake.deb"]; a.Package != nil || !strings.Contains(a.NotPackage, "not a Debian package") {
			t.Errorf("%s: fake.deb: %+v", run, a)
		}
		if a := got["README"]; a.Package != nil || a.NotPackage != "" {
			t.Errorf("%s: README: %+v", run, a)
		}
		page, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages.html"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"<td>hello</td>", "<td>1.0-1</td>", "<td>all</td>", "<td>hello-src</td>", "<td>1.0</td>",
			`href="packages/hello/hello_1.0-1_all.deb"`, got["hello_1.0-1_all.deb"].SHA256, "fake.deb"} {
			if !strings.Contains(string(page), want) {
				t.Errorf("%s: packages.html lacks %q", run, want)
			}
		}
		index, _ := os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
		if !strings.Contains(string(index), `href="packages.html"`) || !strings.Contains(string(index), "deb hello 1.0-1 all") {
			t.Errorf("%s: index.html does not link packages.html or show the package", run)
		}
	}
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	check("run 1", report.Built)
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	check("run 2", report.Reused)
}
