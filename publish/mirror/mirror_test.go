package mirror_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/publish/mirror"
	"github.com/autobuild/autobuild/publish/mirror/mirrortest"
	"github.com/autobuild/autobuild/publish/publishtest"
)

// liveSite makes folder sites/run-<n> under dir holding files (read-only,
// as the site publisher makes them) and swaps dir/public_html to it. It
// returns the symlink.
func liveSite(t *testing.T, dir string, n int, files map[string]string) string {
	t.Helper()
	site := filepath.Join(dir, "sites", fmt.Sprintf("run-%d", n))
	for name, body := range files {
		p := filepath.Join(site, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(site, 0o755); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "public_html")
	tmp := live + ".new"
	if err := os.Symlink(site, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, live); err != nil {
		t.Fatal(err)
	}
	return live
}

// tree describes every entry below root: a folder, a file by its content's
// SHA-256, a symlink by its target. A missing root is empty.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == root {
				return filepath.SkipAll
			}
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case d.IsDir():
			out[rel] = "folder"
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = "file " + hex.EncodeToString(sum[:])
		default:
			out[rel] = "special " + d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func describe(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, m[k])
	}
	return b.String()
}

// sameTree fails unless the mirror's folder holds exactly the live site.
func sameTree(t *testing.T, remote, live string) {
	t.Helper()
	target, err := filepath.EvalSymlinks(live)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(tree(t, remote)), describe(tree(t, target)); got != want {
		t.Errorf("the mirror differs from the live site:\n got %s\nwant %s", got, want)
	}
}

func input(counter int) publish.Input {
	return publish.Input{Run: &report.Run{Counter: counter}}
}

var files1 = map[string]string{
	"index.html":                    "<h1>run 1</h1>\n",
	"status.json":                   `{"counter":1}`,
	"logs/app.log":                  "building app\n",
	"packages/app/app_1.0_all.deb":  strings.Repeat("deb 1 ", 10000),
	"packages/app/gone-next-run.gz": "only in run 1",
	"packages/lib/a b#c%2e.tar":     "odd name",
}

// files2 is the next run: a changed file of the same size (and written
// within the same second), one removed, one added.
var files2 = map[string]string{
	"index.html":                   "<h1>run 2</h1>\n",
	"status.json":                  `{"counter":2}`,
	"logs/app.log":                 "building app\n",
	"packages/app/app_1.0_all.deb": strings.Repeat("deb 2 ", 10000),
	"packages/lib/a b#c%2e.tar":    "odd name",
	"packages/new/new.zip":         "new in run 2",
}

func TestMirrorToDaemon(t *testing.T) {
	d := mirrortest.Start(t)
	dir := t.TempDir()
	m := &mirror.Mirror{Site: liveSite(t, dir, 1, files1), To: d.URL(mirrortest.User, "www"),
		PasswordFile: mirrortest.PasswordFile(t, mirrortest.Password, 0o600)}
	remote := filepath.Join(d.Root, "www")
	if err := m.Publish(context.Background(), input(1)); err != nil {
		t.Fatal(err)
	}
	sameTree(t, remote, m.Site)
	if len(tree(t, remote)) != 10 { // control: the comparison saw the files
		t.Fatalf("the mirror holds %d entries, want 10:\n%s", len(tree(t, remote)), describe(tree(t, remote)))
	}
	// Readable by the remote's web server, whatever the site's modes.
	fi, err := os.Stat(filepath.Join(remote, "packages/app/app_1.0_all.deb"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("a mirrored file: %v, %v; want mode 0644", fi, err)
	}

	liveSite(t, dir, 2, files2)
	if err := m.Publish(context.Background(), input(2)); err != nil {
		t.Fatal(err)
	}
	sameTree(t, remote, m.Site)
	if _, err := os.Lstat(filepath.Join(remote, "packages/app/gone-next-run.gz")); !os.IsNotExist(err) {
		t.Errorf("a file the site dropped is still on the mirror: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(remote, "index.html")); string(b) != files2["index.html"] {
		t.Errorf("index.html on the mirror: %q", b)
	}
	// Nothing of the transfer is left behind (--delay-updates' folders).
	for rel := range tree(t, remote) {
		if strings.Contains(rel, "~tmp~") {
			t.Errorf("the transfer left %s", rel)
		}
	}
}

func TestAuthRefused(t *testing.T) {
	d := mirrortest.Start(t)
	dir := t.TempDir()
	live := liveSite(t, dir, 1, files1)
	remote := filepath.Join(d.Root, "www")
	good := &mirror.Mirror{Site: live, To: d.URL(mirrortest.User, "www"), PasswordFile: mirrortest.PasswordFile(t, mirrortest.Password, 0o600)}
	if err := good.Publish(context.Background(), input(1)); err != nil {
		t.Fatalf("control: %v", err)
	}
	before := describe(tree(t, remote))
	liveSite(t, dir, 2, files2)
	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", mirrortest.User, "not-the-password"},
		{"unknown user", "intruder", mirrortest.Password},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &mirror.Mirror{Site: live, To: d.URL(tc.user, "www"), PasswordFile: mirrortest.PasswordFile(t, tc.password, 0o600)}
			err := m.Publish(context.Background(), input(2))
			if err == nil {
				t.Fatal("Publish succeeded with a refused login")
			}
			t.Log(err)
			for _, want := range []string{m.To, "auth failed", "status 5"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if got := describe(tree(t, remote)); got != before {
				t.Errorf("a refused mirror changed the remote:\n%s", got)
			}
		})
	}
}

