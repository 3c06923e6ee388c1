package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/publish/mirror/mirrortest"
)

// snapshotTree lists every file and folder below root with its content's
// SHA-256, one line each, sorted.
func snapshotTree(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.IsDir():
			lines = append(lines, rel+"/")
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			lines = append(lines, rel+" "+hex.EncodeToString(sum[:]))
		default:
			lines = append(lines, rel+" "+d.Type().String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// The real binary, with mirrors configured, copies each run's live site to
// a real rsync daemon; a mirror that fails fails alone.
func TestMirrorEndToEnd(t *testing.T) {
	d := mirrortest.Start(t)
	f := newFarm(t)
	repo := f.repo("app", script(`echo "app $AUTOBUILD_COUNTER" > "$AUTOBUILD_PACKAGE_ROOT/app-1.0.tar"
echo old > "$AUTOBUILD_PACKAGE_ROOT/dropped-later.txt"`))
	pw := mirrortest.PasswordFile(t, mirrortest.Password, 0o600)
	wrong := mirrortest.PasswordFile(t, "wrong", 0o600)
	f.config(`modules: [{name: app, source: {url: repos/app}}]
publish:
  mirrors:
    - {to: "` + d.URL(mirrortest.User, "www") + `", password_file: "` + pw + `", timeout: 2m}
`)
	r := f.run()
	if r.code != 0 {
		t.Fatal(r.dump())
	}
	live := filepath.Join(f.root, "public_html")
	remote := filepath.Join(d.Root, "www")
	site := snapshotTree(t, live+"/")
	if !strings.Contains(site, "packages/app/app-1.0.tar ") || !strings.Contains(site, "index.html ") {
		t.Fatalf("control: the live site lacks the artifact or the page:\n%s", site)
	}
	if got := snapshotTree(t, remote); got != site {
		t.Errorf("the mirror differs from the live site:\n got %s\nwant %s", got, site)
	}

	// The next run drops a file and changes another; a mirror that cannot
	// log in comes first and fails alone: the site and the next mirror
	// publish, the run exits 5 naming the failed destination and what
	// rsync said.
	testutil.Commit(t, repo, script(`echo "app $AUTOBUILD_COUNTER" > "$AUTOBUILD_PACKAGE_ROOT/app-1.0.tar"`))
	bad := d.URL(mirrortest.User, "bad")
	f.config(`modules: [{name: app, source: {url: repos/app}}]
publish:
  mirrors:
    - {to: "` + bad + `", password_file: "` + wrong + `"}
    - {to: "` + d.URL(mirrortest.User, "www") + `", password_file: "` + pw + `"}
`)
	r = f.run()
	if r.code != exitInternal {
		t.Fatalf("want exit %d for a failed mirror:\n%s", exitInternal, r.dump())
	}
	for _, want := range []string{"publish mirror: to " + bad, "auth failed on module site"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.dump())
		}
	}
	if st := f.status(); st.Counter != 2 {
		t.Errorf("the live site shows run %d, want 2: the site did not publish", st.Counter)
	}
	site = snapshotTree(t, live+"/")
	// (The page of run 1 keeps its files under runs/1/ while they are
	// within publish.keep: the current packages must not have it.)
	if strings.Contains(site, "\npackages/app/dropped-later.txt") {
		t.Fatalf("control: the live site still has the dropped file:\n%s", site)
	}
	if got := snapshotTree(t, remote); got != site {
		t.Errorf("after the second run the mirror differs from the live site:\n got %s\nwant %s", got, site)
	}
	if _, err := os.Stat(filepath.Join(d.Root, "bad")); !os.IsNotExist(err) {
		t.Errorf("the refused mirror wrote to the daemon: %v", err)
	}
}
