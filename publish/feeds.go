package publish

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/autobuild/autobuild/engine/report"
)

// DefaultTitle names a site whose Site.Title is empty.
const DefaultTitle = "autobuild"

// maxTitle bounds Site.Title, in runes.
const maxTitle = 100

// CheckTitle checks a value for Site.Title: printable UTF-8, at most 100
// characters; the empty string is valid (DefaultTitle).
func CheckTitle(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("must be UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxTitle {
		return fmt.Errorf("must be at most %d characters, not %d", maxTitle, n)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("must hold no control or invisible character (%U in %q)", r, s)
		}
	}
	if s != "" && strings.TrimSpace(s) == "" {
		return errors.New("must not be only spaces")
	}
	return nil
}

// CheckSiteURL checks a value for Site.URL: as Site.FilesURL, an absolute
// http or https URL without query or fragment; the empty string is valid.
func CheckSiteURL(s string) error {
	_, err := baseURL("site URL", s)
	return err
}

// feedSite is what every feed of a site shares: its title, its address
// (absolute, ending in "/"; empty when unknown) and the namespace of its
// IDs.
type feedSite struct {
	title string
	base  string
	ns    [16]byte
}

// nsURL is RFC 4122's namespace for name-based UUIDs of URLs.
var nsURL = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// uuid5 is the name-based (SHA-1) UUID of name in namespace ns.
func uuid5(ns [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

func uuidString(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return "urn:uuid:" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	s, ok := strings.CutPrefix(s, "urn:uuid:")
	if !ok || len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return u, false
	}
	copy(u[:], b)
	return u, true
}

// newFeedSite makes the feeds' shared part. The installation's namespace
// is the site URL's name-based UUID when the URL is known (the same for
// every site at that address, whatever happens to the build root); else
// the live site's feed ID (prevFeedID), carried from site to site; else,
// for a first site, a random one.
func newFeedSite(title, base, prevFeedID string) feedSite {
	fs := feedSite{title: title, base: base}
	if fs.title == "" {
		fs.title = DefaultTitle
	}
	switch u, ok := parseUUID(prevFeedID); {
	case base != "":
		fs.ns = uuid5(nsURL, base)
	case ok:
		fs.ns = u
	default:
		rand.Read(fs.ns[:])
		fs.ns[6] = fs.ns[6]&0x0f | 0x40
		fs.ns[8] = fs.ns[8]&0x3f | 0x80
	}
	return fs
}

// feedVersion changes every feed's settings key when the feeds' format
// changes.
const feedVersion = "feeds-1"

// settings is the start of every module feed's key in pages.json: what
// a feed's header is made of besides its module and newest entry.
func (fs feedSite) settings() string {
	sum := sha256.Sum256([]byte(strings.Join([]string{feedVersion, fs.title, fs.base, string(fs.ns[:])}, "\x00")))
	return hex.EncodeToString(sum[:8]) + ":"
}

// installation is the main feed's ID: the installation's namespace.
func (fs feedSite) installation() string { return uuidString(fs.ns) }

// id is the ID of the entry or feed named by parts, unique to the
// installation.
func (fs feedSite) id(kind string, n int, more ...string) string {
	return uuidString(uuid5(fs.ns, strings.Join(append([]string{kind, strconv.Itoa(n)}, more...), "\x00")))
}

// href links rel (a path in the site, already escaped) from a feed depth
// folders below the site's root: absolute when the site URL is known.
func (fs feedSite) href(rel string, depth int) string {
	if fs.base != "" {
		return fs.base + rel
	}
	return strings.Repeat("../", depth) + rel
}

// feed starts a feed at rel (escaped), linking itself when the site URL
// is known and the index as its alternate.
func (fs feedSite) feed(title, id string, updated time.Time, rel string, depth int) atomFeed {
	f := atomFeed{
		Title:   title,
		ID:      id,
		Updated: atomTime(updated),
		Author:  atomAuthor{Name: fs.title},
	}
	if fs.base != "" {
		f.Links = append(f.Links, atomLink{Rel: "self", Type: "application/atom+xml", Href: fs.base + rel})
	}
	f.Links = append(f.Links, atomLink{Rel: "alternate", Type: "text/html", Href: fs.href("index.html", depth)})
	return f
}

// failuresFeed is failures.atom: the runs of the history with a failed or
// skipped module, newest first; the current run's entry names them.
func failuresFeed(fs feedSite, run *report.Run) atomFeed {
	f := fs.feed(fs.title+" failures", fs.id("failures", 0), run.Start, "failures.atom", 0)
	for _, h := range history(run) {
		if h.OK() {
			continue
		}
		e := atomEntry{
			Title:   fmt.Sprintf("run %d: %s", h.Counter, verdictOf(h)),
			ID:      fs.id("failure", h.Counter),
			Updated: atomTime(h.Start.Add(h.Duration)),
			Link:    atomLink{Rel: "alternate", Type: "text/html", Href: fs.href("index.html", 0)},
			Summary: summaryLine(h),
		}
		if h.Counter == run.Counter {
			var b strings.Builder
			for _, m := range run.Modules {
				if !m.State.OK() {
					fmt.Fprintf(&b, "%s: %s", m.Name, m.State)
					if m.Reason != "" {
						fmt.Fprintf(&b, ": %s", m.Reason)
					}
					b.WriteString("\n")
				}
			}
			e.Content = &atomText{Type: "text", Text: b.String()}
		}
		f.Entries = append(f.Entries, e)
	}
	return f
}

// moduleFeedKeep is how many entries a module's feed keeps.
const moduleFeedKeep = 50

// outcome is what a module's feed tells apart: built and reused are the
// same (a good build), failed and skipped are not.
func outcome(s report.State) string {
	if s.OK() {
		return "good"
	}
	return string(s)
}

// moduleFeed is feeds/<module>.atom: the live site's entries (prev, the
// module's feed there, nil when it has none), with one for this run in
// front when the module's state or revision changed since the live site's
// run (was: the module there, nil when it was not in it), or when the
// feed would be empty.
func moduleFeed(fs feedSite, run *report.Run, m *report.Module, was *report.Module, prev []atomEntry) atomFeed {
	rel := "feeds/" + url.PathEscape(m.Name) + ".atom"
	f := fs.feed(fs.title+": "+m.Name, fs.id("module", 0, m.Name), run.Start, rel, 1)
	changed := was == nil || outcome(was.State) != outcome(m.State) || was.Revision != m.Revision || len(prev) == 0
	newID := fs.id("module", run.Counter, m.Name)
	if changed {
		what := string(m.State)
		switch {
		case was != nil && m.State.OK() && !was.State.OK():
			what = "fixed (" + what + ")"
		case was != nil && m.State == report.Failed && was.State.OK():
			what = "broke (failed)"
		}
		title := fmt.Sprintf("run %d: %s %s", run.Counter, m.Name, what)
		if m.Revision != "" {
			title += " at " + shortRev(m.Revision)
		}
		summary := string(m.State)
		if m.Reason != "" {
			summary += ": " + m.Reason
		}
		if m.Revision != "" {
			summary += "; revision " + m.Revision
		}
		if was != nil && was.Revision != m.Revision && was.Revision != "" {
			summary += " (was " + was.Revision + ")"
		}
		updated := run.Start.Add(run.Duration)
		if !m.Start.IsZero() {
			updated = m.Start.Add(m.Duration)
		}
		e := atomEntry{
			Title:   title,
			ID:      newID,
			Updated: atomTime(updated),
			Link:    atomLink{Rel: "alternate", Type: "text/html", Href: fs.href("index.html#"+(&url.URL{Fragment: m.Name}).EscapedFragment(), 1)},
			Summary: summary,
		}
		if len(m.Changes) > 0 {
			var b strings.Builder
			writeChanges(&b, m.Changes)
			e.Content = &atomText{Type: "text", Text: b.String()}
		}
		f.Entries = append(f.Entries, e)
	}
	for _, e := range prev {
		if len(f.Entries) >= moduleFeedKeep {
			break
		}
		if e.ID != "" && (!changed || e.ID != newID) {
			f.Entries = append(f.Entries, e)
		}
	}
	if len(f.Entries) > 0 {
		f.Updated = f.Entries[0].Updated
	}
	return f
}

func shortRev(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// maxFeedRead bounds what is read of a live site's feed.
const maxFeedRead = 8 << 20

// readFeed reads a feed of the live site (the site's own file, in a
// folder no build writes); a missing, damaged or oversized one reads as
// none.
func readFeed(p string) *atomFeed {
	fl, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer fl.Close()
	var f atomFeed
	if err := xml.NewDecoder(io.LimitReader(fl, maxFeedRead)).Decode(&f); err != nil {
		return nil
	}
	return &f
}

// writeFeedsAndBadges writes the new site's feeds (feed.atom,
// failures.atom, feeds/<module>.atom) and badges (badges/<module>.svg,
// badges/all.svg) into dir, from run and the live site prev; self is the
// site's URL ("" when unknown). A module whose name is too long for a
// file name (with the extension) has no feed or badge.
//
// A badge is linked from the live site when it shows the same (its key in
// pages.json: the module's name and state). A module's feed is linked
// from the live site when it gets no entry in this run and the live
// site's was made under the same feed settings (title, address, IDs):
// its entries are then the live site's, unchanged, and so is the feed.
func (s *Site) writeFeedsAndBadges(dir string, dirfd int, run *report.Run, self string, prev *prevSite, cache *pageCache) (feedSite, error) {
	prevID, prevIDs := "", map[string]bool{}
	if prev.dir != "" {
		if f := readFeed(filepath.Join(prev.dir, "feed.atom")); f != nil {
			prevID = f.ID
			for _, e := range f.Entries {
				prevIDs[e.ID] = true
			}
		}
	}
	fs := newFeedSite(s.Title, self, prevID)
	put := func(rel string, f atomFeed) error {
		var b bytes.Buffer
		if err := writeAtom(&b, f); err != nil {
			return err
		}
		return writeFile(filepath.Join(dir, rel), b.Bytes())
	}
	if err := put("feed.atom", runsFeed(fs, run, prevIDs)); err != nil {
		return fs, err
	}
	if err := put("failures.atom", failuresFeed(fs, run)); err != nil {
		return fs, err
	}
	for _, sub := range []string{"feeds", "badges"} {
		fd, err := mkdirs(dirfd, []string{sub})
		if err != nil {
			return fs, err
		}
		unix.Close(fd)
	}
	settings := fs.settings()
	for i := range run.Modules {
		m := &run.Modules[i]
		if len(m.Name)+len(".atom") <= maxName {
			rel := filepath.Join("feeds", m.Name+".atom")
			var was *report.Module
			if prev.dir != "" {
				was = prev.modules[m.Name]
			}
			old, carried := cache.prev[rel], false
			if was != nil && outcome(was.State) == outcome(m.State) && was.Revision == m.Revision &&
				strings.HasPrefix(old, settings) && linkFile(filepath.Join(prev.dir, rel), filepath.Join(dir, rel)) {
				// No entry for this run, the same settings: the live
				// site's feed (which has an entry, as every feed).
				cache.next[rel], carried = old, true
			}
			if !carried {
				var entries []atomEntry
				if prev.dir != "" {
					if f := readFeed(filepath.Join(prev.dir, rel)); f != nil {
						entries = f.Entries
					}
				}
				var b bytes.Buffer
				if err := writeAtom(&b, moduleFeed(fs, run, m, was, entries)); err != nil {
					return fs, err
				}
				sum := sha256.Sum256(b.Bytes())
				cache.next[rel] = settings + hex.EncodeToString(sum[:])
				if err := writeFile(filepath.Join(dir, rel), b.Bytes()); err != nil {
					return fs, err
				}
			}
		}
		// badges/all.svg is the overall badge: a module named "all" has
		// none of its own.
		if len(m.Name)+len(".svg") <= maxName && m.Name != "all" {
			key, err := pageKey(badgeVersion, [2]string{m.Name, string(m.State)})
			if err != nil {
				return fs, err
			}
			if err := cache.put(filepath.Join("badges", m.Name+".svg"), key, func(w io.Writer) error {
				_, err := w.Write(moduleBadge(m))
				return err
			}); err != nil {
				return fs, err
			}
		}
	}
	return fs, writeFile(filepath.Join(dir, "badges", "all.svg"), overallBadge(fs.title, run.Summarize()))
}
