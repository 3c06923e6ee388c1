// Package publish publishes a run. Each way of publishing is a
// Publisher; the engine runs every configured one after the builds, each
// failing alone. Site, the status site with logs, artifacts, its JSON
// status file, its feeds and status badges (atom.go, feeds.go,
// badges.go), its dependency graph (graph.go), its pages rendered from
// templates an admin may replace (templates.go), is the first. Adding a publisher means a type
// that implements Publisher and passes the conformance suite in
// publish/publishtest; cmd/autobuild wires it in.
//
// A site is generated into a folder of its own under sites/, not live
// (an empty one, or the spare: the folder of a site that left the kept
// ones, made to hold exactly what an empty one would; spare.go), and then
// swapped in by replacing the public_html symlink atomically (renameio).
// A web server never sees a half-written site, and a run that fails or is
// killed before the swap leaves the previous site (and every kept one) as
// it was.
//
// File names. An artifact's name is the build's to choose: any bytes but
// "/" and NUL, UTF-8 or not. On disk the site keeps the exact name
// (packages/<module>/<path>). Every link to it (index.html) escapes each
// path element with url.PathEscape, bytes that are not UTF-8 included, so
// "#", "?", "%2e%2e" or "\xff" in a name lead to exactly that file; the
// page then escapes the link for HTML (html/template). What the page shows
// as the name, and status.json's "path", is a readable form: the name
// itself when it is UTF-8, else the name with each byte that is not UTF-8
// written \xNN. For such a name status.json also gives "path_bytes", the
// exact name in base64; without it, "path" is the exact name. Module names
// must be UTF-8 (Publish fails otherwise; the configuration allows only
// letters, digits and . _ + -).
//
// Build output on the site's origin. An artifact or a log is the build's
// content: a web server may send it as HTML (by its name, or by sniffing
// an unknown type), and its scripts then run as the status site itself.
// Every artifact link carries the download attribute, so a click saves the
// file instead of opening it; that does not stop a browser sent straight
// to the file's URL. Site.FilesURL points every link to an artifact or a
// log at another origin (a second web server or virtual host serving the
// same folder), where a script can reach nothing of the status site.
package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"

	"github.com/autobuild/autobuild/engine/report"
)

// ModuleFiles are the files of one module to publish.
type ModuleFiles struct {
	// Log is the absolute path of the module's log.
	Log string
	// Packages is the module's package folder; empty publishes none.
	Packages string
}

// Input is what a site is made of.
type Input struct {
	Run   *report.Run
	Files map[string]ModuleFiles
}

// Publisher makes a run's results available somewhere.
//
// Publish runs once per run, after every build has ended, with the run's
// report and the files to publish; it must not change those files (nor
// link them: a link is a way to change them later). One exception: a log
// (which the engine created in its log folder, and which only a build
// step's descriptor ever wrote) may be linked once no process holds it
// open for writing, after its write bits are cleared if it has no other
// link (LinkLog), so that it is stored once. When it fails, what it
// published before stays as it was. Publishers do not run concurrently
// with each other.
//
// The files are the modules' (a package folder belongs to the module's
// uid) and may be anything: a file that cannot be published as the
// report describes it (vanished, changed, a symlink or a special file)
// costs its module the publishing of its artifacts, with the reason,
// never the run its publishing. Publish fails on a malformed Input (no
// Run; a module name that is empty, "." or "..", holds a "/" or a NUL,
// or repeats), and when it cannot do its own work.
type Publisher interface {
	// Name names the publisher in logs and errors ("site").
	Name() string
	Publish(ctx context.Context, in Input) error
}

// Historian is a Publisher whose output shows the run history (Site: its
// pages, feeds and status.json list the earlier runs). The engine records
// a run in its history once every Historian published it, whatever the
// other publishers said: a mirror or a mail server that is down fails
// the run, but does not keep from the history a run the site shows.
type Historian interface {
	Publisher
	// ShowsHistory reports whether what the publisher publishes shows
	// the run history.
	ShowsHistory() bool
}

