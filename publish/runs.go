package publish

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"html/template"
	"time"

	"golang.org/x/sys/unix"

	"github.com/autobuild/autobuild/engine/report"
)

// The site's history: pages that outlive the run that made them.
//
//   - runs/<counter>.json is run's status.json, kept from site to site
//     (each site links the live site's records into itself) for the
//     newest MaxRunRecords runs and the runs whose builds those reuse;
//     runs/<counter>.html, its page, is
//     rendered from it. A record is small; it is the site's own history,
//     so the site does not depend on the engine's state for it.
//   - runs/index.json (runIndex) says of each record what its page's key
//     needs (its digest, its modules' names, the runs it reuses builds
//     of), so that a site knows which run pages to render again without
//     reading its records; only the pages whose key changed read theirs.
//   - runs/<counter>/packages/ and runs/<counter>/logs/ are the heavy
//     parts (artifacts and logs) of the runs before this one, linked from
//     the live site for the runs within Site.Keep of this one; an older
//     run's page says its files have expired instead of linking them.
//   - modules/<name>.json is the module's own history (moduleRecord): its
//     last moduleRows rows, runs with no change folded into one, and what
//     its last good build published; modules/<name>.html is its page
//     (modules.go), and modules/<name>/last-good/ holds the artifacts and
//     log of its last good build while it fails or is skipped.
//
// Every file of them is the site's own (it made and checked it in an
// earlier Publish): a carried file is a hard link to the live site's, as
// for an unchanged artifact. A page is rendered only when what it shows
// changed (pages.json: each page's key, the hash of its data); else the
// live site's page is linked. The module feeds, the badges and the
// SHA256SUMS files are keyed in pages.json the same way (feeds.go,
// sums.go). So a run that changes a few modules makes a few files; the
// rest of the new site is links. Made in the spare (spare.go), most of
// those links are already there, each checked where it is: the cost that
// grows with the site is then a stat or two per file and a listing per
// folder, not a link per file and a folder made (and one removed) per
// folder.

// MaxRunRecords is how many runs' records (and pages) a site keeps: the
// newest MaxRunRecords, and beside them the older runs whose builds they
// reuse (report.Module.ReusedFrom).
const MaxRunRecords = 200

// pageVersion changes every key when the pages' templates change.
const pageVersion = "pages-2"

// historyState is what the new site knows of its runs and modules while
// it is made.
type historyState struct {
	dir       string // the new site
	run       *report.Run
	prev      *prevSite
	keep      int
	counter   int
	records   []int // counters with a record in the new site, newest first
	kept      map[int]bool
	cache     *pageCache
	settings  string // what every page's key includes besides its data
	base      string // files base ("" or FilesURL)
	commitURL string
	title     string
	modPages  map[string]bool // modules with a page
	index     *runIndex       // the new site's runs/index.json
	prevIndex *runIndex       // the live site's, nil when it has none
	noPage    map[int][]string
	tpl       *Templates // the page templates (templates.go)
	spare     *spare     // what the new site's folder holds to reuse; nil: it was made empty
}

// runIndexFile is the index of the run records, in runs/.
const runIndexFile = "index.json"

// runIndex is runs/index.json: for each run with a record, what the key
// of its page depends on besides the site's settings. It is the site's
// own file, carried (rewritten) from site to site; a site without one
// (or a record it does not list) reads the record instead.
type runIndex struct {
	// Sets are the distinct lists of module names of the runs, each
	// sorted: runs of the same modules share one.
	Sets [][]string `json:"sets"`
	// Runs are the entries, by counter.
	Runs map[int]runIndexEntry `json:"runs"`
	sets map[string]int
}

// runIndexEntry is one run's entry.
type runIndexEntry struct {
	// Digest is the SHA-256 of the record.
	Digest string `json:"digest"`
	// Set is the index of the run's module names in Sets.
	Set int `json:"set"`
	// Reused are the runs (distinct, ascending) whose builds the run's
	// modules reused (report.Module.ReusedFrom).
	Reused []int `json:"reused,omitempty"`
}

func newRunIndex() *runIndex {
	return &runIndex{Runs: map[int]runIndexEntry{}, sets: map[string]int{}}
}

