package publish

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"
)

// The spare: a site's folder made again into the next one.
//
// A site holds the logs and artifacts of Keep runs (packages/ and logs/
// for its own run, runs/<counter>/ for the older ones): with many
// modules, thousands of folders and links, nearly all of them the same
// from one site to the next. A folder costs the file system far more to
// make or to remove than a link does (measured on the development
// machine's ext4: about 120 µs to make one and 70 µs to remove one,
// against 20 µs a link and 2.5 µs a stat), and making each site anew,
// then removing a site of the same size when it leaves the kept ones, was
// most of what a Publish cost. So a site that leaves the kept ones is not
// removed: prune renames it to sites/.spare (spareName), and the next
// Publish takes that folder as its new site's instead of an empty one and
// reconciles it, by descriptor, with what it would have made anew:
//
//   - the spare first loses index.html (the mark of a finished site, see
//     prune), then takes the new site's name (run-<counter>-…): a
//     Publish killed meanwhile leaves an unfinished site, which the next
//     prune makes the spare again or removes;
//   - everything in it but the folders packages/, logs/, runs/, modules/,
//     feeds/ and badges/ is removed at once (takeSpare), and in those
//     anything but a file or a folder runs/<counter>/ (spare.take);
//   - packages/<module>/ keeps only the names the run lists (and its
//     SHA256SUMS), logs/ only the logs the run publishes (sweepFiles),
//     each runs/<counter>/ folder is renamed to one of a run the new site
//     keeps the files of, or removed (historyState.heavy), and the
//     records, pages, feeds and badges the new site does not hold go once
//     it is written (historyState.sweepPages);
//   - a file of the spare stays only where it is the very file (the same
//     inode) the new site links there, a file that passed the checks a
//     file linked into an empty folder passes (the site's own, read-only,
//     of the engine's uid: linkFile, linkFileAt, prevSite.link); a log is
//     always linked or copied again, and a file written anew replaces the
//     spare's, never writes into it (writeFile: the spare's file may be a
//     link to a kept site's); any other entry is replaced or removed, and
//     a folder stays only when it is the engine's (made 0755 again if it
//     is not).
//
// So the new site holds, before it goes live, exactly what a site made
// in an empty folder holds (a test compares the two). The spare is never
// live and never one of the kept sites: it is made from a site only once
// that site has left them, and taken only into a site that is not live
// yet, so no reader of the live site or of a kept one sees any of this.
// A Publish that fails removes its folder, spare or not. The files of a
// run that left every kept site stay on disk, in the spare, until the
// next Publish takes it.

// spareName is the spare's name in Site.Sites.
const spareName = ".spare"

// spare is what a new site's folder, made from the spare, still holds
// to reuse: its folders runs/<counter>/, by name.
type spare struct {
	runs map[string]bool
}

// newSiteDir makes the folder of run counter's new site in sites, not
// live yet: the spare, when there is one (sp is then what it holds to
// reuse), else an empty folder.
func newSiteDir(sites string, counter int) (dir string, sp *spare, err error) {
	dir, err = os.MkdirTemp(sites, fmt.Sprintf("run-%06d-", counter))
	if err != nil {
		return "", nil, err
	}
	sp, err = takeSpare(filepath.Join(sites, spareName), dir)
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, sp, nil
}

// takeSpare renames the spare at p to the empty folder dir and removes
// what a site does not reuse of it; nil when there is no spare (or it
// is not the engine's folder: it is then removed).
func takeSpare(p, dir string) (*spare, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != euid {
		os.RemoveAll(p)
		return nil, nil
	}
	// No index.html before it takes a site's name: an unfinished site.
	// The rename replaces the empty folder dir (rename(2); os.Rename
	// refuses a folder there). A spare that cannot be taken is no help:
	// the site is made anew.
	if os.RemoveAll(filepath.Join(p, "index.html")) != nil || unix.Rename(p, dir) != nil {
		os.RemoveAll(p)
		return nil, nil
	}
	fd, err := unix.Open(dir, dirFlags, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	names, types, err := readDirAt(fd)
	if err != nil {
		return nil, err
	}
	sp := &spare{runs: map[string]bool{}}
	for i, n := range names {
		if types[i].IsDir() && spareFolders[n] {
			if sub, ok := openOwnDir(fd, n); ok {
				err := sp.take(n, sub)
				unix.Close(sub)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", filepath.Join(dir, n), err)
				}
				continue
			}
		}
		if err := removeAt(fd, n); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, n), err)
		}
	}
	return sp, nil
}