// DefaultMaxFileSize is Site.MaxFileSize when it is zero.
const DefaultMaxFileSize int64 = 4 << 30

// Site is the status site: it is generated into a folder of its own
// under Sites and made live at Dir, a symlink swapped atomically. Keep
// sites are kept (the live one included); of the older or unfinished
// ones, the newest becomes the spare (Sites/.spare, the next site's
// folder: spare.go) and the others are removed.
//
// Every file of a site is read-only (0444) and never a link to a
// module's file: a file a build changes after the run does not change a
// site, and publishing changes no mode of a module's files. An artifact
// is a copy the site made (or the live site's own copy, when unchanged),
// published only as collect described it (size and SHA-256, checked on
// what is copied); a module whose artifacts cannot all be published has
// none published, with the reason in report.Module.Unpublished, and the
// rest of the run is published. A log is a link to the engine's log when
// LinkLog allows it (no process holds it open for writing), else a copy:
// every site of a log that does not change (a reused module's) shares
// one file with the log folder and the build archive.
type Site struct {
	Dir   string
	Sites string
	Keep  int
	// LogRoot is the folder the engine writes module logs under (the
	// build root's log-root/). Only a log below it is published: one
	// named anywhere else (a damaged state file can name any path) is
	// refused, with the reason in report.Module.LogUnavailable. Empty
	// publishes no log.
	LogRoot string
	// MaxFileSize bounds each published file (artifact or log), in
	// bytes; zero means DefaultMaxFileSize.
	MaxFileSize int64
	// FilesURL, when set, is the base URL at which another origin (a
	// second virtual host) serves the same site folder as Dir: every
	// link to an artifact or a log points there (FilesURL + "packages/…",
	// FilesURL + "logs/…"), never at the status site's own origin. It
	// must be an absolute http or https URL without query or fragment
	// (CheckFilesURL); a slash is added at its end if missing. Empty
	// links them relative to the page.
	FilesURL string
	// Title names the site on its page, its feeds and its overall badge;
	// empty is DefaultTitle. See CheckTitle.
	Title string
	// URL, when set, is the site's own address (CheckSiteURL): the feeds
	// then link themselves (rel="self") and the site absolutely, and the
	// IDs of their entries derive from it. Without it, the IDs derive from
	// a random installation ID that each site carries to the next (the
	// main feed's ID).
	URL string
	// CommitURL, when set, is the template of a commit's web address
	// ("https://git.example.org/{module}/commit/{revision}"): every page
	// links revisions and changes there. See CheckCommitURL.
	CommitURL string
	// Templates, when set, is a folder of the admin's page templates
	// (<page>.tmpl), each replacing the built-in one (LoadTemplates).
	Templates string
	// Parts write more into each new site before it goes live (package
	// repositories); see Part.
	Parts []Part
	// Phase, when set, is told how long each phase of a Publish took, in
	// order ("spare": the new site's folder, the spare taken; "files": the
	// logs and artifacts; "feeds": status.json, the feeds and badges;
	// "history": the records, the kept runs' files, the module and run
	// pages; "parts": packages.html and the Parts; "pages": the graph and
	// index.html; "swap"; "prune"), for benchmarks and logs.
	Phase func(name string, took time.Duration)
}

// CheckFilesURL checks a value for Site.FilesURL; the empty string is
// valid (no separate origin).
func CheckFilesURL(s string) error {
	_, err := filesBase(s)
	return err
}

// filesBase is the base every link to a published file starts with: ""
// (relative to the page) or FilesURL, ending in "/".
func filesBase(s string) (string, error) { return baseURL("files URL", s) }