// add enters run counter with record digest digest, its modules' names
// and the runs it reused builds of.
func (x *runIndex) add(counter int, digest string, names []string, reused []int) {
	names = append([]string(nil), names...)
	sort.Strings(names)
	k := strings.Join(names, "\x00")
	set, ok := x.sets[k]
	if !ok {
		set = len(x.Sets)
		x.Sets = append(x.Sets, names)
		x.sets[k] = set
	}
	x.Runs[counter] = runIndexEntry{Digest: digest, Set: set, Reused: reused}
}

// addRun enters run r, counter, whose record is b.
func (x *runIndex) addRun(counter int, r *report.Run, b []byte) {
	sum := sha256.Sum256(b)
	names := make([]string, len(r.Modules))
	seen := map[int]bool{}
	var reused []int
	for i, m := range r.Modules {
		names[i] = m.Name
		if m.ReusedFrom > 0 && !seen[m.ReusedFrom] {
			seen[m.ReusedFrom] = true
			reused = append(reused, m.ReusedFrom)
		}
	}
	sort.Ints(reused)
	x.add(counter, hex.EncodeToString(sum[:]), names, reused)
}

// entry is run c's entry in x, with its module names; ok is false when x
// (nil: no index) does not list it well-formed.
func (x *runIndex) entry(c int) (e runIndexEntry, names []string, ok bool) {
	if x == nil {
		return e, nil, false
	}
	e, ok = x.Runs[c]
	if !ok || e.Set < 0 || e.Set >= len(x.Sets) || len(e.Digest) != 64 {
		return e, nil, false
	}
	return e, x.Sets[e.Set], true
}

// loadRunIndex reads the live site's index; nil when it has none or it
// is damaged.
func loadRunIndex(prevDir string) *runIndex {
	if prevDir == "" {
		return nil
	}
	b, err := readSmall(filepath.Join(prevDir, "runs", runIndexFile), 64<<20)
	if err != nil {
		return nil
	}
	x := newRunIndex()
	if json.Unmarshal(b, x) != nil || x.Runs == nil {
		return nil
	}
	return x
}

// recordName is the file name of run counter's record.
func recordName(counter int) string { return strconv.Itoa(counter) + ".json" }

