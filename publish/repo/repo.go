// Package repo publishes the packages of a run as an apt repository and a
// yum repository inside the status site, signed with an OpenPGP key.
//
// Repos is a publish.Part: the site calls it on each new site's folder
// before the folder goes live, so the repositories change only with the
// site, all at once (publish.Site's atomic swap). It is also a
// publish.Publisher, listed after the site, that reports what the part
// did: a repository that could not be made costs only itself, never the
// site nor the other repository.
//
// Layout, below the site's repos/ folder:
//
//	key.asc                the signing key's public part
//	apt/                   a flat apt repository: deb [signed-by=…] <site>/repos/apt ./
//	  Packages, Packages.gz, Release, InRelease, Release.gpg
//	  pool/<module>/<path>
//	yum/                   a yum repository: baseurl=<site>/repos/yum
//	  repodata/ (primary, filelists, other: gzipped XML), repodata/repomd.xml.asc
//	  pool/<module>/<path>
//
// The pools hold links to the site's own copies of the artifacts
// (packages/<module>/<path>, read-only, made by the site): no package is
// stored twice. Only .deb and .rpm artifacts that engine/packages read
// are indexed, and only those whose path is made of letters, digits and
// . _ + ~ - (an element may not start with a dot): an index line is
// never made of another character a build chose.
//
// Unchanged packages are not read again. What proves a package unchanged
// is its SHA-256 and size in the run's report; what proves an entry of
// the live site's index to be one a run wrote is the index's signature by
// the same key: Release.gpg over a Release that lists the Packages file's
// SHA-256 (apt.go), repomd.xml.asc over a repomd.xml that lists each
// metadata file's SHA-256 (yum.go). An index that fails either test is no
// help, and every package is read again. The apt index reuses the stanza
// of each package whose key the live Packages lists, and reads only the
// control file of a new one (pault.ag/go/debian). The yum index reuses
// each package's three entries (primary, by key and pool path; filelists
// and other, by SHA-256), runs createrepo_c over only the packages it
// lacks (--pkglist, over the site's copies, its output written aside),
// and writes the three files and repomd.xml itself. createrepo_c is not
// started when no package is new.
//
// The two repositories are made at the same time, and createrepo_c reads
// while the yum pool is linked. createrepo_c is the only process started:
// bounded by Timeout, in a session of its own, killed with everything it
// started when the run is cancelled or the time is up.
package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// DefaultTimeout is Repos.Timeout when it is zero.
const DefaultTimeout = 10 * time.Minute

// Repos makes the apt and yum repositories of a site.
type Repos struct {
	// Key signs the indexes; when nil, the key is read from KeyFile (and
	// PassphraseFile) on every run (LoadKey), so that a key that cannot
	// be read fails only the repositories.
	Key                     *Key
	KeyFile, PassphraseFile string
	// Label is the apt Release's Origin and Label ("autobuild" if empty).
	Label string
	// Timeout bounds createrepo_c; zero is DefaultTimeout.
	Timeout time.Duration
	// Createrepo is the createrepo_c program ("createrepo_c" if empty).
	Createrepo string

	mu      sync.Mutex
	wrote   bool
	outcome error
}

var (
	_ publish.Part      = (*Repos)(nil)
	_ publish.Publisher = (*Repos)(nil)
)

// Name implements publish.Publisher.
func (r *Repos) Name() string { return "repos" }

// Dir implements publish.Part.
func (r *Repos) Dir() string { return "repos" }

// Publish implements publish.Publisher: it reports what the site's call
// of WritePart in this run did, and fails when the site did not call it
// (the site itself was not published).
func (r *Repos) Publish(ctx context.Context, in publish.Input) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	wrote, err := r.wrote, r.outcome
	r.wrote, r.outcome = false, nil
	if !wrote {
		return errors.New("the site was not published, nor its repositories")
	}
	return err
}

// WritePart implements publish.Part: it writes repos/ into the new site.
// A repository that fails is removed from it (the other stays), and its
// error is reported by Publish.
func (r *Repos) WritePart(ctx context.Context, in publish.PartInput) error {
	err := r.write(ctx, in)
	r.mu.Lock()
	r.wrote, r.outcome = true, err
	r.mu.Unlock()
	return nil
}

