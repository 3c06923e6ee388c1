package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// closedPort is a loopback address nothing listens on: a port this test
// bound, then closed.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// historyCounters are the runs the live site's status.json lists in its
// history, newest first.
func historyCounters(f *farm) []int {
	var cs []int
	for _, h := range f.status().History {
		cs = append(cs, h.Counter)
	}
	return cs
}

// A run the site published is recorded in the history even when a later
// publisher fails: a mirror whose daemon is down fails the run (exit 5,
// naming it), and the next run's site still lists that run in its
// history (status.json, index.html). The control: a run whose site did
// not publish is not recorded.
func TestFailedPublisherKeepsTheRunInTheHistory(t *testing.T) {
	testutil.NeedTool(t, "rsync", "rsync")
	f := newFarm(t)
	f.repo("app", script(`echo "app" > "$AUTOBUILD_PACKAGE_ROOT/app.txt"`))
	plain := `modules: [{name: app, source: {url: repos/app}}]
`
	f.config(plain)
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}

	// Run 2: the site publishes, the mirror cannot connect.
	down := "rsync://" + closedPort(t) + "/site"
	f.config(plain + `publish:
  mirrors: [{to: "` + down + `", timeout: 1m}]
`)
	r := f.run()
	if r.code != exitInternal || !strings.Contains(r.stderr, "publish mirror: to "+down) {
		t.Fatalf("want exit %d naming the mirror:\n%s", exitInternal, r.dump())
	}
	if st := f.status(); st.Counter != 2 {
		t.Fatalf("the live site shows run %d, want 2: the site did not publish", st.Counter)
	}

	// Run 3 lists run 2.
	f.config(plain)
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if got, want := historyCounters(f), []int{3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("run 3's status.json lists runs %v in its history, want %v", got, want)
	}
	site := filepath.Join(f.root, "public_html")
	index, err := os.ReadFile(filepath.Join(site, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(index), `href="runs/2.html"`) {
		t.Errorf("run 3's index.html does not list run 2:\n%s", index)
	}

	// The control, run 4: the site cannot publish (its public folder is
	// a real folder, not the symlink autobuild swaps), so run 4 is not
	// recorded; run 5, published, lists runs 3, 2 and 1 only.
	target, err := os.Readlink(site)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(site); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(site, 0o755); err != nil {
		t.Fatal(err)
	}
	r = f.run()
	if r.code != exitInternal || !strings.Contains(r.stderr, "publish site:") {
		t.Fatalf("want exit %d for a site that cannot publish:\n%s", exitInternal, r.dump())
	}
	if err := os.Remove(site); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, site); err != nil {
		t.Fatal(err)
	}
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if got, want := historyCounters(f), []int{5, 3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("run 5's status.json lists runs %v in its history, want %v (run 4 never published)", got, want)
	}
}
