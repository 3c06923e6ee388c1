package publish_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
)

// packages.html lists each package of the run with its module, name,
// version, architecture and file (link, size, SHA-256), and the files
// named as packages that are not; index.html shows the package beside
// its artifact, and status.json carries it. Fields are the build's: HTML
// in them is escaped (control characters were written out by
// engine/packages before).
func TestPackagesPage(t *testing.T) {
	f := newFixture(t, 42)
	lib := &f.in.Run.Modules[0]
	lib.Artifacts[0].Package = &report.Package{Kind: "deb", Name: "libfoo", Version: "1.2", Arch: "amd64", Entries: 7}
	lib.Artifacts[1].Package = &report.Package{Kind: "tar", Name: `<script>alert("x")</script>`, Version: `1.2\u001b`, Entries: 3}
	app := &f.in.Run.Modules[1]
	app.Artifacts[0].NotPackage = "not a Debian package: <b>bad</b>"
	public, sites := paths(t)
	if err := f.site(public, sites, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(public, "packages.html"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "packages.html.golden", page)
	p := string(page)
	for _, want := range []string{
		`<td>libfoo</td>`, `<td>1.2</td>`, `<td>amd64</td>`, `<td>deb</td>`, `<td>7</td>`,
		`<a href="packages/libfoo/libfoo_1.2_amd64.deb" download>libfoo_1.2_amd64.deb</a>`,
		lib.Artifacts[0].SHA256,
		`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`, `1.2\u001b`,
		`not a Debian package: &lt;b&gt;bad&lt;/b&gt;`,
	} {
		if !strings.Contains(p, want) {
			t.Errorf("packages.html lacks %q", want)
		}
	}
	if strings.Contains(p, "<script>") || strings.Contains(p, "<b>bad") {
		t.Error("packages.html holds the build's HTML unescaped")
	}

	index, err := os.ReadFile(filepath.Join(public, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<a href="packages.html">packages.html</a>`, `<small class="pkg">deb libfoo 1.2 amd64</small>`} {
		if !strings.Contains(string(index), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if strings.Contains(string(index), "<script>") {
		t.Error("index.html holds the build's HTML unescaped")
	}

	var status struct {
		Modules []struct {
			Artifacts []report.Artifact `json:"artifacts"`
		} `json:"modules"`
	}
	b, err := os.ReadFile(filepath.Join(public, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &status); err != nil {
		t.Fatal(err)
	}
	if got := status.Modules[0].Artifacts[0].Package; got == nil || *got != *lib.Artifacts[0].Package {
		t.Errorf("status.json: package %+v", got)
	}
	if got := status.Modules[1].Artifacts[0].NotPackage; got != app.Artifacts[0].NotPackage {
		t.Errorf("status.json: not_package %q", got)
	}
}

// A run without packages still has the page, saying so (index.html
// links it on every run).
func TestPackagesPageEmpty(t *testing.T) {
	f := newFixture(t, 1)
	public, sites := paths(t)
	if err := f.site(public, sites, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(public, "packages.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "No module left a package in this run.") {
		t.Errorf("packages.html:\n%s", page)
	}
}