// spareFolders are the folders of a site a new site reuses: the rest
// is made anew (the files at the top, the parts' folders).
var spareFolders = map[string]bool{"packages": true, "logs": true, "runs": true, "modules": true, "feeds": true, "badges": true}

// take keeps, in the spare's folder name (open at fd), what the new site
// reuses: in runs/, modules/, feeds/ and badges/ every file (each stays
// only if the new site links the same one there, else it is replaced or
// swept: sweepPages) and the folders runs/<counter>/; packages/ and logs/
// whole (sweepListed, sweepFiles). Anything else in them goes: the
// folders of modules/ (a module's last good build, made anew), a
// symlink, a FIFO.
func (sp *spare) take(name string, fd int) error {
	if name == "packages" || name == "logs" {
		return nil
	}
	names, types, err := readDirAt(fd)
	if err != nil {
		return err
	}
	for i, n := range names {
		if types[i].IsRegular() {
			continue
		}
		if c, err := strconv.Atoi(n); name == "runs" && err == nil && c > 0 && strconv.Itoa(c) == n && types[i].IsDir() {
			sp.runs[n] = true
			continue
		}
		if err := removeAt(fd, n); err != nil {
			return err
		}
	}
	return nil
}

// assign readies the new site's runs/<c>/ folders of runs (in dir) from
// the spare's: the folder of the same run stays, the others are renamed
// to the runs that have none, newest to newest.
func (sp *spare) assign(dir string, runs []int) {
	if sp == nil || len(sp.runs) == 0 {
		return
	}
	var need []int
	for _, c := range runs {
		if n := strconv.Itoa(c); sp.runs[n] {
			delete(sp.runs, n)
		} else {
			need = append(need, c)
		}
	}
	var free []int
	for n := range sp.runs {
		c, _ := strconv.Atoi(n)
		free = append(free, c)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(free)))
	for i, c := range need {
		if i >= len(free) {
			break
		}
		from := strconv.Itoa(free[i])
		if os.Rename(filepath.Join(dir, from), filepath.Join(dir, strconv.Itoa(c))) == nil {
			delete(sp.runs, from)
		}
	}
}

