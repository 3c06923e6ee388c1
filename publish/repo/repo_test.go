package repo_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/publish/publishtest"
	"github.com/autobuild/autobuild/publish/repo"
)

// testKey makes a signing key: the secret key's file (mode 0600) and the
// public key's, both ASCII-armored.
func testKey(t *testing.T, dir string, passphrase string) (secret, public string) {
	t.Helper()
	e, err := openpgp.NewEntity("autobuild test", "", "test@example.invalid", &packet.Config{RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, typ string, f func(w *bytes.Buffer) error) string {
		var b bytes.Buffer
		w, err := armor.Encode(&b, typ, nil)
		if err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		if err := f(&raw); err != nil {
			t.Fatal(err)
		}
		w.Write(raw.Bytes())
		w.Close()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, append(b.Bytes(), '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret = write("secret.asc", openpgp.PrivateKeyType, func(w *bytes.Buffer) error {
		if passphrase != "" {
			// Serialize the encrypted key as it is.
			return e.SerializePrivateWithoutSigning(w, nil)
		}
		return e.SerializePrivate(w, nil)
	})
	public = write("public.asc", openpgp.PublicKeyType, func(w *bytes.Buffer) error { return e.Serialize(w) })
	os.Chmod(public, 0o644)
	return secret, public
}

// makeDeb builds a .deb with dpkg-deb and returns its path.
func makeDeb(t *testing.T, dir, name, version, body string) string {
	t.Helper()
	root := filepath.Join(dir, "debroot-"+name+"-"+version)
	must(t, os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "usr/share", name), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "usr/share", name, "hello"), []byte(body), 0o644))
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: Test <test@example.invalid>\nDescription: a test package\n built by a module.\n .\n Second paragraph.\n", name, version)
	must(t, os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte(control), 0o644))
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", name, version))
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, b)
	}
	return out
}

// makeRPM builds a noarch RPM with rpmbuild and returns its path.
func makeRPM(t *testing.T, dir, name, version string) string {
	t.Helper()
	top := filepath.Join(dir, "rpmbuild-"+name+"-"+version)
	must(t, os.MkdirAll(filepath.Join(top, "SPECS"), 0o755))
	spec := fmt.Sprintf(`Name: %s
Version: %s
Release: 1
Summary: a test package
License: MIT
BuildArch: noarch
%%description
Built by a module.
%%install
mkdir -p %%{buildroot}/usr/share/%s
echo hello > %%{buildroot}/usr/share/%s/hello
%%files
/usr/share/%s/hello
`, name, version, name, name, name)
	sp := filepath.Join(top, "SPECS", name+".spec")
	must(t, os.WriteFile(sp, []byte(spec), 0o644))
	cmd := exec.Command("rpmbuild", "-bb", "--define", "_topdir "+top, "--define", "_build_id_links none", sp)
	cmd.Env = append(os.Environ(), "HOME="+top)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rpmbuild: %v\n%s", err, b)
	}
	p := filepath.Join(top, "RPMS", "noarch", fmt.Sprintf("%s-%s-1.noarch.rpm", name, version))
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fixture is a site with its repositories, published from package
// folders the test fills.
type fixture struct {
	dir, public, pkgs string
	site              *publish.Site
	repos             *repo.Repos
	secret, pubkey    string
	counter           int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := testutil.Dir(t)
	secret, pub := testKey(t, dir, "")
	k, err := repo.LoadKey(secret, "")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, public: filepath.Join(dir, "public_html"), pkgs: filepath.Join(dir, "pkg"), secret: secret, pubkey: pub}
	f.repos = &repo.Repos{Key: k, Label: "autobuild test"}
	f.site = &publish.Site{Dir: f.public, Sites: filepath.Join(dir, "sites"), Keep: 3, Parts: []publish.Part{f.repos}}
	return f
}

// put copies a package file into module's package folder.
func (f *fixture) put(t *testing.T, module, src string) {
	t.Helper()
	d := filepath.Join(f.pkgs, module)
	must(t, os.MkdirAll(d, 0o755))
	b, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(d, filepath.Base(src)), b, 0o644))
}

// publish publishes a run of every module under pkg/, each artifact
// described as engine/packages would (kind, name, version, arch from the
// file name).
func (f *fixture) publish(t *testing.T) {
	t.Helper()
	f.counter++
	in := f.input(t)
	if err := f.site.Publish(context.Background(), in); err != nil {
		t.Fatalf("site: %v", err)
	}
	if err := f.repos.Publish(context.Background(), in); err != nil {
		t.Fatalf("repos: %v", err)
	}
}

