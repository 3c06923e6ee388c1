package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// hostileNames are artifact names a build may choose, each with the form
// the site shows (and status.json's "path" holds).
var hostileNames = []struct{ name, shown string }{
	{"a#b.bin", "a#b.bin"},
	{"q?x=1&y=2.bin", "q?x=1&y=2.bin"},
	{"%2e%2e", "%2e%2e"},
	{"%2E%2e/inside.bin", "%2E%2e/inside.bin"},
	{"..%2f..%2fetc%2fpasswd", "..%2f..%2fetc%2fpasswd"},
	{"100%.bin", "100%.bin"},
	{"sp ace;semi,comma+plus.bin", "sp ace;semi,comma+plus.bin"},
	{`<b>"quote'</b>.html`, `<b>"quote'</b>.html`},
	{"back\\slash.bin", "back\\slash.bin"},
	{"new\nline.bin", "new\nline.bin"},
	{"unicodé ☃.bin", "unicodé ☃.bin"},
	{"latin1-\xe9t\xe9.bin", `latin1-\xe9t\xe9.bin`},
	{"cut-\xc3.bin", `cut-\xc3.bin`},
	{"dir-\xff/file.bin", `dir-\xff/file.bin`},
}

// hostileModule is a module name the configuration would refuse but the
// site must still link right: its log and package folder are named
// after it.
const hostileModule = "m%2e#?+"

// hostileFixture adds to the fixture a module whose artifacts have the
// hostile names, made as real files.
func hostileFixture(t *testing.T, counter int) *fixture {
	t.Helper()
	f := newFixture(t, counter)
	pkg := filepath.Join(f.root, "pkg", hostileModule)
	var arts []report.Artifact
	for i, n := range hostileNames {
		write(t, filepath.Join(pkg, n.name), "artifact "+string(rune('A'+i))+"\n")
		arts = append(arts, artifact(t, pkg, n.name))
	}
	log := filepath.Join(f.root, "logs", hostileModule+".log")
	write(t, log, "the hostile module's log\n")
	f.in.Run.Modules = append(f.in.Run.Modules, report.Module{
		Name: hostileModule, State: report.Built, Level: "isolated", Start: t0, Artifacts: arts,
	})
	f.in.Files[hostileModule] = publish.ModuleFiles{Log: log, Packages: pkg}
	return f
}

// pageLink is an <a> of a page.
type pageLink struct {
	href, text string
	download   bool
}