// baseURL checks s, the base URL what names, and returns it ending in
// "/" ("" for "").
func baseURL(what, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("%s %q: %v", what, s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%s %q: must be an absolute http:// or https:// URL", what, s)
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("%s %q: has no host", what, s)
	case u.User != nil:
		return "", fmt.Errorf("%s %q: must not hold a user name or password", what, s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "", fmt.Errorf("%s %q: must not have a query or a fragment", what, s)
	}
	b := u.String()
	if !strings.HasSuffix(b, "/") {
		b += "/"
	}
	return b, nil
}

// Name implements Publisher.
func (s *Site) Name() string { return "site" }

// ShowsHistory implements Historian: the site shows the run history.
func (s *Site) ShowsHistory() bool { return true }

// Publish implements Publisher.
func (s *Site) Publish(ctx context.Context, in Input) error {
	if err := checkInput(in); err != nil {
		return err
	}
	return s.write(ctx, in)
}

// checkInput refuses a malformed Input: module names become file names.
func checkInput(in Input) error {
	if in.Run == nil {
		return errors.New("no run to publish")
	}
	seen := map[string]bool{}
	for _, m := range in.Run.Modules {
		if m.Name == "" || m.Name == "." || m.Name == ".." || strings.ContainsAny(m.Name, "/\x00") || !utf8.ValidString(m.Name) {
			return fmt.Errorf("module name %q cannot be published", m.Name)
		}
		if seen[m.Name] {
			return fmt.Errorf("module %s appears twice in the run", m.Name)
		}
		seen[m.Name] = true
	}
	return nil
}

func (s *Site) maxFileSize() int64 {
	if s.MaxFileSize > 0 {
		return s.MaxFileSize
	}
	return DefaultMaxFileSize
}

func (s *Site) write(ctx context.Context, in Input) (err error) {
	public, sites, keep := s.Dir, s.Sites, s.Keep
	base, err := filesBase(s.FilesURL)
	if err != nil {
		return err
	}
	self, err := baseURL("site URL", s.URL)
	if err != nil {
		return err
	}
	if err := CheckTitle(s.Title); err != nil {
		return fmt.Errorf("site title: %w", err)
	}
	if err := CheckCommitURL(s.CommitURL); err != nil {
		return err
	}
	tpl, err := LoadTemplates(s.Templates)
	if err != nil {
		return err
	}
	if info, err := os.Lstat(public); err == nil && info.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("%s exists and is not a symlink: move it away, autobuild manages it", public)
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if err := os.MkdirAll(sites, 0o755); err != nil {
		return err
	}
	lapStart := time.Now()
	lap := func(name string) {
		if s.Phase != nil {
			now := time.Now()
			s.Phase(name, now.Sub(lapStart))
			lapStart = now
		}
	}
	// The new site's folder: the spare's (spare.go), else an empty one.
	dir, sp, err := newSiteDir(sites, in.Run.Counter)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	lap("spare")
	dirfd, err := unix.Open(dir, dirFlags, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	prev := previousSite(public)
	defer prev.close()
	run := *in.Run
	run.Modules = append([]report.Module(nil), in.Run.Modules...)
	fds := &folders{site: dirfd, logRoot: s.LogRoot, reused: sp != nil}
	defer fds.close()
	for i := range run.Modules {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		m := &run.Modules[i]
		f := in.Files[m.Name]
		if len(m.Name)+len(".log") > maxName {
			m.Log = ""
			if f.Log != "" {
				m.LogUnavailable = "the module's name is too long for the site"
			}
			if len(m.Artifacts) > 0 && m.Unpublished == "" {
				m.Unpublished = "the module's name is too long for the site"
			}
			if m.Unpublished != "" {
				m.Artifacts = nil
			}
			continue
		}
		if err := s.publishLog(fds, m, f.Log); err != nil {
			return fmt.Errorf("log of %s: %w", m.Name, err)
		}
		if err := s.publishArtifacts(ctx, dir, fds, m, f.Packages, prev); err != nil {
			return fmt.Errorf("artifacts of %s: %w", m.Name, err)
		}
	}
	if sp != nil {
		// What the spare held that the run does not publish goes.
		if err := sweepFiles(dirfd, fds); err != nil {
			return err
		}
	}
	lap("files")
	status, err := json.MarshalIndent(statusOf(&run), "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "status.json"), append(status, '\n')); err != nil {
		return err
	}
	// What the live site's pages were made of (pages.json): a page, feed,
	// badge or SHA256SUMS whose key did not change is linked, not made.
	cache := loadPageCache(prev.dir, dir)
	fs, err := s.writeFeedsAndBadges(dir, dirfd, &run, self, prev, cache)
	if err != nil {
		return err
	}
	lap("feeds")
	// The module and run pages, and what the next site carries of them
	// (runs.go, modules.go, sums.go).
	sums, err := writeSums(cache, &run)
	if err != nil {
		return err
	}
	runPages, modPages, err := s.writeHistory(dir, &run, prev, cache, base, sums, tpl, sp)
	if err != nil {
		return err
	}
	if err := cache.save(); err != nil {
		return err
	}
	lap("history")
	if err := writePackages(dir, &run, links{base: base}, fs.title, tpl); err != nil {
		return err
	}
	s.writeParts(ctx, dir, prev.dir, &run)
	lap("parts")
	// The graph after every module page it may link to.
	graph, err := writeGraph(dir, &run, fs.title)
	if err != nil {
		return err
	}
	// index.html last: its presence marks a finished site (see prune).
	page, err := renderIndex(tpl, &run, links{base: base, runPages: runPages, modPages: modPages, commit: s.CommitURL}, fs.title, graph)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "index.html"), page); err != nil {
		return err
	}
	syncDir(dir)
	lap("pages")
	// The swap: one rename of a symlink over the old one. The link is
	// relative, so the build root can be moved or bind-mounted elsewhere
	// with its site.
	target := dir
	if rel, err := filepath.Rel(filepath.Dir(public), dir); err == nil {
		target = rel
	}
	if err := renameio.Symlink(target, public); err != nil {
		return fmt.Errorf("swap %s: %w", public, err)
	}
	syncDir(filepath.Dir(public))
	lap("swap")
	err = prune(sites, dir, keep)
	lap("prune")
	return err
}