// input is the run of every module under pkg/.
func (f *fixture) input(t *testing.T) publish.Input {
	t.Helper()
	run := &report.Run{Counter: f.counter}
	in := publish.Input{Run: run, Files: map[string]publish.ModuleFiles{}}
	mods, _ := os.ReadDir(f.pkgs)
	for _, m := range mods {
		mod := report.Module{Name: m.Name(), State: report.Built}
		files, _ := os.ReadDir(filepath.Join(f.pkgs, m.Name()))
		for _, e := range files {
			b, err := os.ReadFile(filepath.Join(f.pkgs, m.Name(), e.Name()))
			must(t, err)
			sum := sha256.Sum256(b)
			a := report.Artifact{Path: e.Name(), Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
			switch {
			case strings.HasSuffix(e.Name(), ".deb"):
				p := strings.Split(strings.TrimSuffix(e.Name(), ".deb"), "_")
				a.Package = &report.Package{Kind: "deb", Name: p[0], Version: p[1], Arch: p[2]}
			case strings.HasSuffix(e.Name(), ".rpm"):
				a.Package = &report.Package{Kind: "rpm", Name: e.Name()}
			}
			mod.Artifacts = append(mod.Artifacts, a)
		}
		run.Modules = append(run.Modules, mod)
		in.Files[m.Name()] = publish.ModuleFiles{Packages: filepath.Join(f.pkgs, m.Name())}
	}
	return in
}

// serve serves the live site; tamper, when it returns a body, replaces
// the file at that path (nil: 404).
type server struct {
	*httptest.Server
	tamper atomic.Pointer[func(path string, body []byte) ([]byte, bool)]
}

func (f *fixture) serve(t *testing.T) *server {
	s := &server{}
	files := http.FileServer(http.Dir(f.public))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Two runs of a test publish within a second: a Last-Modified
		// of one-second resolution cannot tell their files apart.
		r.Header.Del("If-Modified-Since")
		r.Header.Del("If-None-Match")
		if tp := s.tamper.Load(); tp != nil {
			b, err := os.ReadFile(filepath.Join(f.public, filepath.FromSlash(r.URL.Path)))
			if err == nil {
				if nb, ok := (*tp)(r.URL.Path, b); ok {
					if nb == nil {
						http.NotFound(w, r)
						return
					}
					w.Write(nb)
					return
				}
			}
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) setTamper(f func(path string, body []byte) ([]byte, bool)) {
	if f == nil {
		s.tamper.Store(nil)
		return
	}
	s.tamper.Store(&f)
}

// apt runs apt-get with every folder of its own under dir.
type apt struct {
	t    *testing.T
	dir  string
	opts []string
}

func newApt(t *testing.T, url, pubkey string) *apt {
	testutil.NeedTool(t, "apt-get", "apt")
	dir := testutil.Dir(t)
	for _, d := range []string{"state/lists/partial", "cache/archives/partial", "parts", "trusted.d", "dl"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(dir, "status"), nil, 0o644))
	src := filepath.Join(dir, "sources.list")
	must(t, os.WriteFile(src, []byte(fmt.Sprintf("deb [signed-by=%s] %s/repos/apt ./\n", pubkey, url)), 0o644))
	return &apt{t: t, dir: dir, opts: []string{
		"-o", "Dir::State=" + filepath.Join(dir, "state"),
		"-o", "Dir::State::status=" + filepath.Join(dir, "status"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "Dir::Etc::SourceList=" + src,
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(dir, "parts"),
		"-o", "Dir::Etc::Trusted=" + filepath.Join(dir, "trusted.gpg"),
		"-o", "Dir::Etc::TrustedParts=" + filepath.Join(dir, "trusted.d"),
		"-o", "Dir::Etc::Preferences=" + filepath.Join(dir, "preferences"),
		"-o", "Dir::Etc::PreferencesParts=" + filepath.Join(dir, "parts"),
		"-o", "Debug::NoLocking=1",
		"-o", "APT::Sandbox::User=root",
		"-o", "Acquire::Retries=0",
		"-o", "APT::Get::List-Cleanup=0",
	}}
}

func (a *apt) run(args ...string) (string, error) {
	cmd := exec.Command("apt-get", append(append([]string{"-q"}, a.opts...), args...)...)
	cmd.Dir = filepath.Join(a.dir, "dl")
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	b, err := cmd.CombinedOutput()
	return string(b), err
}

func TestAptGetUpdateAndDownload(t *testing.T) {
	testutil.NeedTool(t, "dpkg-deb", "dpkg")
	testutil.NeedTool(t, "createrepo_c", "createrepo-c")
	f := newFixture(t)
	hello := makeDeb(t, f.dir, "ab-hello", "1.0", "one")
	f.put(t, "hello", hello)
	f.put(t, "other", makeDeb(t, f.dir, "ab-other", "2.0", "two"))
	f.publish(t)
	srv := f.serve(t)

	a := newApt(t, srv.URL, f.pubkey)
	if out, err := a.run("update"); err != nil || strings.Contains(out, "W:") || strings.Contains(out, "E:") {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	if out, err := a.run("download", "ab-hello"); err != nil {
		t.Fatalf("apt-get download: %v\n%s", err, out)
	}
	sameFile(t, filepath.Join(a.dir, "dl", "ab-hello_1.0_all.deb"), hello)

	// The next run: ab-hello changes, ab-other does not. The stanza of
	// ab-other comes from the live site's Packages (marked there by the
	// test, and signed again with the repositories' key), not from its
	// .deb again.
	markApt(t, f.public, f.repos.Key, nil)
	hello2 := makeDeb(t, f.dir, "ab-hello", "1.1", "one, changed")
	must(t, os.Remove(filepath.Join(f.pkgs, "hello", filepath.Base(hello))))
	f.put(t, "hello", hello2)
	f.publish(t)
	got := livePackages(t, f.public)
	if !strings.Contains(got, "Package: ab-other\nX-Reused: yes\n") {
		t.Errorf("the unchanged package's stanza was not reused:\n%s", got)
	}
	if !strings.Contains(got, "Package: ab-hello\nVersion: 1.1\n") || strings.Contains(got, "Version: 1.0") {
		t.Errorf("the changed package's stanza is not its new one:\n%s", got)
	}
	if out, err := a.run("update"); err != nil || strings.Contains(out, "W:") || strings.Contains(out, "E:") {
		t.Fatalf("apt-get update after the second run: %v\n%s", err, out)
	}
	if out, err := a.run("download", "ab-hello"); err != nil {
		t.Fatalf("apt-get download: %v\n%s", err, out)
	}
	sameFile(t, filepath.Join(a.dir, "dl", "ab-hello_1.1_all.deb"), hello2)

	// Controls: a signed text changed after signing is refused, through
	// InRelease and through Release with Release.gpg.
	flip := func(b []byte) []byte {
		return bytes.Replace(b, []byte("Suite: autobuild"), []byte("Suite: autobuilt"), 1)
	}
	for _, c := range []struct {
		name   string
		tamper func(path string, body []byte) ([]byte, bool)
	}{
		{"InRelease", func(p string, b []byte) ([]byte, bool) {
			return flip(b), strings.HasSuffix(p, "/InRelease")
		}},
		{"Release", func(p string, b []byte) ([]byte, bool) {
			switch {
			case strings.HasSuffix(p, "/InRelease"):
				return nil, true
			case strings.HasSuffix(p, "/Release"):
				return flip(b), true
			}
			return nil, false
		}},
	} {
		t.Run("tampered "+c.name, func(t *testing.T) {
			srv.setTamper(c.tamper)
			defer srv.setTamper(nil)
			fresh := newApt(t, srv.URL, f.pubkey)
			out, err := fresh.run("update")
			if err == nil || !strings.Contains(out, "not signed") && !strings.Contains(out, "signatures were invalid") && !strings.Contains(out, "BADSIG") {
				t.Fatalf("apt-get update of a tampered %s: %v\n%s", c.name, err, out)
			}
			t.Logf("apt-get update of a tampered %s:\n%s", c.name, out)
		})
	}
}

// A live Packages changed after it was signed is not reused, nor one
// signed by another key, nor one that does not match its Release: each
// of its packages is read again. The control is the same change signed
// with the repositories' key, which is reused.
func TestAptReusesOnlySignedStanzas(t *testing.T) {
	testutil.NeedTool(t, "dpkg-deb", "dpkg")
	f := newFixture(t)
	f.put(t, "hello", makeDeb(t, f.dir, "ab-hello", "1.0", "one"))
	f.put(t, "other", makeDeb(t, f.dir, "ab-other", "2.0", "two"))
	f.publish(t)
	want := livePackages(t, f.public)
	okay := func(t *testing.T, got string) {
		t.Helper()
		for _, p := range []string{"Package: ab-hello\nVersion: 1.0\n", "Package: ab-other\n", "Version: 2.0\n", "Filename: pool/other/ab-other_2.0_all.deb\n"} {
			if !strings.Contains(got, p) {
				t.Errorf("the index lacks %q:\n%s", p, got)
			}
		}
	}
	kdir := testutil.Dir(t)
	otherSecret, _ := testKey(t, kdir, "")
	other, err := repo.LoadKey(otherSecret, "")
	must(t, err)
	for _, c := range []struct {
		name   string
		mark   func()
		reused bool
	}{
		{"signed again with the key (control)", func() { markApt(t, f.public, f.repos.Key, nil) }, true},
		{"changed after signing", func() { markApt(t, f.public, nil, nil) }, false},
		{"signed by another key", func() { markApt(t, f.public, other, nil) }, false},
		{"Packages not the one Release lists", func() {
			markApt(t, f.public, f.repos.Key, nil)
			pk := filepath.Join(liveDir(t, f.public), "repos/apt/Packages")
			b, err := os.ReadFile(pk)
			must(t, err)
			must(t, os.Chmod(pk, 0o644))
			must(t, os.WriteFile(pk, bytes.Replace(b, []byte("X-Reused: yes"), []byte("X-Reused: no!"), 1), 0o444))
		}, false},
		{"signed but truncated", func() {
			markApt(t, f.public, f.repos.Key, func(b string) string { return b[:len(b)/2] })
		}, false},
		{"Packages truncated", func() {
			markApt(t, f.public, f.repos.Key, nil)
			pk := filepath.Join(liveDir(t, f.public), "repos/apt/Packages")
			b, err := os.ReadFile(pk)
			must(t, err)
			must(t, os.Chmod(pk, 0o644))
			must(t, os.WriteFile(pk, b[:len(b)/2], 0o444))
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.mark()
			f.publish(t)
			got := livePackages(t, f.public)
			if reused := strings.Contains(got, "X-Reused"); reused != c.reused {
				t.Errorf("stanza reused: %v, want %v:\n%s", reused, c.reused, got)
			}
			okay(t, got)
			if !c.reused && got != want {
				t.Errorf("the index read again is not the first one:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// liveDir is the live site's folder.
func liveDir(t *testing.T, public string) string {
	t.Helper()
	live, err := filepath.EvalSymlinks(public)
	must(t, err)
	return live
}

func livePackages(t *testing.T, public string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(liveDir(t, public), "repos/apt/Packages"))
	must(t, err)
	return string(b)
}

// markApt adds a field to ab-other's stanza in the live site's Packages
// (and then changes the file with corrupt, when not nil) and, when key is
// not nil, writes its Release again with the new file's SHA-256 and size
// and signs it with key.
func markApt(t *testing.T, public string, key *repo.Key, corrupt func(string) string) {
	t.Helper()
	dir := filepath.Join(liveDir(t, public), "repos/apt")
	pk := filepath.Join(dir, "Packages")
	old, err := os.ReadFile(pk)
	must(t, err)
	marked := strings.Replace(string(old), "Package: ab-other\n", "Package: ab-other\nX-Reused: yes\n", 1)
	if corrupt != nil {
		marked = corrupt(marked)
	}
	must(t, os.Chmod(pk, 0o644))
	must(t, os.WriteFile(pk, []byte(marked), 0o444))
	if key == nil {
		return
	}
	rel, err := os.ReadFile(filepath.Join(dir, "Release"))
	must(t, err)
	osum, nsum := sha256.Sum256(old), sha256.Sum256([]byte(marked))
	from := fmt.Sprintf(" %x %d Packages\n", osum, len(old))
	if !bytes.Contains(rel, []byte(from)) {
		t.Fatalf("Release does not list Packages as %q:\n%s", from, rel)
	}
	rel = bytes.Replace(rel, []byte(from), []byte(fmt.Sprintf(" %x %d Packages\n", nsum, len(marked))), 1)
	sig, err := key.DetachSign(rel)
	must(t, err)
	for name, b := range map[string][]byte{"Release": rel, "Release.gpg": sig} {
		p := filepath.Join(dir, name)
		must(t, os.Chmod(p, 0o644))
		must(t, os.WriteFile(p, b, 0o444))
	}
}

func sameFile(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	must(t, err)
	if !bytes.Equal(g, w) {
		t.Fatalf("%s differs from %s", got, want)
	}
}

// dnf runs dnf with its configuration, cache and install root under a
// fresh folder, and only the site's repository.
func dnf(t *testing.T, url, pubkey string, args ...string) (string, error) {
	dir := testutil.Dir(t)
	conf := filepath.Join(dir, "dnf.conf")
	must(t, os.WriteFile(conf, []byte("[main]\n"), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "log"), 0o755))
	base := []string{"-y", "--config=" + conf, "--installroot=" + filepath.Join(dir, "root"), "--releasever=1",
		"--setopt=reposdir=" + filepath.Join(dir, "repos.d"), "--setopt=cachedir=" + filepath.Join(dir, "cache"),
		"--setopt=logdir=" + filepath.Join(dir, "log"), "--setopt=persistdir=" + filepath.Join(dir, "persist"),
		"--repofrompath=ab," + url + "/repos/yum", "--repo=ab",
		"--setopt=ab.gpgcheck=0", "--setopt=ab.repo_gpgcheck=1", "--setopt=ab.gpgkey=file://" + pubkey}
	cmd := exec.Command("dnf", append(base, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	return string(b), err
}

func TestDnfListAndDownload(t *testing.T) {
	testutil.NeedTool(t, "rpmbuild", "rpm")
	testutil.NeedTool(t, "createrepo_c", "createrepo-c")
	testutil.NeedTool(t, "dnf", "dnf")
	f := newFixture(t)
	rpm := makeRPM(t, f.dir, "ab-hello", "1.0")
	f.put(t, "hello", rpm)
	f.publish(t)
	srv := f.serve(t)

	out, err := dnf(t, srv.URL, f.pubkey, "repoquery", "ab-hello")
	if err != nil || !strings.Contains(out, "ab-hello-0:1.0-1.noarch") {
		t.Fatalf("dnf repoquery: %v\n%s", err, out)
	}
	dl := testutil.Dir(t)
	out, err = dnf(t, srv.URL, f.pubkey, "install", "--downloadonly", "--downloaddir="+dl, "ab-hello")
	if err != nil {
		t.Fatalf("dnf install --downloadonly: %v\n%s", err, out)
	}
	sameFile(t, filepath.Join(dl, filepath.Base(rpm)), rpm)

	// Control: a repomd.xml changed after signing is refused.
	srv.setTamper(func(p string, b []byte) ([]byte, bool) {
		return bytes.Replace(b, []byte("<revision>"), []byte("<revision>1"), 1), strings.HasSuffix(p, "/repomd.xml")
	})
	out, err = dnf(t, srv.URL, f.pubkey, "repoquery", "ab-hello")
	if err == nil || strings.Contains(out, "ab-hello-0:1.0-1.noarch") || !strings.Contains(strings.ToLower(out), "signature") {
		t.Fatalf("dnf accepted a tampered repomd.xml, or refused it for another reason: %v\n%s", err, out)
	}
	t.Logf("dnf with a tampered repomd.xml:\n%s", out)
}

// The yum repository reads again only what changed: an unchanged
// package's entries come from the live site's metadata (marked there by
// the test, and signed again with the repositories' key), a changed
// package is indexed anew, a removed one is gone, and dnf, checking the
// signature, sees exactly that. Metadata changed after signing, signed by
// another key, not the file repomd.xml lists, or signed but corrupt, is
// not reused: every package is read again.
func TestYumReusesOnlySignedEntries(t *testing.T) {
	testutil.NeedTool(t, "rpmbuild", "rpm")
	testutil.NeedTool(t, "createrepo_c", "createrepo-c")
	testutil.NeedTool(t, "dnf", "dnf")
	f := newFixture(t)
	hello := makeRPM(t, f.dir, "ab-hello", "1.0")
	f.put(t, "hello", hello)
	f.put(t, "other", makeRPM(t, f.dir, "ab-other", "2.0"))
	f.publish(t)
	markYum(t, f.public, "reused", f.repos.Key, nil)
	must(t, os.Remove(filepath.Join(f.pkgs, "hello", filepath.Base(hello))))
	f.put(t, "hello", makeRPM(t, f.dir, "ab-hello", "1.1"))
	f.publish(t)
	srv := f.serve(t)
	okay := func(t *testing.T, x string) {
		t.Helper()
		for _, w := range []string{"<name>ab-hello</name>", `ver="1.1"`, `<location href="pool/hello/ab-hello-1.1-1.noarch.rpm"/>`,
			"<name>ab-other</name>", `ver="2.0"`, `<location href="pool/other/ab-other-2.0-1.noarch.rpm"/>`} {
			if !strings.Contains(x, w) {
				t.Errorf("primary.xml lacks %s:\n%s", w, x)
			}
		}
		if strings.Contains(x, `ver="1.0"`) {
			t.Errorf("primary.xml still lists the changed package's old version:\n%s", x)
		}
	}
	x := liveYum(t, f.public, "primary")
	okay(t, x)
	if !strings.Contains(x, "<summary>reused</summary>") {
		t.Errorf("the unchanged package's entry was not reused:\n%s", x)
	}
	out, err := dnf(t, srv.URL, f.pubkey, "repoquery")
	if err != nil || !strings.Contains(out, "ab-hello-0:1.1-1.noarch") || !strings.Contains(out, "ab-other-0:2.0-1.noarch") || strings.Contains(out, "1.0-1") {
		t.Fatalf("dnf repoquery: %v\n%s", err, out)
	}
	// The files come from filelists.xml.
	out, err = dnf(t, srv.URL, f.pubkey, "repoquery", "--list", "ab-hello", "ab-other")
	if err != nil || !strings.Contains(out, "/usr/share/ab-hello/hello") || !strings.Contains(out, "/usr/share/ab-other/hello") {
		t.Fatalf("dnf repoquery --list: %v\n%s", err, out)
	}

	kdir := testutil.Dir(t)
	otherSecret, _ := testKey(t, kdir, "")
	other, err := repo.LoadKey(otherSecret, "")
	must(t, err)
	truncate := func(b []byte) []byte { return b[:len(b)-8] }
	for _, c := range []struct {
		name string
		mark func()
	}{
		{"changed after signing", func() { markYum(t, f.public, "reused, unsigned", nil, nil) }},
		{"signed by another key", func() { markYum(t, f.public, "reused, signed by another key", other, nil) }},
		{"not the file repomd.xml lists", func() {
			p := markYum(t, f.public, "reused, then changed", f.repos.Key, nil)
			b, err := os.ReadFile(p)
			must(t, err)
			must(t, os.Chmod(p, 0o644))
			must(t, os.WriteFile(p, append(b, 0), 0o444))
		}},
		{"signed but truncated", func() { markYum(t, f.public, "reused, truncated", f.repos.Key, truncate) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.mark()
			f.publish(t)
			x := liveYum(t, f.public, "primary")
			okay(t, x)
			if strings.Contains(x, "reused") {
				t.Errorf("an entry was reused:\n%s", x)
			}
		})
	}

	// A removed package is gone from all three files, and from dnf's view.
	must(t, os.RemoveAll(filepath.Join(f.pkgs, "other")))
	f.publish(t)
	for _, name := range []string{"primary", "filelists", "other"} {
		if x := liveYum(t, f.public, name); strings.Contains(x, "ab-other") || !strings.Contains(x, "ab-hello") || !strings.Contains(x, `packages="1"`) {
			t.Errorf("%s.xml after ab-other was removed:\n%s", name, x)
		}
	}
	out, err = dnf(t, srv.URL, f.pubkey, "repoquery")
	if err != nil || !strings.Contains(out, "ab-hello-0:1.1-1.noarch") || strings.Contains(out, "ab-other") {
		t.Fatalf("dnf repoquery after ab-other was removed: %v\n%s", err, out)
	}
	// With no RPM left, the repository is empty, and still one dnf reads.
	must(t, os.RemoveAll(filepath.Join(f.pkgs, "hello")))
	f.publish(t)
	if x := liveYum(t, f.public, "primary"); strings.Contains(x, "<package") || !strings.Contains(x, `packages="0"`) {
		t.Errorf("primary.xml with no RPM:\n%s", x)
	}
	out, err = dnf(t, srv.URL, f.pubkey, "repoquery")
	if err != nil || strings.Contains(out, "ab-hello") {
		t.Fatalf("dnf repoquery of the empty repository: %v\n%s", err, out)
	}
}

// yumData finds the file of one type (primary, filelists, other) in a
// repomd.xml: its path in repodata/ and its whole <data> element.
var yumData = regexp.MustCompile(`(?s)<data type="(\w+)">.*?<location href="repodata/([^"]+)"/>.*?</data>`)

func yumFile(t *testing.T, md []byte, typ string) (name, data string) {
	t.Helper()
	for _, m := range yumData.FindAllSubmatch(md, -1) {
		if string(m[1]) == typ {
			return string(m[2]), string(m[0])
		}
	}
	t.Fatalf("repomd.xml lists no %s:\n%s", typ, md)
	return "", ""
}

// liveYum is the live site's yum metadata file of a type, uncompressed.
func liveYum(t *testing.T, public, typ string) string {
	t.Helper()
	dir := filepath.Join(liveDir(t, public), "repos/yum/repodata")
	md, err := os.ReadFile(filepath.Join(dir, "repomd.xml"))
	must(t, err)
	name, _ := yumFile(t, md, typ)
	b, err := os.ReadFile(filepath.Join(dir, name))
	must(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(b))
	must(t, err)
	x, err := io.ReadAll(zr)
	must(t, err)
	return string(x)
}

// markYum changes ab-other's summary in the live site's primary.xml.gz
// to summary (and then the compressed file with corrupt, when not nil),
// writes the file's new SHA-256 and sizes into repomd.xml and, when key
// is not nil, signs repomd.xml with key. It returns the file's path.
func markYum(t *testing.T, public, summary string, key *repo.Key, corrupt func([]byte) []byte) string {
	t.Helper()
	dir := filepath.Join(liveDir(t, public), "repos/yum/repodata")
	md, err := os.ReadFile(filepath.Join(dir, "repomd.xml"))
	must(t, err)
	name, data := yumFile(t, md, "primary")
	p := filepath.Join(dir, name)
	gz, err := os.ReadFile(p)
	must(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	must(t, err)
	x, err := io.ReadAll(zr)
	must(t, err)
	i := bytes.Index(x, []byte("<name>ab-other</name>"))
	j := bytes.Index(x[i:], []byte("<summary>"))
	k := bytes.Index(x[i+j:], []byte("</summary>"))
	if i < 0 || j < 0 || k < 0 {
		t.Fatalf("no summary of ab-other in primary.xml:\n%s", x)
	}
	nx := append(append(append([]byte(nil), x[:i+j]...), "<summary>"+summary...), x[i+j+k:]...)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(nx)
	must(t, zw.Close())
	ngz := b.Bytes()
	if corrupt != nil {
		ngz = corrupt(ngz)
	}
	must(t, os.Chmod(p, 0o644))
	must(t, os.WriteFile(p, ngz, 0o444))
	sum, osum := sha256.Sum256(ngz), sha256.Sum256(nx)
	nd := regexp.MustCompile(`<checksum type="sha256">\w+</checksum>`).ReplaceAllString(data, fmt.Sprintf(`<checksum type="sha256">%x</checksum>`, sum))
	nd = regexp.MustCompile(`<open-checksum type="sha256">\w+</open-checksum>`).ReplaceAllString(nd, fmt.Sprintf(`<open-checksum type="sha256">%x</open-checksum>`, osum))
	nd = regexp.MustCompile(`<size>\d+</size>`).ReplaceAllString(nd, fmt.Sprintf("<size>%d</size>", len(ngz)))
	nd = regexp.MustCompile(`<open-size>\d+</open-size>`).ReplaceAllString(nd, fmt.Sprintf("<open-size>%d</open-size>", len(nx)))
	md = bytes.Replace(md, []byte(data), []byte(nd), 1)
	write := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		must(t, os.Chmod(p, 0o644))
		must(t, os.WriteFile(p, b, 0o444))
	}
	write("repomd.xml", md)
	if key != nil {
		sig, err := key.DetachSign(md)
		must(t, err)
		write("repomd.xml.asc", sig)
	}
	return p
}

// The site with its repositories still keeps the publisher contract.
func TestConformance(t *testing.T) {
	testutil.NeedTool(t, "createrepo_c", "createrepo-c")
	kdir := testutil.Dir(t)
	secret, _ := testKey(t, kdir, "")
	k, err := repo.LoadKey(secret, "")
	must(t, err)
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T, dir string) publish.Publisher {
			return &publish.Site{Dir: filepath.Join(dir, "public_html"), Sites: filepath.Join(dir, "sites"), Keep: 2,
				Parts: []publish.Part{&repo.Repos{Key: k}}}
		},
		Snapshot: func(t *testing.T, dir string) string {
			var b strings.Builder
			filepath.Walk(filepath.Join(dir, "public_html")+"/", func(p string, info os.FileInfo, err error) error {
				if err == nil && info.Mode().IsRegular() {
					c, _ := os.ReadFile(p)
					sum := sha256.Sum256(c)
					fmt.Fprintf(&b, "%s %x\n", strings.TrimPrefix(p, dir), sum)
				}
				return nil
			})
			return b.String()
		},
	})
}

func TestLoadKey(t *testing.T) {
	dir := testutil.Dir(t)
	secret, pub := testKey(t, dir, "")
	k, err := repo.LoadKey(secret, "")
	must(t, err)
	if !bytes.Contains(k.Public, []byte("BEGIN PGP PUBLIC KEY BLOCK")) || bytes.Contains(k.Public, []byte("PRIVATE")) {
		t.Errorf("the published key is not the public part:\n%s", k.Public)
	}
	must(t, os.Chmod(secret, 0o640))
	if _, err := repo.LoadKey(secret, ""); err == nil || !strings.Contains(err.Error(), "others may read") {
		t.Errorf("a key others may read was accepted: %v", err)
	}
	must(t, os.Chmod(secret, 0o600))
	if _, err := repo.LoadKey(pub, ""); err == nil {
		t.Error("a public key was taken for a secret one")
	}

	pdir := testutil.Dir(t)
	enc, _ := testKey(t, pdir, "s3cret")
	if _, err := repo.LoadKey(enc, ""); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("an encrypted key without a passphrase: %v", err)
	}
	wrong := filepath.Join(pdir, "wrong")
	must(t, os.WriteFile(wrong, []byte("nope\n"), 0o600))
	if _, err := repo.LoadKey(enc, wrong); err == nil {
		t.Error("a wrong passphrase unlocked the key")
	}
	right := filepath.Join(pdir, "right")
	must(t, os.WriteFile(right, []byte("s3cret\n"), 0o600))
	if _, err := repo.LoadKey(enc, right); err != nil {
		t.Errorf("the right passphrase: %v", err)
	}
}

// A repository that cannot be made costs only itself: the site goes live
// with the other, and the repositories' publisher reports the failure.
// createrepo_c reads only packages the live site's signed metadata lacks:
// with none, it is not started at all.
func TestYumFailureCostsOnlyYum(t *testing.T) {
	testutil.NeedTool(t, "dpkg-deb", "dpkg")
	testutil.NeedTool(t, "rpmbuild", "rpm")
	f := newFixture(t)
	f.put(t, "hello", makeDeb(t, f.dir, "ab-hello", "1.0", "one"))
	rpm := makeRPM(t, f.dir, "ab-hello", "1.0")
	f.put(t, "hello", rpm)
	fails := filepath.Join(f.dir, "createrepo-fails")
	must(t, os.WriteFile(fails, []byte("#!/bin/sh\necho out of disk >&2\nexit 3\n"), 0o755))
	f.repos.Createrepo = fails
	publishRun := func() error {
		t.Helper()
		f.counter++
		in := f.input(t)
		if err := f.site.Publish(context.Background(), in); err != nil {
			t.Fatalf("site: %v", err)
		}
		return f.repos.Publish(context.Background(), in)
	}
	err := publishRun()
	if err == nil || !strings.Contains(err.Error(), "yum repository: createrepo_c exited with status 3: out of disk") {
		t.Fatalf("repos: %v", err)
	}
	for _, p := range []string{"index.html", "repos/key.asc", "repos/apt/InRelease"} {
		if _, err := os.Stat(filepath.Join(f.public, p)); err != nil {
			t.Errorf("the live site lacks %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.public, "repos/yum")); !os.IsNotExist(err) {
		t.Errorf("the failed yum repository is on the site: %v", err)
	}
	// Control: the same run with the real tool has both.
	f.repos.Createrepo = ""
	testutil.NeedTool(t, "createrepo_c", "createrepo-c")
	f.publish(t)
	if _, err := os.Stat(filepath.Join(f.public, "repos/yum/repodata/repomd.xml.asc")); err != nil {
		t.Error(err)
	}
	// Nothing changed: the failing createrepo_c is not started, and the
	// repository lists the package.
	f.repos.Createrepo = fails
	if err := publishRun(); err != nil {
		t.Errorf("a run with no package to read: %v", err)
	}
	if x := liveYum(t, f.public, "primary"); !strings.Contains(x, `<location href="pool/hello/ab-hello-1.0-1.noarch.rpm"/>`) {
		t.Errorf("primary.xml of a run with no package to read:\n%s", x)
	}
	// Control: a changed package starts it (and fails again).
	must(t, os.Remove(filepath.Join(f.pkgs, "hello", filepath.Base(rpm))))
	f.put(t, "hello", makeRPM(t, f.dir, "ab-hello", "1.1"))
	if err := publishRun(); err == nil || !strings.Contains(err.Error(), "out of disk") {
		t.Errorf("a run with a changed package: %v", err)
	}
	// A repositories' publisher whose site did not publish says so.
	if err := f.repos.Publish(context.Background(), f.input(t)); err == nil {
		t.Error("no site was published, yet the repositories' publisher reported success")
	}
}
