package repo_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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
	if err := f.site.Publish(context.Background(), in); err != nil {
		t.Fatalf("site: %v", err)
	}
	if err := f.repos.Publish(context.Background(), in); err != nil {
		t.Fatalf("repos: %v", err)
	}
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
	// test), not from its .deb again.
	live, err := filepath.EvalSymlinks(f.public)
	must(t, err)
	pk := filepath.Join(live, "repos/apt/Packages")
	old, err := os.ReadFile(pk)
	must(t, err)
	marked := strings.Replace(string(old), "Package: ab-other\n", "Package: ab-other\nX-Reused: yes\n", 1)
	must(t, os.Chmod(pk, 0o644))
	must(t, os.WriteFile(pk, []byte(marked), 0o444))
	hello2 := makeDeb(t, f.dir, "ab-hello", "1.1", "one, changed")
	must(t, os.Remove(filepath.Join(f.pkgs, "hello", filepath.Base(hello))))
	f.put(t, "hello", hello2)
	f.publish(t)
	live2, _ := filepath.EvalSymlinks(f.public)
	got, err := os.ReadFile(filepath.Join(live2, "repos/apt/Packages"))
	must(t, err)
	if !strings.Contains(string(got), "Package: ab-other\nX-Reused: yes\n") {
		t.Errorf("the unchanged package's stanza was not reused:\n%s", got)
	}
	if !strings.Contains(string(got), "Package: ab-hello\nVersion: 1.1\n") || strings.Contains(string(got), "Version: 1.0") {
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
func TestYumFailureCostsOnlyYum(t *testing.T) {
	testutil.NeedTool(t, "dpkg-deb", "dpkg")
	f := newFixture(t)
	f.put(t, "hello", makeDeb(t, f.dir, "ab-hello", "1.0", "one"))
	f.repos.Createrepo = filepath.Join(f.dir, "createrepo-fails")
	must(t, os.WriteFile(f.repos.Createrepo, []byte("#!/bin/sh\necho out of disk >&2\nexit 3\n"), 0o755))
	f.counter++
	run := &report.Run{Counter: f.counter}
	in := publish.Input{Run: run}
	if err := f.site.Publish(context.Background(), in); err != nil {
		t.Fatalf("site: %v", err)
	}
	err := f.repos.Publish(context.Background(), in)
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
	// A repositories' publisher whose site did not publish says so.
	if err := f.repos.Publish(context.Background(), in); err == nil {
		t.Error("no site was published, yet the repositories' publisher reported success")
	}
}