// linkFile makes dst a hard link to src when src is the site's own file:
// a regular read-only file of the engine's uid, reached without a
// symlink at its last element. It reports whether it linked. A file
// already at dst (in a folder of the spare, spare.go) stays if it is src
// itself and is replaced otherwise.
func linkFile(src, dst string) bool {
	var st unix.Stat_t
	if unix.Lstat(src, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o222 != 0 || int(st.Uid) != euid {
		return false
	}
	err := os.Link(src, dst)
	if errors.Is(err, fs.ErrExist) {
		var cur unix.Stat_t
		if unix.Lstat(dst, &cur) == nil && cur.Dev == st.Dev && cur.Ino == st.Ino {
			return true
		}
		if os.Remove(dst) == nil {
			err = os.Link(src, dst)
		}
	}
	return err == nil
}

// mkdirAll makes folder p (and its parents) in the new site, 0755.
func mkdirAll(p string) error {
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	return os.Chmod(p, 0o755)
}

// linkTree makes the new site's folder dst (made as needed) hold hard
// links to every file of the live site's folder src, folders as folders;
// with only, just those entries of src's top. Anything but a folder or
// the site's own file fails it: the caller then drops dst. It walks both
// trees by descriptor (openat, never following a symlink), so a folder
// costs a mkdirat and its reading, a file an fstatat and a linkat. A dst
// that holds entries already (a folder of the spare, spare.go) is
// reconciled instead: an entry that is already the file it must link
// stays (an fstatat), a folder of the engine's stays and is reconciled in
// turn, and every other entry is replaced or removed.
func linkTree(src, dst string, only ...string) error {
	sfd, err := unix.Open(src, dirFlags, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	defer unix.Close(sfd)
	if err := mkdirAll(filepath.Dir(dst)); err != nil {
		return err
	}
	parent, err := unix.Open(filepath.Dir(dst), dirFlags, 0)
	if err != nil {
		return err
	}
	dfd, made, err := openOrMake(parent, filepath.Base(dst), false)
	unix.Close(parent)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	var sel map[string]bool
	if only != nil {
		sel = map[string]bool{}
		for _, n := range only {
			sel[n] = true
		}
	}
	return linkTreeAt(sfd, dfd, made, src, sel)
}

// linkTreeAt links the folder sfd's entries (those of only, unless it is
// nil) into the new site's folder dfd, empty when made; where names sfd
// in errors.
func linkTreeAt(sfd, dfd int, made bool, where string, only map[string]bool) error {
	names, types, err := readDirAt(sfd)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	var stale map[string]bool // what dfd held before
	if !made {
		have, _, err := readDirAt(dfd)
		if err != nil {
			return err
		}
		stale = make(map[string]bool, len(have))
		for _, n := range have {
			stale[n] = true
		}
	}
	for i, name := range names {
		if only != nil && !only[name] {
			continue
		}
		p := where + "/" + name
		had := stale[name]
		delete(stale, name)
		switch {
		case types[i].IsDir():
			cs, err := unix.Openat(sfd, name, dirFlags, 0)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			cd, cmade, err := openOrMake(dfd, name, had)
			if err != nil {
				unix.Close(cs)
				return err
			}
			err = linkTreeAt(cs, cd, cmade, p, nil)
			unix.Close(cs)
			unix.Close(cd)
			if err != nil {
				return err
			}
		case types[i].IsRegular():
			if !linkFileAt(sfd, name, dfd, name, had) {
				return fmt.Errorf("%s cannot be linked", p)
			}
		default:
			return fmt.Errorf("%s is not a file or a folder", p)
		}
	}
	for n := range stale {
		if err := removeAt(dfd, n); err != nil {
			return err
		}
	}
	return nil
}

// linkFileAt is linkFile relative to folder descriptors; had says dst
// may exist (otherwise it is not looked at).
func linkFileAt(sfd int, src string, dfd int, dst string, had bool) bool {
	var st unix.Stat_t
	if unix.Fstatat(sfd, src, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG ||
		st.Mode&0o222 != 0 || int(st.Uid) != euid {
		return false
	}
	if had {
		var cur unix.Stat_t
		if unix.Fstatat(dfd, dst, &cur, unix.AT_SYMLINK_NOFOLLOW) == nil && cur.Dev == st.Dev && cur.Ino == st.Ino {
			return true
		}
		if removeAt(dfd, dst) != nil {
			return false
		}
	}
	return unix.Linkat(sfd, src, dfd, dst, 0) == nil
}

// exists reports whether p exists (without following a last symlink).
func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// writeHistory writes the run records, the heavy parts of the kept runs,
// the modules' records and last good builds, and every module and run
// page into the new site dir; sums names the modules with a SHA256SUMS
// file. It returns which runs have a page and which modules have one,
// for index.html.
func (s *Site) writeHistory(dir string, run *report.Run, prev *prevSite, cache *pageCache, base string, sums map[string]bool, tpl *Templates, sp *spare) (runPages map[int]bool, modPages map[string]bool, err error) {
	h := &historyState{dir: dir, prev: prev, keep: s.Keep, counter: run.Counter, kept: map[int]bool{}, run: run,
		base: base, commitURL: s.CommitURL, title: s.Title, modPages: map[string]bool{}, tpl: tpl, spare: sp}
	if h.title == "" {
		h.title = DefaultTitle
	}
	h.settings = strings.Join([]string{pageVersion, h.title, base, s.CommitURL, strconv.Itoa(s.Keep), tpl.key}, "\x00")
	h.cache = cache
	h.index, h.prevIndex, h.noPage = newRunIndex(), loadRunIndex(prev.dir), map[int][]string{}
	if err := mkdirAll(filepath.Join(dir, "runs")); err != nil {
		return nil, nil, err
	}
	if err := mkdirAll(filepath.Join(dir, "modules")); err != nil {
		return nil, nil, err
	}
	if err := h.linkRecords(); err != nil {
		return nil, nil, err
	}
	if err := h.heavy(); err != nil {
		return nil, nil, err
	}
	for _, m := range run.Modules {
		if len(m.Name)+len(".json") <= maxName {
			h.modPages[m.Name] = true
		}
	}
	for i := range run.Modules {
		m := &run.Modules[i]
		if !h.modPages[m.Name] {
			continue
		}
		if err := h.module(run, m, sums[m.Name]); err != nil {
			return nil, nil, fmt.Errorf("page of module %s: %w", m.Name, err)
		}
	}
	runPages = map[int]bool{}
	for _, c := range h.records {
		if err := h.runPage(run, c); err != nil {
			return nil, nil, fmt.Errorf("page of run %d: %w", c, err)
		}
		runPages[c] = true
	}
	b, err := json.Marshal(h.index)
	if err != nil {
		return nil, nil, err
	}
	if err := writeFile(filepath.Join(dir, "runs", runIndexFile), append(b, '\n')); err != nil {
		return nil, nil, err
	}
	if err := h.sweepPages(); err != nil {
		return nil, nil, err
	}
	return runPages, h.modPages, nil
}

// records makes the new site's run records: this run's (a link to its
// status.json) and the live site's older ones: the newest MaxRunRecords
// in all, and the older runs whose builds those reuse. A record of a run
// not older than this one (a build root started afresh) is dropped.
func (h *historyState) linkRecords() error {
	runs := filepath.Join(h.dir, "runs")
	rec := filepath.Join(runs, recordName(h.counter))
	err := os.Link(filepath.Join(h.dir, "status.json"), rec)
	if errors.Is(err, fs.ErrExist) && os.Remove(rec) == nil { // a spare's (spare.go)
		err = os.Link(filepath.Join(h.dir, "status.json"), rec)
	}
	if err != nil {
		return err
	}
	h.records = []int{h.counter}
	b, err := readSmall(filepath.Join(h.dir, "status.json"), 64<<20)
	if err != nil {
		return err
	}
	h.index.addRun(h.counter, h.run, b)
	if h.prev.dir == "" {
		return nil
	}
	ents, err := os.ReadDir(filepath.Join(h.prev.dir, "runs"))
	if err != nil {
		return nil // a site from before run records: no help
	}
	var old []int
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		c, err := strconv.Atoi(n)
		if err != nil || c <= 0 || c >= h.counter || strconv.Itoa(c) != n {
			continue
		}
		old = append(old, c)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(old)))
	// The newest MaxRunRecords, then the older ones whose builds they
	// reuse: a page that says "build of run N" keeps its link to run N's
	// page, and does not change when run N leaves the newest.
	cur, _, _ := h.index.entry(h.counter)
	reused := map[int]bool{}
	for _, r := range cur.Reused {
		reused[r] = true
	}
	for _, c := range old {
		newest := len(h.records) < MaxRunRecords
		if !newest && !reused[c] {
			continue
		}
		if !linkFile(filepath.Join(h.prev.dir, "runs", recordName(c)), filepath.Join(runs, recordName(c))) {
			continue
		}
		h.records = append(h.records, c)
		if newest {
			e, _, err := h.indexed(c)
			if err != nil {
				return fmt.Errorf("run %d: %w", c, err)
			}
			for _, r := range e.Reused {
				reused[r] = true
			}
		}
	}
	return nil
}

// heavy links the live site's artifacts and logs of the runs within Keep
// of this one into runs/<counter>/: the live site's own run from its
// packages/ and logs/, older ones from its runs/<counter>/. A run whose
// files cannot all be linked has none (its page says they expired). The
// spare's runs/<counter>/ folders are reconciled into those (or
// removed), not made anew (spare.go).
func (h *historyState) heavy() error {
	runs := filepath.Join(h.dir, "runs")
	var todo []int
	for _, c := range h.records[1:] {
		if h.counter-c >= h.keep || h.prev.dir == "" {
			break
		}
		if c == h.prev.counter || exists(filepath.Join(h.prev.dir, "runs", strconv.Itoa(c))) {
			todo = append(todo, c)
		}
	}
	h.spare.assign(runs, todo)
	for _, c := range todo {
		dst := filepath.Join(runs, strconv.Itoa(c))
		var err error
		if c == h.prev.counter {
			err = linkTree(h.prev.dir, dst, "packages", "logs")
		} else {
			err = linkTree(filepath.Join(h.prev.dir, "runs", strconv.Itoa(c)), dst)
		}
		if err != nil {
			os.RemoveAll(dst)
			continue
		}
		h.kept[c] = true
	}
	return h.spare.removeUnused(runs)
}

// readRecord reads run counter's record in the new site, with each
// artifact's exact name.
func (h *historyState) readRecord(counter int) (*report.Run, error) {
	b, err := readSmall(filepath.Join(h.dir, "runs", recordName(counter)), 64<<20)
	if err != nil {
		return nil, err
	}
	var sr siteRun
	if err := json.Unmarshal(b, &sr); err != nil {
		return nil, err
	}
	return sr.report(), nil
}

// report is the run a status.json describes, each artifact with its
// exact name.
func (sr *siteRun) report() *report.Run {
	r := sr.Run
	r.History = sr.History
	r.Modules = make([]report.Module, len(sr.Modules))
	for i, sm := range sr.Modules {
		m := sm.Module
		m.Unpublished = sm.Unpublished
		m.Artifacts = rawArtifacts(sm.Artifacts)
		r.Modules[i] = m
	}
	return &r
}

// rawArtifacts are status.json's artifacts with their exact names.
func rawArtifacts(as []siteArtifact) []report.Artifact {
	var out []report.Artifact
	for _, a := range as {
		raw := a.Artifact
		if a.PathBytes != nil {
			raw.Path = string(a.PathBytes)
		}
		out = append(out, raw)
	}
	return out
}

// readSmall reads the site's own file p, refusing a symlink and more
// than max bytes.
func readSmall(p string, max int64) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errors.New("too large")
	}
	return b, nil
}