// sweepPages removes from the new site's runs/, modules/, feeds/ and
// badges/, made from the spare, every file the new site does not hold:
// the records and pages of runs it holds no record of, the records and
// pages of modules not in the run, their feeds and badges. What it
// holds: runs/index.json, a record and a page per run of h.records, the
// folder runs/<c>/ of each kept run; modules/<m>.json and
// modules/<m>.html per module with a page, and the folders made in
// modules/ (a module's last good build: the spare's are removed when it
// is taken); every feed and badge in pages.json, and badges/all.svg.
func (h *historyState) sweepPages() error {
	if h.spare == nil {
		return nil
	}
	keep := map[string]bool{"runs/" + runIndexFile: true, "badges/all.svg": true}
	for _, c := range h.records {
		keep["runs/"+recordName(c)] = true
		keep["runs/"+strconv.Itoa(c)+".html"] = true
	}
	for c := range h.kept {
		keep["runs/"+strconv.Itoa(c)] = true
	}
	for m := range h.modPages {
		keep["modules/"+m+".json"] = true
		keep["modules/"+m+".html"] = true
	}
	for rel := range h.cache.next {
		keep[filepath.ToSlash(rel)] = true
	}
	for _, sub := range []string{"runs", "modules", "feeds", "badges"} {
		fd, err := unix.Open(filepath.Join(h.dir, sub), dirFlags, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return err
		}
		names, types, err := readDirAt(fd)
		for i, n := range names {
			if err == nil && !keep[sub+"/"+n] && !(sub == "modules" && types[i].IsDir()) {
				err = removeAt(fd, n)
			}
		}
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// removeUnused removes the spare's runs/<c>/ folders (in dir) that no
// kept run took.
func (sp *spare) removeUnused(dir string) error {
	if sp == nil {
		return nil
	}
	for n := range sp.runs {
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return err
		}
		delete(sp.runs, n)
	}
	return nil
}

// makeSpare makes the site folder p, which has left the kept ones (or
// was left unfinished), the spare, unless there is one; it reports
// whether it did.
func makeSpare(sites, p string) bool {
	sp := filepath.Join(sites, spareName)
	if _, err := os.Lstat(sp); err == nil {
		return false
	}
	if os.Rename(p, sp) != nil {
		return false
	}
	os.RemoveAll(filepath.Join(sp, "index.html"))
	return true
}

// openOrMake opens the new site's folder name in dirfd, making it (0755)
// when it does not exist; made says it did. A folder that is there (look
// says to expect one: it opens it first) stays when it is the engine's,
// made 0755 if it is not; anything else there is removed and the folder
// made anew.
func openOrMake(dirfd int, name string, look bool) (fd int, made bool, err error) {
	if look {
		if fd, ok := openOwnDir(dirfd, name); ok {
			return fd, false, nil
		}
	}
	err = unix.Mkdirat(dirfd, name, 0o755)
	if errors.Is(err, unix.EEXIST) {
		if fd, ok := openOwnDir(dirfd, name); ok {
			return fd, false, nil
		}
		if err := removeAt(dirfd, name); err != nil {
			return -1, false, err
		}
		err = unix.Mkdirat(dirfd, name, 0o755)
	}
	if err != nil {
		return -1, false, err
	}
	fd, err = unix.Openat(dirfd, name, dirFlags, 0)
	if err != nil {
		return -1, false, err
	}
	if err := unix.Fchmod(fd, 0o755); err != nil { // whatever the umask
		unix.Close(fd)
		return -1, false, err
	}
	return fd, true, nil
}

// openOwnDir opens the folder name in dirfd (not through a symlink) when
// it is the engine's, making it 0755 if it is not.
func openOwnDir(dirfd int, name string) (int, bool) {
	fd, err := unix.Openat(dirfd, name, dirFlags, 0)
	if err != nil {
		return -1, false
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || int(st.Uid) != euid ||
		(st.Mode&0o7777 != 0o755 && unix.Fchmod(fd, 0o755) != nil) {
		unix.Close(fd)
		return -1, false
	}
	return fd, true
}

// removeAt removes the entry name of the folder dirfd, a folder with all
// it holds; one that does not exist is no error.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(dirfd, name, dirFlags, 0)
	if err != nil {
		return err
	}
	names, _, err := readDirAt(fd)
	for _, n := range names {
		if err == nil {
			err = removeAt(fd, n)
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// wanted is a tree of the names a folder of the new site is to hold: a
// file, a folder (kids), or (when a run lists both) either.
type wanted struct {
	file bool
	kids map[string]*wanted
}

func (w *wanted) kid(name string) *wanted {
	if w.kids == nil {
		w.kids = map[string]*wanted{}
	}
	k := w.kids[name]
	if k == nil {
		k = &wanted{}
		w.kids[name] = k
	}
	return k
}

// sweepListed removes from a module's folder fd of the spare whatever
// its artifacts (paths) and its SHA256SUMS (sums) do not name as they
// are: a name the run does not list, a folder where it lists a file,
// anything but a file or a folder. What stays is replaced where it is
// not the file the artifact is linked to (prevSite.link, copyArtifact).
func sweepListed(fd int, paths [][]string, sums bool) error {
	root := &wanted{}
	for _, p := range paths {
		w := root
		for _, e := range p {
			w = w.kid(e)
		}
		w.file = true
	}
	if sums {
		root.kid(sumsName).file = true
	}
	return sweepAt(fd, root)
}

func sweepAt(fd int, w *wanted) error {
	names, types, err := readDirAt(fd)
	if err != nil {
		return err
	}
	for i, n := range names {
		k := w.kids[n]
		switch {
		case k != nil && types[i].IsDir() && len(k.kids) > 0:
			sub, made, err := openOrMake(fd, n, true)
			if err != nil {
				return err
			}
			if !made {
				err = sweepAt(sub, k)
			}
			unix.Close(sub)
			if err != nil {
				return err
			}
		case k != nil && types[i].IsRegular() && k.file:
			// Kept, or replaced when its artifact is published.
		default:
			if err := removeAt(fd, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// sweepFiles removes from the new site's packages/ and logs/, made from
// the spare, what the run did not publish: the folders of modules
// without artifacts, the logs of modules without a log, and the folders
// themselves when the run publishes none.
func sweepFiles(site int, fds *folders) error {
	for _, f := range []struct {
		name string
		fd   int
		keep map[string]bool
	}{{"packages", fds.packages, fds.modules}, {"logs", fds.logs, fds.logNames}} {
		if f.fd <= 0 {
			if err := removeAt(site, f.name); err != nil {
				return err
			}
			continue
		}
		names, _, err := readDirAt(f.fd)
		if err != nil {
			return err
		}
		for _, n := range names {
			if !f.keep[n] {
				if err := removeAt(f.fd, n); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// unlinkFile removes the entry name of the folder dirfd unless it is a
// folder (or does not exist).
func unlinkFile(dirfd int, name string) {
	unix.Unlinkat(dirfd, name, 0)
}