// publishLog publishes the module's log, named by the engine (or by a
// state file, for a reused module), as logs/<module>.log. Only a regular
// file below LogRoot, reached without a symlink and owned by the engine's
// uid, is published; anything else is shown as unavailable, with the
// reason. A log that does not exist is not shown. The log is linked when
// LinkLog allows it (no process holds it open for writing; see logs.go),
// and copied otherwise. The error is the site's.
func (s *Site) publishLog(fds *folders, m *report.Module, log string) error {
	m.Log = ""
	if log == "" {
		return nil
	}
	unavailable := func(err error) error {
		var ie *inputError
		if !errors.As(err, &ie) {
			return err
		}
		m.LogUnavailable = ie.msg
		return nil
	}
	parts, err := s.logParts(log)
	if err != nil {
		return unavailable(err)
	}
	rootfd, err := fds.logRootFd()
	if err != nil {
		return unavailable(inputErr("the log folder %v", err))
	}
	src, st, err := openBeneath(rootfd, parts)
	if errors.Is(err, unix.ENOENT) {
		return nil // never written (the module did not run)
	}
	if err != nil {
		return unavailable(inputErr("the log %v", err))
	}
	defer src.Close()
	if int(st.Uid) != euid {
		return unavailable(inputErr("the log was not written by the engine (it belongs to uid %d)", st.Uid))
	}
	max := s.maxFileSize()
	if st.Size > max {
		return unavailable(inputErr("log larger than %d bytes", max))
	}
	logs, err := fds.sub(&fds.logs, "logs")
	if err != nil {
		return err
	}
	name := m.Name + ".log"
	if fds.reused {
		// The spare's log of the module: linked (or copied) again.
		if err := removeAt(logs, name); err != nil {
			return err
		}
	}
	if LinkLog(src, logs, name, false) == nil {
		m.Log = "logs/" + name
		fds.put(&fds.logNames, name)
		return nil
	}
	c, err := copyNew(logs, name, src, max)
	if err != nil {
		return unavailable(err)
	}
	if c.size > max {
		unix.Unlinkat(logs, name, 0)
		return unavailable(inputErr("log larger than %d bytes", max))
	}
	m.Log = "logs/" + name
	fds.put(&fds.logNames, name)
	return nil
}