// pageCache knows each page's key (the hash of what it shows) in the live
// site and the new one (pages.json): a page whose key did not change is
// linked from the live site instead of rendered.
type pageCache struct {
	prevDir, dir string
	prev, next   map[string]string
}

const pagesFile = "pages.json"

func loadPageCache(prevDir, dir string) *pageCache {
	c := &pageCache{prevDir: prevDir, dir: dir, prev: map[string]string{}, next: map[string]string{}}
	if prevDir != "" {
		if b, err := readSmall(filepath.Join(prevDir, pagesFile), 64<<20); err == nil {
			_ = json.Unmarshal(b, &c.prev)
		}
	}
	return c
}

// key is the key of a page showing data under settings.
func pageKey(settings string, data any) (string, error) {
	h := sha256.New()
	io.WriteString(h, settings)
	h.Write([]byte{0})
	if err := json.NewEncoder(h).Encode(data); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// put makes page rel (a path in the site) of key: a link to the live
// site's page of the same key, else what render writes.
func (c *pageCache) put(rel, key string, render func(w io.Writer) error) error {
	c.next[rel] = key
	dst := filepath.Join(c.dir, rel)
	if c.prev[rel] == key && linkFile(filepath.Join(c.prevDir, rel), dst) {
		return nil
	}
	var b bytes.Buffer
	if err := render(&b); err != nil {
		return err
	}
	return writeFile(dst, b.Bytes())
}

func (c *pageCache) save() error {
	b, err := json.Marshal(c.next)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(c.dir, pagesFile), append(b, '\n'))
}