// The environment's RSYNC_PASSWORD is not what the mirror logs in with:
// without a password file, the login is refused (and nothing waits for a
// password to be typed).
func TestEnvironmentIgnored(t *testing.T) {
	d := mirrortest.Start(t)
	live := liveSite(t, t.TempDir(), 1, files1)
	t.Setenv("RSYNC_PASSWORD", mirrortest.Password)
	m := &mirror.Mirror{Site: live, To: d.URL(mirrortest.User, "www"), Timeout: time.Minute}
	if err := m.Publish(context.Background(), input(1)); err == nil {
		t.Fatal("the mirror logged in with RSYNC_PASSWORD from the environment")
	} else {
		t.Log(err)
	}
	// Control: the same password from a file logs in.
	m.PasswordFile = mirrortest.PasswordFile(t, mirrortest.Password, 0o600)
	if err := m.Publish(context.Background(), input(1)); err != nil {
		t.Fatal(err)
	}
}

func TestDaemonDown(t *testing.T) {
	d := mirrortest.Start(t)
	live := liveSite(t, t.TempDir(), 1, files1)
	m := &mirror.Mirror{Site: live, To: d.URL(mirrortest.User, "www"), PasswordFile: mirrortest.PasswordFile(t, mirrortest.Password, 0o600)}
	if err := m.Publish(context.Background(), input(1)); err != nil {
		t.Fatalf("control: %v", err)
	}
	d.Stop()
	err := m.Publish(context.Background(), input(2))
	if err == nil {
		t.Fatal("Publish succeeded with the daemon down")
	}
	t.Log(err)
	for _, want := range []string{m.To, "Connection refused", "status 10"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A daemon that accepts the connection and never answers: the mirror's
// timeout ends the transfer.
func TestTimeout(t *testing.T) {
	testutil.NeedTool(t, "rsync", "rsync")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns sync.WaitGroup
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); <-hold; c.Close() }()
		}
	}()
	live := liveSite(t, t.TempDir(), 1, files1)
	to := fmt.Sprintf("rsync://%s@%s/site/www", mirrortest.User, l.Addr())
	m := &mirror.Mirror{Site: live, To: to, PasswordFile: mirrortest.PasswordFile(t, mirrortest.Password, 0o600), Timeout: time.Second}
	err = m.Publish(context.Background(), input(1))
	if err == nil {
		t.Fatal("Publish succeeded against a daemon that never answers")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), to) || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("error %q does not name the destination and the timeout", err)
	}
}