func pageLinks(t *testing.T, page []byte) []pageLink {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out []pageLink
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "a" {
			l := pageLink{text: text(n)}
			for _, a := range n.Attr {
				switch a.Key {
				case "href":
					l.href = a.Val
				case "download":
					l.download = true
				}
			}
			out = append(out, l)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// fileOf maps a link's URL to the file it names in the site folder dir,
// served at root: each path segment unescaped, as a web server does. ok
// is false for a URL outside root. A segment that is "." or ".." once
// unescaped (a browser resolves "%2e%2e" as ".."), an empty one, a query
// or a fragment is an error: the link leads elsewhere than a file.
func fileOf(t *testing.T, u, root *url.URL, dir string) (p string, ok bool) {
	t.Helper()
	if u.Scheme != root.Scheme || u.Host != root.Host || !strings.HasPrefix(u.EscapedPath(), root.EscapedPath()) {
		return "", false
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		t.Errorf("link %s has a query or a fragment: it does not name a file", u)
	}
	rel := strings.TrimPrefix(u.EscapedPath(), root.EscapedPath())
	var parts []string
	for _, seg := range strings.Split(rel, "/") {
		s, err := url.PathUnescape(seg)
		if err != nil || s == "" || s == "." || s == ".." {
			t.Errorf("link %s: segment %q is %q (%v)", u, seg, s, err)
			return "", true
		}
		parts = append(parts, s)
	}
	return filepath.Join(append([]string{dir}, parts...)...), true
}

// isFileURL reports whether u is below root's packages/ or logs/.
func isFileURL(u, root *url.URL) bool {
	if u.Scheme != root.Scheme || u.Host != root.Host || !strings.HasPrefix(u.EscapedPath(), root.EscapedPath()) {
		return false
	}
	rel := strings.TrimPrefix(u.EscapedPath(), root.EscapedPath())
	return strings.HasPrefix(rel, "packages/") || strings.HasPrefix(rel, "logs/")
}

// statusArtifact is an artifact as status.json gives it.
type statusArtifact struct {
	Path      string `json:"path"`
	PathBytes []byte `json:"path_bytes"`
	SHA256    string `json:"sha256"`
}

// checkLinks checks every link of the live site's index.html and
// feed.atom, served at siteURL, with artifacts and logs at filesURL: each
// link to a published file leads to exactly that file, each artifact
// and log has exactly one, and the names shown are the readable ones.
func checkLinks(t *testing.T, f *fixture, public, siteURL, filesURL string) {
	t.Helper()
	dir, err := filepath.EvalSymlinks(public)
	if err != nil {
		t.Fatal(err)
	}
	siteRoot, _ := url.Parse(siteURL)
	filesRoot, _ := url.Parse(filesURL)
	pageURL := siteRoot.ResolveReference(&url.URL{Path: "index.html"})
	page, err := os.ReadFile(filepath.Join(public, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(page) {
		t.Error("index.html is not valid UTF-8")
	}

	// want: every published file a link must lead to, with the name shown.
	type target struct{ shown, src string }
	want := map[string]target{}
	for _, m := range f.in.Run.Modules {
		for _, a := range m.Artifacts {
			shown := a.Path
			if m.Name == hostileModule {
				for _, n := range hostileNames {
					if n.name == a.Path {
						shown = n.shown
					}
				}
			}
			want[filepath.Join(dir, "packages", m.Name, a.Path)] = target{shown, filepath.Join(f.in.Files[m.Name].Packages, a.Path)}
		}
		if l := f.in.Files[m.Name].Log; l != "" {
			if _, err := os.Stat(l); err == nil {
				want[filepath.Join(dir, "logs", m.Name+".log")] = target{"log", l}
			}
		}
	}
	seen := map[string]int{}
	for _, l := range pageLinks(t, page) {
		ref, err := url.Parse(l.href)
		if err != nil {
			t.Errorf("href %q: %v", l.href, err)
			continue
		}
		u := pageURL.ResolveReference(ref)
		if isFileURL(u, filesRoot) {
			if p, _ := fileOf(t, u, filesRoot, dir); p != "" {
				tg, ok := want[p]
				if !ok {
					t.Errorf("link %q (%q) leads to %s, no published file", l.href, l.text, p)
					continue
				}
				seen[p]++
				if l.text != tg.shown {
					t.Errorf("link %q shows %q, want %q", l.href, l.text, tg.shown)
				}
				if isArtifact := tg.shown != "log"; isArtifact != l.download {
					t.Errorf("link %q (%q): download attribute %v", l.href, l.text, l.download)
				}
				got, err := os.ReadFile(p)
				src, _ := os.ReadFile(tg.src)
				if err != nil || !bytes.Equal(got, src) {
					t.Errorf("link %q leads to %s, which does not hold %s (%v)", l.href, p, tg.src, err)
				}
				continue
			}
		}
		// Every other link is the site's own: a page, a feed, an anchor.
		bare := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
		if isFileURL(bare, siteRoot) {
			t.Errorf("link %q (%q) leads to a build's file on the status site's origin", l.href, l.text)
			continue
		}
		p, ok := fileOf(t, bare, siteRoot, dir)
		if !ok {
			t.Errorf("link %q (%q) leaves the site", l.href, l.text)
			continue
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("link %q (%q): %v", l.href, l.text, err)
		}
		if u.Fragment != "" && !strings.Contains(string(page), `id="`+u.Fragment+`"`) {
			t.Errorf("link %q: no element with id %q", l.href, u.Fragment)
		}
	}
	for p := range want {
		if seen[p] != 1 {
			t.Errorf("%s is linked %d times, want once", p, seen[p])
		}
	}

	// status.json: the readable name, and the exact one in path_bytes.
	b, err := os.ReadFile(filepath.Join(public, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(b) {
		t.Error("status.json is not valid UTF-8")
	}
	var st struct {
		Modules []struct {
			Name      string           `json:"name"`
			Artifacts []statusArtifact `json:"artifacts"`
		} `json:"modules"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Modules {
		if m.Name != hostileModule {
			continue
		}
		if len(m.Artifacts) != len(hostileNames) {
			t.Fatalf("status.json lists %d artifacts of %s, want %d", len(m.Artifacts), m.Name, len(hostileNames))
		}
		for i, a := range m.Artifacts {
			var n struct{ name, shown string }
			for _, h := range hostileNames {
				if h.shown == a.Path {
					n = h
				}
			}
			if n.name == "" {
				t.Errorf("status.json artifact %d: path %q is no name's readable form", i, a.Path)
				continue
			}
			exact := a.Path
			if a.PathBytes != nil {
				exact = string(a.PathBytes)
			}
			if exact != n.name || (a.PathBytes != nil) == utf8.ValidString(n.name) {
				t.Errorf("status.json: path %q, path_bytes %q, for %q", a.Path, a.PathBytes, n.name)
			}
			if _, err := os.Stat(filepath.Join(dir, "packages", m.Name, exact)); err != nil {
				t.Errorf("status.json names %q: %v", exact, err)
			}
		}
	}

	// feed.atom: every link leads to a file of the site.
	feed, err := os.ReadFile(filepath.Join(public, "feed.atom"))
	if err != nil {
		t.Fatal(err)
	}
	feedURL := siteRoot.ResolveReference(&url.URL{Path: "feed.atom"})
	dec := xml.NewDecoder(bytes.NewReader(feed))
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "link" {
			continue
		}
		for _, a := range se.Attr {
			if a.Name.Local != "href" {
				continue
			}
			n++
			ref, err := url.Parse(a.Value)
			if err != nil {
				t.Errorf("feed link %q: %v", a.Value, err)
				continue
			}
			p, ok := fileOf(t, feedURL.ResolveReference(ref), siteRoot, dir)
			if !ok {
				t.Errorf("feed link %q leaves the site", a.Value)
			} else if _, err := os.Stat(p); err != nil {
				t.Errorf("feed link %q: %v", a.Value, err)
			}
		}
	}
	if n == 0 {
		t.Error("feed.atom has no link")
	}
}

// Artifact names with "#", "?", "%2e%2e", a backslash, a newline and
// bytes that are not UTF-8, in a module whose name needs escaping too:
// each link of the page, resolved as a browser does, leads to exactly
// the published file, and each file has one link; status.json gives the
// exact names; the page is valid UTF-8.
func TestLinksLeadToThePublishedFiles(t *testing.T) {
	f := hostileFixture(t, 1)
	public, sites := paths(t)
	if err := f.site(public, sites, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	checkLinks(t, f, public, "https://ci.example.org/autobuild/", "https://ci.example.org/autobuild/")

	// The next run finds the live site's copies by their exact names
	// (path_bytes), so unchanged artifacts are linked, not copied again.
	first := filepath.Join(public, "packages", hostileModule, "latin1-\xe9t\xe9.bin")
	ino1, _, _ := inode(t, first)
	f.in.Run.Counter = 2
	if err := f.site(public, sites, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	if ino2, links, _ := inode(t, first); ino2 != ino1 || links < 2 {
		t.Errorf("the unchanged artifact with a name that is not UTF-8 was copied again (inode %d → %d)", ino1, ino2)
	}
	checkLinks(t, f, public, "https://ci.example.org/autobuild/", "https://ci.example.org/autobuild/")
}

// A module name that is not UTF-8 cannot be published (the page and
// status.json could not name it): Publish fails, and the previous site
// stays.
func TestModuleNameNotUTF8IsRefused(t *testing.T) {
	public, sites := paths(t)
	if err := publishFixture(public, sites, 3, newFixture(t, 1)); err != nil {
		t.Fatal(err)
	}
	prev := live(t, public, sites)
	f := newFixture(t, 2)
	f.in.Run.Modules = append(f.in.Run.Modules, report.Module{Name: "bad\xffname", State: report.Failed})
	if err := publishFixture(public, sites, 3, f); err == nil || !strings.Contains(err.Error(), "cannot be published") {
		t.Fatalf("Publish = %v, want a refusal", err)
	}
	if live(t, public, sites) != prev {
		t.Error("the live site changed")
	}
}

// With FilesURL, every link to an artifact or a log points at that
// origin (and leads to the file there, in the same site folder); none
// points at the status site's own; the page, status.json and the feed
// stay on the site's origin.
func TestFilesURLMovesEveryFileLinkToItsOrigin(t *testing.T) {
	for _, files := range []string{"https://files.example.org/ab/", "http://files.example.org:8080/ci"} {
		t.Run(files, func(t *testing.T) {
			f := hostileFixture(t, 1)
			public, sites := paths(t)
			s := f.site(public, sites, 3)
			s.FilesURL = files
			if err := s.Publish(context.Background(), f.in); err != nil {
				t.Fatal(err)
			}
			root := files
			if !strings.HasSuffix(root, "/") {
				root += "/"
			}
			checkLinks(t, f, public, "https://ci.example.org/autobuild/", root)
			page, _ := os.ReadFile(filepath.Join(public, "index.html"))
			n := 0
			for _, l := range pageLinks(t, page) {
				if strings.HasPrefix(l.href, root) {
					n++
				}
			}
			if want := len(hostileNames) + 3 + 4; n != want { // artifacts; libfoo's two, app's one; four logs
				t.Errorf("%d links point at %s, want %d", n, root, want)
			}
		})
	}
}

// A FilesURL that is not an absolute http(s) base URL fails the Publish
// with the reason, and the previous site stays.
func TestBadFilesURLIsRefused(t *testing.T) {
	for _, bad := range []string{
		"files.example.org/ab/", "/ab/", "ftp://files.example.org/", "javascript:alert(1)",
		"https://files.example.org/?x=1", "https://files.example.org/#top", "https://user:pw@files.example.org/",
		"https:///nohost", "https://files.example.org/%zz",
	} {
		t.Run(bad, func(t *testing.T) {
			if err := publish.CheckFilesURL(bad); err == nil {
				t.Errorf("CheckFilesURL(%q) = nil", bad)
			}
			public, sites := paths(t)
			if err := publishFixture(public, sites, 3, newFixture(t, 1)); err != nil {
				t.Fatal(err)
			}
			prev := live(t, public, sites)
			f := newFixture(t, 2)
			s := f.site(public, sites, 3)
			s.FilesURL = bad
			err := s.Publish(context.Background(), f.in)
			if err == nil || !strings.Contains(err.Error(), "files URL") {
				t.Fatalf("Publish = %v, want an error naming the files URL", err)
			}
			t.Logf("refused: %v", err)
			if live(t, public, sites) != prev {
				t.Error("the live site changed")
			}
		})
	}
	if err := publish.CheckFilesURL(""); err != nil {
		t.Errorf("CheckFilesURL(\"\") = %v: no separate origin is valid", err)
	}
}