func (r *Repos) write(ctx context.Context, in publish.PartInput) error {
	key := r.Key
	if key == nil {
		if r.KeyFile == "" {
			return errors.New("no signing key")
		}
		k, err := LoadKey(r.KeyFile, r.PassphraseFile)
		if err != nil {
			return fmt.Errorf("signing key: %w", err)
		}
		key = k
	}
	root := filepath.Join(in.Site, r.Dir())
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(root, "key.asc"), key.Public); err != nil {
		return err
	}
	prev := ""
	if in.Prev != "" {
		prev = filepath.Join(in.Prev, r.Dir())
	}
	debs, rpms := collect(in.Run)
	// The two repositories share nothing but the key: yum's is made while
	// apt's is, and each that fails costs only itself.
	var yumErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.writeYum(ctx, key, in.Site, filepath.Join(root, "yum"), prev, rpms); err != nil {
			os.RemoveAll(filepath.Join(root, "yum"))
			yumErr = fmt.Errorf("yum repository: %w", err)
		}
	}()
	var aptErr error
	if err := r.writeApt(ctx, key, in.Site, filepath.Join(root, "apt"), prev, debs); err != nil {
		os.RemoveAll(filepath.Join(root, "apt"))
		aptErr = fmt.Errorf("apt repository: %w", err)
	}
	<-done
	return errors.Join(aptErr, yumErr)
}

// pkg is one package artifact to index.
type pkg struct {
	module string
	a      report.Artifact
}

// site is the artifact's path in the site, pool its path in a pool.
func (p pkg) site() string { return "packages/" + p.module + "/" + p.a.Path }
func (p pkg) pool() string { return "pool/" + p.module + "/" + p.a.Path }

// safeElem is what an element of an indexed package's path may be.
var safeElem = regexp.MustCompile(`^[A-Za-z0-9_+~-][A-Za-z0-9._+~-]*$`)

// SafePath reports whether an artifact path may be indexed.
func SafePath(p string) bool {
	if p == "" || len(p) > 1024 {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if !safeElem.MatchString(e) {
			return false
		}
	}
	return true
}

// collect lists the run's published .deb and .rpm packages.
func collect(run *report.Run) (debs, rpms []pkg) {
	for _, m := range run.Modules {
		if m.Unpublished != "" || !SafePath(m.Name) {
			continue
		}
		for _, a := range m.Artifacts {
			if a.Package == nil || !SafePath(a.Path) || len(a.SHA256) != 64 {
				continue
			}
			switch a.Package.Kind {
			case "deb":
				debs = append(debs, pkg{m.Name, a})
			case "rpm":
				rpms = append(rpms, pkg{m.Name, a})
			}
		}
	}
	return debs, rpms
}

// linkPool links each package's site copy into dir's pool: a regular
// file of the size the report gives, found without following a symlink
// at its module's folder or its last element. ps lists each module's
// packages together (collect): each module's two folders are opened once,
// and each package costs a stat and a link.
func linkPool(site, dir string, ps []pkg) error {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	src, dst := -1, -1
	closeFolders := func() {
		if src >= 0 {
			unix.Close(src)
		}
		if dst >= 0 {
			unix.Close(dst)
		}
		src, dst = -1, -1
	}
	defer closeFolders()
	var module string
	var made map[string]bool // the module's subfolders made in the pool
	for _, p := range ps {
		if src < 0 || p.module != module {
			closeFolders()
			module, made = p.module, map[string]bool{}
			var err error
			if src, err = unix.Open(filepath.Join(site, "packages", p.module), flags, 0); err != nil {
				return fmt.Errorf("packages/%s: %w", p.module, err)
			}
			pool := filepath.Join(dir, "pool", p.module)
			if err := os.MkdirAll(pool, 0o755); err != nil {
				return err
			}
			if dst, err = unix.Open(pool, flags, 0); err != nil {
				return err
			}
		}
		if sub := path.Dir(p.a.Path); sub != "." && !made[sub] {
			if err := os.MkdirAll(filepath.Join(dir, "pool", p.module, filepath.FromSlash(sub)), 0o755); err != nil {
				return err
			}
			made[sub] = true
		}
		var st unix.Stat_t
		if err := unix.Fstatat(src, p.a.Path, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s: %w", p.site(), err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != p.a.Size {
			return fmt.Errorf("%s is not the site's copy of the artifact", p.site())
		}
		if err := unix.Linkat(src, p.a.Path, dst, p.a.Path, 0); err != nil {
			return fmt.Errorf("link %s: %w", p.pool(), err)
		}
	}
	return nil
}

// readFile reads the file at p, which may hold at most max bytes.
func readFile(p string, max int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, max)
	}
	return b, nil
}

func writeFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
