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
//     newest MaxRunRecords runs; runs/<counter>.html, its page, is
//     rendered from it. A record is small; it is the site's own history,
//     so the site does not depend on the engine's state for it.
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
// live site's page is linked.

// MaxRunRecords is how many runs' records (and pages) a site keeps.
const MaxRunRecords = 200

// pageVersion changes every key when the pages' templates change.
const pageVersion = "pages-1"

// historyState is what the new site knows of its runs and modules while
// it is made.
type historyState struct {
	dir       string // the new site
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
}

// recordName is the file name of run counter's record.
func recordName(counter int) string { return strconv.Itoa(counter) + ".json" }

// linkFile makes dst a hard link to src when src is the site's own file:
// a regular read-only file of the engine's uid, reached without a
// symlink at its last element. It reports whether it linked.
func linkFile(src, dst string) bool {
	var st unix.Stat_t
	if unix.Lstat(src, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o222 != 0 || int(st.Uid) != os.Geteuid() {
		return false
	}
	return os.Link(src, dst) == nil
}

// mkdirAll makes folder p (and its parents) in the new site, 0755.
func mkdirAll(p string) error {
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	return os.Chmod(p, 0o755)
}

// linkTree links every file of the live site's folder src into dst (made
// as needed), folders as folders. Anything but a folder or the site's own
// file fails it: the caller then drops dst.
func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return mkdirAll(to)
		case d.Type().IsRegular():
			if !linkFile(p, to) {
				return fmt.Errorf("%s cannot be linked", p)
			}
			return nil
		}
		return fmt.Errorf("%s is not a file or a folder", p)
	})
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
func (s *Site) writeHistory(dir string, run *report.Run, prev *prevSite, base string, sums map[string]bool) (runPages map[int]bool, modPages map[string]bool, err error) {
	h := &historyState{dir: dir, prev: prev, keep: s.Keep, counter: run.Counter, kept: map[int]bool{},
		base: base, commitURL: s.CommitURL, title: s.Title, modPages: map[string]bool{}}
	if h.title == "" {
		h.title = DefaultTitle
	}
	h.settings = strings.Join([]string{pageVersion, h.title, base, s.CommitURL, strconv.Itoa(s.Keep)}, "\x00")
	h.cache = loadPageCache(prev.dir, dir)
	if err := mkdirAll(filepath.Join(dir, "runs")); err != nil {
		return nil, nil, err
	}
	if err := mkdirAll(filepath.Join(dir, "modules")); err != nil {
		return nil, nil, err
	}
	if err := h.linkRecords(); err != nil {
		return nil, nil, err
	}
	h.heavy()
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
	if err := h.cache.save(); err != nil {
		return nil, nil, err
	}
	return runPages, h.modPages, nil
}

// records makes the new site's run records: this run's (a link to its
// status.json) and the live site's older ones, the newest MaxRunRecords
// in all. A record of a run not older than this one (a build root started
// afresh) is dropped.
func (h *historyState) linkRecords() error {
	runs := filepath.Join(h.dir, "runs")
	if err := os.Link(filepath.Join(h.dir, "status.json"), filepath.Join(runs, recordName(h.counter))); err != nil {
		return err
	}
	h.records = []int{h.counter}
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
	for _, c := range old {
		if len(h.records) >= MaxRunRecords {
			break
		}
		if linkFile(filepath.Join(h.prev.dir, "runs", recordName(c)), filepath.Join(runs, recordName(c))) {
			h.records = append(h.records, c)
		}
	}
	return nil
}

// heavy links the live site's artifacts and logs of the runs within Keep
// of this one into runs/<counter>/: the live site's own run from its
// packages/ and logs/, older ones from its runs/<counter>/. A run whose
// files cannot all be linked has none (its page says they expired).
func (h *historyState) heavy() {
	if h.prev.dir == "" {
		return
	}
	for _, c := range h.records[1:] {
		if h.counter-c >= h.keep {
			break
		}
		dst := filepath.Join(h.dir, "runs", strconv.Itoa(c))
		var err error
		if c == h.prev.counter {
			for _, sub := range []string{"packages", "logs"} {
				if err == nil && exists(filepath.Join(h.prev.dir, sub)) {
					err = linkTree(filepath.Join(h.prev.dir, sub), filepath.Join(dst, sub))
				}
			}
			if err == nil {
				err = mkdirAll(dst)
			}
		} else if exists(filepath.Join(h.prev.dir, "runs", strconv.Itoa(c))) {
			err = linkTree(filepath.Join(h.prev.dir, "runs", strconv.Itoa(c)), dst)
		} else {
			continue
		}
		if err != nil {
			os.RemoveAll(dst)
			continue
		}
		h.kept[c] = true
	}
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
	if c.prev[rel] == key && linkFile(filepath.Join(c.prevDir, rel), filepath.Join(c.dir, rel)) {
		return nil
	}
	var b bytes.Buffer
	if err := render(&b); err != nil {
		return err
	}
	return writeFile(filepath.Join(c.dir, rel), b.Bytes())
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
	names := make([]string, 0, len(h.modPages))
	for n := range h.modPages {
		names = append(names, n)
	}
	sort.Strings(names)
	key, err := pageKey(h.settings, struct {
		Counter int
		Files   string
		Pages   []string
		Records []int
	}{c, files, names, h.records})
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
		return runTemplate.Execute(w, h.runPageData(r, files))
	})
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
