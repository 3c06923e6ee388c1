package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// The published site holds only files the engine made: copies of what
// the builds listed, never links to them, and no file a state file names
// from outside the engine's log folder. And one module's files cannot
// stop the site of a run.

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
		if m.State != report.Cached {
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
	// site (an unchanged artifact is not copied again), never with
	// anything outside the sites: count each inode's links inside them.
	inSites := map[uint64]uint64{}
	filepath.WalkDir(filepath.Join(f.root, "sites"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				inSites[info.Sys().(*syscall.Stat_t).Ino]++
			}
		}
		return nil
	})
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
			t.Errorf("%s on the site has %d links, %d of them in the sites", p, st.Nlink, inSites[st.Ino])
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
