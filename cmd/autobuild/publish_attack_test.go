package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// The published site holds only files the engine made: copies of what
// the builds listed, never links to them, and no file a state file names
// from outside the engine's log folder (a log is the engine's own file,
// linked). One module's files cannot stop the site of a run. Any name a
// build gives a file is linked right; a log is stored once.

func sha(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// liveSite is the folder public_html points at.
func (f *farm) liveSite() string {
	f.t.Helper()
	dir, err := filepath.EvalSymlinks(filepath.Join(f.root, "public_html"))
	if err != nil {
		f.t.Fatal(err)
	}
	return dir
}

// guardMode records p's mode and owner, and returns a check that they
// did not change. The test names a host file: should a regression chmod
// it (a publisher that chmods what it hard-links would), the cleanup puts
// them back, so the test never leaves the host changed.
func guardMode(t *testing.T, p string) (unchanged func()) {
	t.Helper()
	before, err := os.Stat(p)
	if err != nil {
		return func() {}
	}
	bst := before.Sys().(*syscall.Stat_t)
	changed := func() string {
		after, err := os.Stat(p)
		if err != nil {
			return err.Error()
		}
		ast := after.Sys().(*syscall.Stat_t)
		if after.Mode() != before.Mode() || ast.Uid != bst.Uid || ast.Gid != bst.Gid || ast.Nlink != bst.Nlink {
			return fmt.Sprintf("mode %v owner %d:%d links %d, was %v %d:%d %d",
				after.Mode(), ast.Uid, ast.Gid, ast.Nlink, before.Mode(), bst.Uid, bst.Gid, bst.Nlink)
		}
		return ""
	}
	t.Cleanup(func() {
		if changed() != "" {
			os.Chown(p, int(bst.Uid), int(bst.Gid))
			os.Chmod(p, before.Mode().Perm())
		}
	})
	return func() {
		t.Helper()
		if c := changed(); c != "" {
			t.Errorf("%s changed: %s (put back after the test)", p, c)
		}
	}
}

// (a) A build at unconfined keeps a hard link to its artifact in a folder
// outside its package root, and rewrites the artifact through it after
// the run: the live site's file is unchanged and matches status.json.
func TestPublishedArtifactOutlivesItsBuild(t *testing.T) {
	f := newFarm(t)
	keep := testutil.Dir(t)
	os.Chmod(keep, 0o777)
	f.repo("mod", script(`echo "genuine artifact" > "$AUTOBUILD_PACKAGE_ROOT/mod.bin"
ln "$AUTOBUILD_PACKAGE_ROOT/mod.bin" "$KEEP/kept.bin"`))
	f.config(fmt.Sprintf("modules:\n  - {name: mod, source: {url: repos/mod}, trust: unconfined, env: [\"KEEP=%s\"]}\n", keep))
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	input := filepath.Join(f.root, "package-root", "mod", "mod.bin")
	kept := filepath.Join(keep, "kept.bin")
	// Control: at unconfined, the build can keep the link.
	ki, err := os.Stat(kept)
	if err != nil {
		t.Fatalf("control: the build could not keep a link to its artifact: %v", err)
	}
	ii, err := os.Stat(input)
	if err != nil || !os.SameFile(ki, ii) {
		t.Fatalf("control: the kept file is not the artifact's inode (%v)", err)
	}

	m := module(f.status(), "mod")
	if m.Unpublished != "" || len(m.Artifacts) != 1 || m.Artifacts[0].Path != "mod.bin" {
		t.Fatalf("mod: %+v", m)
	}
	listed := m.Artifacts[0].SHA256
	site := filepath.Join(f.root, "public_html", "packages", "mod", "mod.bin")
	if si, err := os.Stat(site); err != nil || os.SameFile(si, ii) {
		t.Fatalf("the published artifact is the input's inode (%v)", err)
	}

	// After the run, the build's link rewrites the artifact.
	w, err := os.OpenFile(kept, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("trojaned artifact\n")
	w.Close()
	if sha(t, input) == listed {
		t.Fatal("control: the rewrite did not reach the artifact")
	}
	if b, _ := os.ReadFile(site); string(b) != "genuine artifact\n" {
		t.Errorf("the live site's artifact changed: %q", b)
	}
	if got := sha(t, site); got != listed {
		t.Errorf("the live site's artifact has sha256 %s, status.json says %s", got, listed)
	}
}

// (b) An artifact at a 4,000-character path fails only its module's
// artifacts: the run exits 0 (all built), and the other module's
// artifacts are on the site.
func TestPublishSurvivesALongArtifactPath(t *testing.T) {
	f := newFarm(t)
	f.repo("long", script(`echo fine > "$AUTOBUILD_PACKAGE_ROOT/fine.bin"
n=$(printf '%0200d' 0 | tr 0 x)
cd "$AUTOBUILD_PACKAGE_ROOT"
i=0
while [ $i -lt 20 ]; do mkdir "$n"; cd "$n"; i=$((i+1)); done
echo long > long.bin`))
	f.repo("other", script(`echo other > "$AUTOBUILD_PACKAGE_ROOT/other.bin"`))
	f.config(`modules:
  - {name: long, source: {url: repos/long}}
  - {name: other, source: {url: repos/other}}
`)
	r := f.run()
	if r.code != 0 {
		t.Fatalf("want exit 0, the run built everything:\n%s", r.dump())
	}
	st := f.status()
	long := module(st, "long")
	if long.State != report.Built {
		t.Fatalf("long: %s (%s)", long.State, long.Reason)
	}
	if !strings.Contains(long.Unpublished, "path too long") || len(long.Artifacts) != 0 {
		t.Errorf("long: unpublished %q, artifacts %d", long.Unpublished, len(long.Artifacts))
	}
	if _, err := os.Lstat(filepath.Join(f.root, "public_html", "packages", "long")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("long's artifacts are on the site: %v", err)
	}
	other := module(st, "other")
	if other.Unpublished != "" || len(other.Artifacts) != 1 ||
		sha(t, filepath.Join(f.root, "public_html", "packages", "other", "other.bin")) != other.Artifacts[0].SHA256 {
		t.Errorf("other is not published: %+v", other)
	}
	page, _ := os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
	if !strings.Contains(string(page), "artifacts not published") {
		t.Error("index.html does not say long's artifacts are not published")
	}
}

// (c) Damaged state files (state/modules/<name>.json) name /etc/shadow, and a root-only
// file, as reused modules' logs: the next run publishes neither (each
// log is shown as unavailable), and nothing else of its site changes.
func TestPublishIgnoresLogsNamedOutsideTheLogFolder(t *testing.T) {
	f := newFarm(t)
	shadowUnchanged := guardMode(t, "/etc/shadow")
	secretDir := testutil.Dir(t)
	os.Chmod(secretDir, 0o700)
	secret := filepath.Join(secretDir, "root-only")
	if err := os.WriteFile(secret, []byte("ROOT ONLY SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		f.repo(n, script(`echo "`+n+` was built"; echo `+n+` > "$AUTOBUILD_PACKAGE_ROOT/`+n+`.bin"`))
	}
	f.config(`modules:
  - {name: a, source: {url: repos/a}}
  - {name: b, source: {url: repos/b}}
  - {name: c, source: {url: repos/c}}
  - {name: d, source: {url: repos/d}}
`)
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	// Control: the logs the engine wrote are published.
	for _, n := range []string{"a", "b", "c", "d"} {
		m := module(f.status(), n)
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", m.Log))
		if m.Log == "" || err != nil || !strings.Contains(string(b), n+" was built") {
			t.Fatalf("control: %s's log %q is not published (%v): %q", n, m.Log, err, b)
		}
	}

	// Damage the state files: a, b and c are reused with these logs.
	logs := map[string]string{
		"a": "/etc/shadow",
		"b": secret,
		// Below the log folder until cleaned: it climbs out to the secret.
		"c": filepath.Join(f.root, "log-root", "1") + "/" + strings.Repeat("../", 40) + strings.TrimPrefix(secret, "/"),
	}
	for n, l := range logs {
		statePath := filepath.Join(f.root, "state", "modules", n+".json")
		raw, err := os.ReadFile(statePath)
		if err != nil {
			t.Fatal(err)
		}
		var state map[string]any
		if err := json.Unmarshal(raw, &state); err != nil {
			t.Fatal(err)
		}
		state["log"] = l
		raw, _ = json.Marshal(state)
		if err := os.WriteFile(statePath, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	st := f.status()
	for _, n := range []string{"a", "b", "c"} {
		m := module(st, n)
		if m.State != report.Reused {
			t.Fatalf("%s: %s (%s), want reused", n, m.State, m.Reason)
		}
		if m.Log != "" || !strings.Contains(m.LogUnavailable, "not below the log folder") {
			t.Errorf("%s (state names %s): log %q, unavailable %q", n, logs[n], m.Log, m.LogUnavailable)
		}
		// The module's artifacts are still published.
		if m.Unpublished != "" || len(m.Artifacts) != 1 {
			t.Errorf("%s: artifacts %v, unpublished %q", n, m.Artifacts, m.Unpublished)
		}
	}
	if m := module(st, "d"); m.Log == "" {
		t.Errorf("control: d's log (its own, from run 1) is not published: %s", m.LogUnavailable)
	}

	// No file of the new site holds what root alone could read.
	shadow, _ := os.ReadFile("/etc/shadow")
	secrets := map[string]string{"the root-only file": "ROOT ONLY SECRET"}
	if len(shadow) > 0 {
		secrets["/etc/shadow"] = string(shadow)
	}
	site := f.liveSite()
	// A site's file may share its inode with the same file of an earlier
	// site (an unchanged artifact is not copied again), and a log with
	// the engine's log and the build archive's (a log is stored once);
	// never with anything else: count each inode's links inside them.
	inSites := map[uint64]uint64{}
	for _, dir := range []string{"sites", "log-root", "build-archive"} {
		filepath.WalkDir(filepath.Join(f.root, dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && (dir == "sites" || strings.HasSuffix(p, ".log")) {
				if info, err := d.Info(); err == nil {
					inSites[info.Sys().(*syscall.Stat_t).Ino]++
				}
			}
			return nil
		})
	}
	n := 0
	err := filepath.WalkDir(site, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			t.Errorf("%s on the site is %v", p, info.Mode())
			return nil
		}
		if st := info.Sys().(*syscall.Stat_t); uint64(st.Nlink) != inSites[st.Ino] {
			t.Errorf("%s on the site has %d links, %d of them in the sites and (a log) the log folder and the archive", p, st.Nlink, inSites[st.Ino])
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for what, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s on the site holds %s", p, what)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 { // index.html, status.json, feed.atom, d's log, 4 artifacts
		t.Errorf("the site holds %d files", n)
	}
	if info, err := os.Stat(secret); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the root-only file's mode: %v (%v)", info.Mode(), err)
	}
	shadowUnchanged()
}

// pageAnchor is an <a> of the live site's index.html.
type pageAnchor struct {
	href, text string
	download   bool
}

func pageAnchors(t *testing.T, page []byte) []pageAnchor {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out []pageAnchor
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
			l := pageAnchor{text: text(n)}
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

// (d) A build names its artifacts with "#", "?", "%2e%2e", "..%2f", a
// newline and bytes that are not UTF-8 (Latin-1, a cut UTF-8 sequence),
// one folder too: every link of index.html, resolved against the page's
// URL as a browser does, leads to exactly the published file (its bytes
// those of the build's file); each artifact has one link, with the
// download attribute; the page and status.json are valid UTF-8, and
// status.json's path_bytes gives the exact names.
func TestPublishLinksAnyArtifactName(t *testing.T) {
	f := newFarm(t)
	names := []string{
		"a#b.bin", "q?x=1&y=2.bin", "%2e%2e", "..%2f..%2fstatus.json", "100%.bin", "sp ace.bin",
		"page.html", "new\nline.bin", "latin1-\xe9t\xe9.bin", "cut-\xc3.bin", "dir-\xff/f#1.bin",
	}
	var sh strings.Builder
	sh.WriteString("cd \"$AUTOBUILD_PACKAGE_ROOT\"\nmkdir \"$(printf 'dir-\\377')\"\n")
	for i, n := range names {
		// printf's octal escapes make each byte; the content names it.
		var oct strings.Builder
		for _, c := range []byte(n) {
			fmt.Fprintf(&oct, "\\%03o", c)
		}
		fmt.Fprintf(&sh, "printf 'artifact %d\\n' > \"$(printf '%s')\"\n", i, oct.String())
	}
	f.repo("names", script(sh.String()))
	f.config("modules:\n  - {name: names, source: {url: repos/names}}\n")
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	pkg := filepath.Join(f.root, "package-root", "names")
	for i, n := range names {
		if b, err := os.ReadFile(filepath.Join(pkg, n)); err != nil || string(b) != fmt.Sprintf("artifact %d\n", i) {
			t.Fatalf("control: the build did not make %q: %q %v", n, b, err)
		}
	}
	site := f.liveSite()
	page, err := os.ReadFile(filepath.Join(site, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(page) {
		t.Error("index.html is not valid UTF-8")
	}
	pageURL, _ := url.Parse("https://ci.example.org/autobuild/index.html")
	linked := map[string]int{}
	for _, l := range pageAnchors(t, page) {
		ref, err := url.Parse(l.href)
		if err != nil {
			t.Errorf("href %q: %v", l.href, err)
			continue
		}
		u := pageURL.ResolveReference(ref)
		rel, ok := strings.CutPrefix(u.EscapedPath(), "/autobuild/packages/names/")
		if !ok {
			continue // the log, status.json, the feed
		}
		if u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("link %q (%q) has a query or fragment", l.href, l.text)
			continue
		}
		var parts []string
		for _, seg := range strings.Split(rel, "/") {
			s, err := url.PathUnescape(seg)
			if err != nil || s == "" || s == "." || s == ".." {
				t.Errorf("link %q: segment %q is %q (%v)", l.href, seg, s, err)
			}
			parts = append(parts, s)
		}
		name := strings.Join(parts, "/")
		linked[name]++
		got, err := os.ReadFile(filepath.Join(site, "packages", "names", name))
		want, _ := os.ReadFile(filepath.Join(pkg, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("link %q (%q) leads to %q, which is not the build's file (%v)", l.href, l.text, name, err)
		}
		if !l.download {
			t.Errorf("link %q has no download attribute", l.href)
		}
		if !utf8.ValidString(name) && !strings.Contains(l.text, `\x`) {
			t.Errorf("link %q shows %q, not the readable form", l.href, l.text)
		}
	}
	for _, n := range names {
		if linked[n] != 1 {
			t.Errorf("%q is linked %d times, want once", n, linked[n])
		}
	}
	raw, err := os.ReadFile(filepath.Join(site, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(raw) {
		t.Error("status.json is not valid UTF-8")
	}
	var st struct {
		Modules []struct {
			Artifacts []struct {
				Path      string `json:"path"`
				PathBytes []byte `json:"path_bytes"`
			} `json:"artifacts"`
		} `json:"modules"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || len(st.Modules) != 1 {
		t.Fatalf("status.json: %v", err)
	}
	exact := map[string]bool{}
	for _, a := range st.Modules[0].Artifacts {
		n := a.Path
		if a.PathBytes != nil {
			n = string(a.PathBytes)
		}
		exact[n] = true
	}
	for _, n := range names {
		if !exact[n] {
			t.Errorf("status.json does not give %q", n)
		}
	}
}

// blocksOf is what du counts below the roots: each inode's blocks once.
func blocksOf(t *testing.T, roots ...string) int64 {
	t.Helper()
	seen := map[uint64]bool{}
	var total int64
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if info, err := d.Info(); err == nil {
				if st := info.Sys().(*syscall.Stat_t); !seen[st.Ino] {
					seen[st.Ino] = true
					total += st.Blocks * 512
				}
			}
			return nil
		})
	}
	return total
}

// (e) A module whose build writes a 24 MB log, then three runs that
// change nothing, three sites kept, the build archive on: the log is on
// disk once (log folder, archive and every site share its file), not
// five times; the live site's log is the engine's, read-only.
func TestLogStoredOnceAcrossRuns(t *testing.T) {
	f := newFarm(t)
	f.repo("big", script(`yes "a line of build output, as long as most" | head -c 24000000
echo pkg > "$AUTOBUILD_PACKAGE_ROOT/big.bin"`))
	f.config("publish: {keep: 3}\nmodules:\n  - {name: big, source: {url: repos/big}}\n")
	for i := 1; i <= 4; i++ {
		if r := f.run(); r.code != 0 {
			t.Fatal(r.dump())
		}
	}
	m := module(f.status(), "big")
	if m.State != report.Reused || m.ReusedFrom != 1 {
		t.Fatalf("big: %s (%s), want reused from run 1", m.State, m.Reason)
	}
	engineLog := filepath.Join(f.root, "log-root", "1", "big.log")
	li, err := os.Stat(engineLog)
	if err != nil || li.Size() < 24000000 {
		t.Fatalf("control: the build's log: %v", err)
	}
	logBlocks := li.Sys().(*syscall.Stat_t).Blocks * 512
	use := blocksOf(t, filepath.Join(f.root, "log-root"), filepath.Join(f.root, "build-archive"), filepath.Join(f.root, "sites"))
	t.Logf("a log of %d bytes: log-root, build-archive and 3 sites take %d bytes after 4 runs", logBlocks, use)
	if use > logBlocks+logBlocks/8 {
		t.Errorf("%d bytes on disk for a log of %d: stored more than once", use, logBlocks)
	}
	published, err := os.Stat(filepath.Join(f.root, "public_html", m.Log))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(published, li) || published.Mode().Perm() != 0o444 {
		t.Errorf("the live site's log is not the engine's read-only file (mode %v)", published.Mode())
	}
}