// folders are the folders a Publish writes into or reads from for every
// module, each opened once: the new site's logs/ and packages/ (made on
// first use) and the log folder.
type folders struct {
	site           int
	logs, packages int // 0: not made yet
	logRoot        string
	root           int // 0: not opened yet
	rootErr        error
	// reused: the site's folder is the spare's (spare.go), whose
	// packages/ and logs/ may hold entries already. modules and logNames
	// are what this Publish put in them.
	reused            bool
	modules, logNames map[string]bool
}

// sub is the new site's folder name, made (and kept in *fd) on first use.
func (f *folders) sub(fd *int, name string) (int, error) {
	if *fd > 0 {
		return *fd, nil
	}
	d, _, err := openOrMake(f.site, name, f.reused)
	if err != nil {
		return -1, err
	}
	*fd = d
	return d, nil
}

// put records that this Publish put name in the folder of set.
func (f *folders) put(set *map[string]bool, name string) {
	if *set == nil {
		*set = map[string]bool{}
	}
	(*set)[name] = true
}

// logRootFd is the log folder, opened on first use (openRoot).
func (f *folders) logRootFd() (int, error) {
	if f.root == 0 && f.rootErr == nil {
		f.root, f.rootErr = openRoot(f.logRoot)
	}
	return f.root, f.rootErr
}

func (f *folders) close() {
	for _, fd := range []int{f.logs, f.packages, f.root} {
		if fd > 0 {
			unix.Close(fd)
		}
	}
}

// logParts checks that log is below LogRoot (lexically: openBeneath then
// refuses a symlink on the way) and returns its path elements there.
func (s *Site) logParts(log string) ([]string, error) {
	if s.LogRoot == "" {
		return nil, inputErr("no log folder is configured for the site")
	}
	root := filepath.Clean(s.LogRoot)
	p := filepath.Clean(log)
	if !filepath.IsAbs(p) || !filepath.IsAbs(root) {
		return nil, inputErr("log %s is not below the log folder", short(log))
	}
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, inputErr("log %s is not below the log folder", short(log))
	}
	parts, err := splitRel(filepath.ToSlash(rel))
	if err != nil {
		return nil, inputErr("log %s: %v", short(log), err)
	}
	return parts, nil
}