func TestCancelled(t *testing.T) {
	d := mirrortest.Start(t)
	live := liveSite(t, t.TempDir(), 1, files1)
	m := &mirror.Mirror{Site: live, To: d.URL(mirrortest.User, "www"), PasswordFile: mirrortest.PasswordFile(t, mirrortest.Password, 0o600)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Publish(ctx, input(1)); err == nil {
		t.Fatal("Publish succeeded with a cancelled context")
	}
	if got := tree(t, filepath.Join(d.Root, "www")); len(got) != 0 {
		t.Errorf("a cancelled mirror copied %d entries", len(got))
	}
}

// A symlink in the site, to /etc, to a file of /etc or out of the site
// with "..", is never followed and never sent: the mirror holds the site's
// files and folders only. (A link inside the site is skipped too.)
func TestSymlinksNotFollowed(t *testing.T) {
	d := mirrortest.Start(t)
	dir := t.TempDir()
	live := liveSite(t, dir, 1, map[string]string{"index.html": "site\n", "packages/app/a.deb": "deb"})
	site, _ := filepath.EvalSymlinks(live)
	outside := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(outside, []byte("outside the site"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"etc":                    "/etc",
		"packages/app/passwd":    "/etc/passwd",
		"packages/app/up":        "../../../..",
		"packages/app/secret":    outside,
		"packages/app/rel":       "../../../secret.txt",
		"packages/app/same.deb":  "a.deb",
		"packages/app/here-etc/": "/etc/",
	} {
		if err := os.Symlink(target, filepath.Join(site, filepath.FromSlash(strings.TrimSuffix(name, "/")))); err != nil {
			t.Fatal(err)
		}
	}
	m := &mirror.Mirror{Site: live, To: d.URL(mirrortest.User, "www"), PasswordFile: mirrortest.PasswordFile(t, mirrortest.Password, 0o600)}
	if err := m.Publish(context.Background(), input(1)); err != nil {
		t.Fatal(err)
	}
	got := tree(t, filepath.Join(d.Root, "www"))
	want := map[string]string{
		"index.html":         "file " + sha("site\n"),
		"packages":           "folder",
		"packages/app":       "folder",
		"packages/app/a.deb": "file " + sha("deb"),
	}
	if describe(got) != describe(want) {
		t.Errorf("the mirror holds:\n%s\nwant only the site's files:\n%s", describe(got), describe(want))
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestPasswordFileMode(t *testing.T) {
	d := mirrortest.Start(t)
	live := liveSite(t, t.TempDir(), 1, files1)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		m := &mirror.Mirror{Site: live, To: d.URL(mirrortest.User, "www"), PasswordFile: mirrortest.PasswordFile(t, mirrortest.Password, mode)}
		err := m.Publish(context.Background(), input(1))
		if err == nil || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), m.PasswordFile) {
			t.Errorf("mode %04o: %v; want a refusal naming the file", mode, err)
		}
	}
	if got := tree(t, filepath.Join(d.Root, "www")); len(got) != 0 {
		t.Errorf("a refused password file still copied %d entries", len(got))
	}
	m := &mirror.Mirror{Site: live, To: d.URL(mirrortest.User, "www"), PasswordFile: mirrortest.PasswordFile(t, mirrortest.Password, 0o400)}
	if err := m.Publish(context.Background(), input(1)); err != nil {
		t.Fatalf("control (mode 0400): %v", err)
	}
}

// host:path goes through the remote shell: here one that runs the
// "remote" rsync on this machine, as ssh would run it on the host.
func TestShellDestination(t *testing.T) {
	testutil.NeedTool(t, "rsync", "rsync")
	dir := t.TempDir()
	shell := filepath.Join(dir, "fake ssh")
	calls := filepath.Join(dir, "calls")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> '%s'\nwhile [ \"$1\" != rsync ]; do shift; done\nexec \"$@\"\n", calls)
	if err := os.WriteFile(shell, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	live := liveSite(t, dir, 1, files1)
	remote := filepath.Join(dir, "remote folder")
	m := &mirror.Mirror{Site: live, To: "builder@mirror.example:" + remote, RSH: `"` + shell + `" -x`}
	if err := m.Publish(context.Background(), input(1)); err != nil {
		t.Fatal(err)
	}
	sameTree(t, remote, live)
	b, _ := os.ReadFile(calls)
	if !strings.HasPrefix(string(b), "-x -l builder mirror.example rsync --server") {
		t.Errorf("the remote shell ran as %q", b)
	}
	// --protect-args: the remote path is not on the remote command line.
	if strings.Contains(string(b), "remote folder") {
		t.Errorf("the remote path reached the remote shell's command line: %q", b)
	}
}

func TestParseDest(t *testing.T) {
	good := map[string]string{
		"rsync://host/mod":                "rsync://host/mod/",
		"rsync://u@host:8873/mod/a/b/":    "rsync://u@host:8873/mod/a/b/",
		"rsync://[::1]:873/mod/x":         "rsync://[::1]:873/mod/x/",
		"builder@mirror.example:/srv/www": "builder@mirror.example:/srv/www/",
		"mirror.example:www":              "mirror.example:www/",
		"[2001:db8::1]:/srv/www/":         "[2001:db8::1]:/srv/www/",
		"host:/srv/a b":                   "host:/srv/a b/",
	}
	for to, want := range good {
		d, err := mirror.ParseDest(to)
		if err != nil || d.Arg != want || d.Daemon != strings.HasPrefix(to, "rsync://") {
			t.Errorf("ParseDest(%q) = %+v, %v; want %q", to, d, err, want)
		}
	}
	bad := map[string]string{
		"":                        "missing",
		"/srv/www":                "local path",
		"./host:www":              "local path",
		"www":                     "local path",
		"host::module":            "rsync://host/module",
		"-oProxyCommand=x:/srv":   "'-'",
		"u@-oProxyCommand=x:/srv": "'-'",
		"host:":                   "names no folder",
		"host:/":                  "not a folder of its own",
		"host:~":                  "not a folder of its own",
		"rsync://u:pw@host/mod":   "password_file",
		"rsync://host":            "no module",
		"rsync://host/":           "no module",
		"rsync://host/mod/../etc": "plain folder names",
		"rsync://host/mod?x=1":    "query",
		"rsync://host/mod#x":      "fragment",
		"rsync://host/mod/a%20b":  "%-escapes",
		"rsync:///mod":            "no host",
		"rsync://-x/mod":          "'-'",
		"ssh://host/srv":          "only URL scheme",
		"host:/srv\nx":            "control character",
	}
	for to, want := range bad {
		if _, err := mirror.ParseDest(to); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDest(%q) = %v; want an error saying %q", to, err, want)
		}
	}
}

// The conformance suite, on the mirror as the engine runs it: after the
// site publisher, copying its live site to a folder of the test's daemon.
// What the mirror made visible is that folder.
func TestConformance(t *testing.T) {
	d := mirrortest.Start(t)
	pw := mirrortest.PasswordFile(t, mirrortest.Password, 0o600)
	var mu sync.Mutex
	remotes := map[string]string{}
	remote := func(dir string) string {
		mu.Lock()
		defer mu.Unlock()
		r, ok := remotes[dir]
		if !ok {
			r = fmt.Sprintf("p%d", len(remotes))
			remotes[dir] = r
		}
		return r
	}
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T, dir string) publish.Publisher {
			site := &publish.Site{Dir: filepath.Join(dir, "public_html"), Sites: filepath.Join(dir, "sites"), Keep: 2}
			return &afterSite{site: site, mirror: &mirror.Mirror{Site: site.Dir, To: d.URL(mirrortest.User, remote(dir)), PasswordFile: pw}}
		},
		Snapshot: func(t *testing.T, dir string) string {
			return describe(tree(t, filepath.Join(d.Root, remote(dir))))
		},
	})
}

// afterSite runs the site publisher, then the mirror, as the engine does:
// the mirror runs whether the site published or not, and its own result
// is the result.
type afterSite struct {
	site   *publish.Site
	mirror *mirror.Mirror
}

func (a *afterSite) Name() string { return a.mirror.Name() }

func (a *afterSite) Publish(ctx context.Context, in publish.Input) error {
	_ = a.site.Publish(ctx, in)
	return a.mirror.Publish(ctx, in)
}