// pageStyle is the base style of the module and run pages; themeCSS
// (theme.go) follows it, for the phone layout and the dark mode.
const pageStyle = `body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.built,.reused,.ok{color:#1a7f37;font-weight:600}.failed,.bad{color:#cf222e;font-weight:600}.skipped{color:#9a6700;font-weight:600}
code{font-size:.9em;overflow-wrap:anywhere}ul.changes{margin:.3em 0;padding-left:1.2em;max-width:40em}.warn{color:#cf222e}small{color:#666}
pre.tail{white-space:pre-wrap;overflow-wrap:anywhere;border:1px solid #8884;padding:.5em;max-width:60em;font-size:.85em}
.lastgood{border-left:4px solid #8888;padding-left:1em}`

// pageChange is a change with the link to its commit.
type pageChange struct {
	report.Change
	URL string
}

func changesOf(tmpl, module string, cs []report.Change) []pageChange {
	out := make([]pageChange, len(cs))
	for i, c := range cs {
		out[i] = pageChange{Change: c, URL: commitURL(tmpl, module, c.ID)}
	}
	return out
}

// sumFile is a published artifact with its SHA-256; URL is empty when it
// is no longer on the site.
type sumFile struct {
	URL, Name string
	Size      int64
	SHA256    string
	Package   *report.Package
}

// runPageModule is one module on a run's page.
type runPageModule struct {
	Name, Page       string
	State            report.State
	Reason           string
	Revision, RevURL string
	Level            string
	Missing          []string
	Duration         string
	LogURL, LogNote  string
	Files            []sumFile
	Unpublished      string
	Changes          []pageChange
	ChangesSince     string
	ReusedFrom       int
	ReusedFromURL    string
}

// runPageData is what a run's page shows.
type runPageData struct {
	Title   string
	Counter int
	Start   string
	Took    string
	AsOf    string
	Summary report.Summary
	Verdict string
	// Files is "current" (this run's files, at the top of the site),
	// "kept" (under runs/<counter>/) or "expired".
	Files   string
	Modules []runPageModule
	Theme   template.CSS `json:"-"`
}