// publishArtifacts copies the module's artifacts to packages/<module>/,
// each checked against its report entry. When one cannot be published,
// none is: the folder is removed and the module marked, with the reason.
// The error is the site's.
func (s *Site) publishArtifacts(ctx context.Context, dir string, fds *folders, m *report.Module, pkg string, prev *prevSite) (err error) {
	if m.Unpublished != "" {
		m.Artifacts = nil // collect could not list them all
		return nil
	}
	if pkg == "" || len(m.Artifacts) == 0 {
		return nil
	}
	unpublish := func(a report.Artifact, why error) error {
		var ie *inputError
		if !errors.As(why, &ie) {
			return why
		}
		m.Unpublished = fmt.Sprintf("artifact %s: %s", short(a.Path), ie.msg)
		m.Artifacts = nil
		return nil
	}
	// Every path and size first, before anything is copied.
	max := s.maxFileSize()
	paths := make([][]string, len(m.Artifacts))
	for i, a := range m.Artifacts {
		if paths[i], err = splitRel(a.Path); err != nil {
			return unpublish(a, err)
		}
		if a.Size > max || a.Size < 0 {
			return unpublish(a, inputErr("larger than the site's limit of %d bytes", max))
		}
	}
	rootfd, err := openRoot(pkg)
	if err != nil {
		return unpublish(m.Artifacts[0], inputErr("the package folder %v", err))
	}
	defer unix.Close(rootfd)
	pkgs, err := fds.sub(&fds.packages, "packages")
	if err != nil {
		return err
	}
	modfd, made, err := openOrMake(pkgs, m.Name, fds.reused)
	if err != nil {
		return err
	}
	defer unix.Close(modfd)
	defer func() {
		if m.Unpublished != "" || err != nil {
			// Nothing of a half-copied module stays in the new site.
			os.RemoveAll(filepath.Join(dir, "packages", m.Name))
		}
	}()
	// The spare's folder of the module (spare.go) keeps only what the
	// run lists, each file replaced unless it is the one linked there.
	var listed map[string]bool
	if !made {
		if err := sweepListed(modfd, paths, !ownSums(m.Artifacts)); err != nil {
			return err
		}
		listed = map[string]bool{}
	}
	for i, a := range m.Artifacts {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if listed != nil {
			if listed[a.Path] {
				return unpublish(a, inputErr("listed twice"))
			}
			listed[a.Path] = true
		}
		if prev.link(m.Name, modfd, paths[i], a, !made) {
			continue
		}
		if err := copyArtifact(rootfd, modfd, paths[i], a, !made); err != nil {
			return unpublish(a, err)
		}
	}
	fds.put(&fds.modules, m.Name)
	return nil
}

// copyArtifact copies one artifact from the package folder rootfd to the
// module's folder of the site, checking it is what collect listed. With
// replace (a folder of the spare), a file already at its place goes
// first.
func copyArtifact(rootfd, modfd int, parts []string, a report.Artifact, replace bool) error {
	src, st, err := openBeneath(rootfd, parts)
	if err != nil {
		return err
	}
	defer src.Close()
	if st.Size != a.Size {
		return inputErr("changed since it was collected (%d bytes, listed as %d)", st.Size, a.Size)
	}
	dirfd := modfd
	if len(parts) > 1 {
		if dirfd, err = mkdirs(modfd, parts[:len(parts)-1]); err != nil {
			if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EEXIST) {
				return inputErr("its folder is listed as a file too")
			}
			return err
		}
		defer unix.Close(dirfd)
	}
	name := parts[len(parts)-1]
	if replace {
		unlinkFile(dirfd, name)
	}
	c, err := copyNew(dirfd, name, src, a.Size)
	if err != nil {
		return err
	}
	if c.size != a.Size || c.sha256 != a.SHA256 {
		unix.Unlinkat(dirfd, name, 0)
		return inputErr("changed since it was collected (its size or SHA-256 differs)")
	}
	return nil
}

// prune keeps, beside the live site, the keep-1 newest finished ones;
// the others and the unfinished ones (left by killed runs: they have no
// index.html, which is written last) go: the newest of them becomes the
// spare, for the next site to reuse (spare.go), unless there is one, and
// the rest is removed.
func prune(sites, live string, keep int) error {
	ents, err := os.ReadDir(sites)
	if err != nil {
		return err
	}
	var names, unfinished []string
	for _, e := range ents {
		p := filepath.Join(sites, e.Name())
		if !e.IsDir() || p == live || e.Name() == spareName {
			continue
		}
		if _, err := os.Stat(filepath.Join(p, "index.html")); err != nil {
			unfinished = append(unfinished, p)
			continue
		}
		names = append(names, e.Name())
	}
	// Names sort by run counter (zero-padded).
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	var gone []string
	for i, n := range names {
		if i >= keep-1 {
			gone = append(gone, filepath.Join(sites, n))
		}
	}
	for _, p := range append(gone, unfinished...) {
		if !makeSpare(sites, p) {
			os.RemoveAll(p)
		}
	}
	return nil
}