var runTemplate = template.Must(template.New("run").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{{.Title}} run {{.Counter}}: {{.Verdict}}</title>
<style>` + pageStyle + `</style>
<style>{{.Theme}}</style>
</head>
<body>
<p><a href="../index.html">{{.Title}}: the latest run</a></p>
<h1>{{.Title}} run {{.Counter}}: <span class="{{if .Summary.OK}}ok{{else}}bad{{end}}">{{.Verdict}}</span></h1>
<p>Started {{.Start}}, took {{.Took}}.{{if .AsOf}} <strong>Sources as of {{.AsOf}}</strong>.{{end}}
{{.Summary.Built}} built, {{.Summary.Reused}} reused, {{.Summary.Failed}} failed, {{.Summary.Skipped}} skipped.
Machine-readable: <a href="{{.Counter}}.json">{{.Counter}}.json</a>.</p>
{{if eq .Files "expired"}}<p class="warn">This run's logs and artifacts have expired from the site (it keeps those of the newest runs only, <code>publish.keep</code>); what they were is listed below.</p>
{{end}}<div class="scroll"><table class="modules">
<thead><tr><th>Module</th><th>Status</th><th>Revision</th><th>Trust level</th><th>Duration</th><th>Log</th><th>Artifacts</th></tr></thead>
<tbody>
{{range .Modules}}<tr id="{{.Name}}">
<td data-label="Module">{{if .Page}}<a href="{{.Page}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}</td>
<td data-label="Status" class="{{.State}}">{{.State}}{{if .Reason}}<br><small>{{.Reason}}</small>{{end}}{{if .ReusedFrom}}<br><small>build of {{if .ReusedFromURL}}<a href="{{.ReusedFromURL}}">run {{.ReusedFrom}}</a>{{else}}run {{.ReusedFrom}}{{end}}</small>{{end}}</td>
<td data-label="Revision">{{if .RevURL}}<a href="{{.RevURL}}" rel="nofollow noopener"><code title="{{.Revision}}">{{short .Revision}}</code></a>{{else}}<code title="{{.Revision}}">{{short .Revision}}</code>{{end}}{{if .Changes}}<details><summary><small>{{len .Changes}} change{{if gt (len .Changes) 1}}s{{end}}{{if .ChangesSince}} since <code title="{{.ChangesSince}}">{{short .ChangesSince}}</code>{{end}}</small></summary><ul class="changes">{{range .Changes}}<li>{{if .Source}}<small>{{.Source}}:</small> {{end}}{{if .URL}}<a href="{{.URL}}" rel="nofollow noopener"><code title="{{.ID}}">{{short .ID}}</code></a>{{else}}<code title="{{.ID}}">{{short .ID}}</code>{{end}} {{.Subject}}<br><small>{{.Author}}, {{when .Date}}</small></li>{{end}}</ul></details>{{end}}</td>
<td data-label="Trust level">{{.Level}}{{if .Missing}}<br><small class="warn">not enforced: {{range $i, $m := .Missing}}{{if $i}}, {{end}}{{$m}}{{end}}</small>{{end}}</td>
<td data-label="Duration">{{.Duration}}</td>
<td data-label="Log">{{if .LogURL}}<a href="{{.LogURL}}">log</a>{{else if .LogNote}}<small>{{.LogNote}}</small>{{end}}</td>
<td data-label="Artifacts">{{range .Files}}{{if .URL}}<a href="{{.URL}}" download>{{.Name}}</a>{{else}}{{.Name}}{{end}} <small>{{size .Size}}</small><br>{{end}}{{if .Unpublished}}<small class="warn">artifacts not published: {{.Unpublished}}</small>{{end}}</td>
</tr>
{{end}}</tbody>
</table></div>
</body>
</html>
`))

// up is the files base seen from a page one folder below the site's top.
func up(base string) string {
	if base == "" {
		return "../"
	}
	return base
}

// runPage renders runs/<counter>.html: this run's from run, an older
// one's from its record.
func (h *historyState) runPage(run *report.Run, c int) error {
	files := "expired"
	switch {
	case c == h.counter:
		files = "current"
	case h.kept[c]:
		files = "kept"
	}
	e, names, err := h.indexed(c)
	if err != nil {
		return err
	}
	// What the page shows: the record (its digest), which of its modules
	// have no page, which runs it reused builds of have a page.
	noPage, ok := h.noPage[e.Set]
	if !ok {
		for _, n := range names {
			if !h.modPages[n] {
				noPage = append(noPage, n)
			}
		}
		h.noPage[e.Set] = noPage
	}
	var linked []int
	for _, r := range e.Reused {
		if h.hasRecord(r) {
			linked = append(linked, r)
		}
	}
	key, err := pageKey(h.settings, struct {
		Counter int
		Files   string
		Digest  string
		NoPage  []string
		Linked  []int
	}{c, files, e.Digest, noPage, linked})
	if err != nil {
		return err
	}
	rel := filepath.Join("runs", strconv.Itoa(c)+".html")
	return h.cache.put(rel, key, func(w io.Writer) error {
		r := run
		if c != h.counter {
			var err error
			if r, err = h.readRecord(c); err != nil {
				return err
			}
		}
		return h.tpl.execute(w, "run.html", h.runPageData(r, files))
	})
}

// indexed enters run c, whose record the new site holds, in the new
// site's index, from the live site's index or else from the record, and
// returns its entry and module names. The new index's sets are numbered
// afresh.
func (h *historyState) indexed(c int) (runIndexEntry, []string, error) {
	if e, names, ok := h.index.entry(c); ok {
		return e, names, nil
	}
	if e, names, ok := h.prevIndex.entry(c); ok {
		h.index.add(c, e.Digest, names, e.Reused)
	} else {
		b, err := readSmall(filepath.Join(h.dir, "runs", recordName(c)), 64<<20)
		if err != nil {
			return e, nil, err
		}
		var sr siteRun
		if err := json.Unmarshal(b, &sr); err != nil {
			return e, nil, err
		}
		h.index.addRun(c, sr.report(), b)
	}
	e, names, _ := h.index.entry(c)
	return e, names, nil
}

// hasRecord reports whether run c has a record (and a page) on the site.
func (h *historyState) hasRecord(c int) bool {
	i := sort.Search(len(h.records), func(i int) bool { return h.records[i] <= c })
	return i < len(h.records) && h.records[i] == c
}

func (h *historyState) runPageData(r *report.Run, files string) runPageData {
	s := r.Summarize()
	d := runPageData{Title: h.title, Counter: r.Counter, Start: fmtWhen(r.Start),
		Took: fmtDur(r.Duration), Summary: s, Verdict: verdictOf(s), Files: files, Theme: themeCSS}
	if !r.AsOf.IsZero() {
		d.AsOf = r.AsOf.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	l := links{base: up(h.base)}
	prefix := ""
	if files == "kept" {
		prefix = "runs/" + strconv.Itoa(r.Counter) + "/"
	}
	for _, m := range r.Modules {
		pm := runPageModule{Name: m.Name, State: m.State, Reason: m.Reason, Revision: m.Revision,
			RevURL: commitURL(h.commitURL, m.Name, m.Revision), Level: m.Level, Missing: m.Missing,
			Unpublished: m.Unpublished, Changes: changesOf(h.commitURL, m.Name, m.Changes), ChangesSince: m.ChangesSince,
			ReusedFrom: m.ReusedFrom}
		if m.ReusedFrom > 0 && h.hasRecord(m.ReusedFrom) {
			pm.ReusedFromURL = strconv.Itoa(m.ReusedFrom) + ".html"
		}
		if !m.Start.IsZero() {
			pm.Duration = fmtDur(m.Duration)
		}
		if h.modPages[m.Name] {
			pm.Page = links{base: "../"}.href("modules/" + m.Name + ".html")
		}
		switch {
		case m.Log != "" && files != "expired":
			pm.LogURL = l.href(prefix + m.Log)
		case m.Log != "":
			pm.LogNote = "log expired"
		case m.LogUnavailable != "":
			pm.LogNote = "log unavailable: " + m.LogUnavailable
		}
		for _, a := range m.Artifacts {
			f := sumFile{Name: readable(a.Path), Size: a.Size, SHA256: a.SHA256, Package: a.Package}
			if files != "expired" {
				f.URL = l.href(prefix + "packages/" + m.Name + "/" + a.Path)
			}
			pm.Files = append(pm.Files, f)
		}
		d.Modules = append(d.Modules, pm)
	}
	return d
}

func fmtWhen(t time.Time) string    { return funcs["when"].(func(time.Time) string)(t) }
func fmtDur(d time.Duration) string { return funcs["dur"].(func(time.Duration) string)(d) }