// writeFile writes b into a new file p of the new site. It never writes
// into a file that is there (in a folder of the spare, spare.go: a link
// to a file of kept sites): it removes it and makes a new one.
func writeFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if errors.Is(err, fs.ErrExist) && os.Remove(p) == nil {
		f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	}
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

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// prevSite is the live site before this Publish: the copies it holds of
// artifacts that have not changed since need not be made again.
type prevSite struct {
	fd        int                                   // the site's folder, -1 when there is none
	dir       string                                // its path
	artifacts map[string]map[string]report.Artifact // module → path → artifact, as its report lists them
	modules   map[string]*report.Module             // its run's modules, by name
	published map[string][]siteArtifact             // its modules' artifacts, as its status.json lists them
	counter   int                                   // its run's counter
}

// previousSite opens the live site behind public and reads what its
// report lists; a missing or unreadable one is simply no help.
func previousSite(public string) *prevSite {
	p := &prevSite{fd: -1}
	target, err := os.Readlink(public)
	if err != nil {
		return p
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(public), target)
	}
	b, err := os.ReadFile(filepath.Join(target, "status.json"))
	if err != nil {
		return p
	}
	var run siteRun
	if json.Unmarshal(b, &run) != nil {
		return p
	}
	if p.fd, err = unix.Open(target, dirFlags, 0); err != nil {
		p.fd = -1
		return p
	}
	p.dir = target
	p.counter = run.Counter
	p.published = map[string][]siteArtifact{}
	p.artifacts = map[string]map[string]report.Artifact{}
	p.modules = map[string]*report.Module{}
	for _, m := range run.Modules {
		p.modules[m.Name] = &m.Module
		p.published[m.Name] = m.Artifacts
		for _, a := range m.Artifacts {
			if p.artifacts[m.Name] == nil {
				p.artifacts[m.Name] = map[string]report.Artifact{}
			}
			raw := a.Artifact
			if a.PathBytes != nil {
				raw.Path = string(a.PathBytes)
			}
			p.artifacts[m.Name][raw.Path] = raw
		}
	}
	return p
}

func (p *prevSite) close() {
	if p.fd >= 0 {
		unix.Close(p.fd)
	}
}

// link makes the new site's copy of artifact a a link to the previous
// site's when that is the same content: the same path, size and SHA-256
// in its report. That copy is the site's own (made and checked by an
// earlier Publish, read-only, owned by the engine, in a folder no step
// can write), never a module's file. It reports whether it linked; when
// not, the artifact is copied as any other. With replace (a folder of
// the spare), a file already there stays if it is that very copy, and is
// replaced otherwise.
func (p *prevSite) link(module string, modfd int, parts []string, a report.Artifact, replace bool) bool {
	if p.fd < 0 {
		return false
	}
	old, ok := p.artifacts[module][a.Path]
	if !ok || old.Size != a.Size || old.SHA256 != a.SHA256 {
		return false
	}
	rel := filepath.Join(append([]string{"packages", module}, parts...)...)
	var st unix.Stat_t
	if unix.Fstatat(p.fd, rel, &st, unix.AT_SYMLINK_NOFOLLOW) != nil ||
		st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != a.Size || st.Mode&0o222 != 0 || int(st.Uid) != euid {
		return false
	}
	dirfd := modfd
	if len(parts) > 1 {
		fd, err := mkdirs(modfd, parts[:len(parts)-1])
		if err != nil {
			return false
		}
		defer unix.Close(fd)
		dirfd = fd
	}
	name := parts[len(parts)-1]
	if replace {
		var cur unix.Stat_t
		if unix.Fstatat(dirfd, name, &cur, unix.AT_SYMLINK_NOFOLLOW) == nil && cur.Dev == st.Dev && cur.Ino == st.Ino {
			return true
		}
		unlinkFile(dirfd, name)
	}
	return unix.Linkat(p.fd, rel, dirfd, name, 0) == nil
}
