package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// The live site of the real binary, served over HTTP and driven in
// Debian's Chromium, after a run where a module fails (and its dependent
// is skipped) and after the run that fixes it. From index.html the test
// follows every same-origin link and resource (pages added later are
// covered without changing it) and checks, on every page: each link and
// resource answers 200 (artifacts with the download attribute too; a
// #fragment names an element of its page); no console error, uncaught
// exception or failed load; at 390 px nothing sticks out of the screen
// or is cut off, only a box made to scroll sideways (theme.go's .scroll)
// may scroll, and the modules table, as cards, never needs to; in light
// mode the page is light with dark text, with prefers-color-scheme: dark
// the reverse, and every text keeps a 4.5:1 contrast in both. The control
// subtest serves a page broken in each of these ways and expects each
// check to catch it. Screenshots (the first page of each kind, phone in
// both modes, index.html on a desktop too) go to AUTOBUILD_SCREENSHOTS
// when set (make test-go sets test-output/screenshots), else to the
// test's artifact folder (kept by go test -artifacts, under a folder of a
// random name in the -outputdir's _artifacts/).
func TestSiteInABrowser(t *testing.T) {
	b := startBrowser(t)
	shots := screenshotDir(t)

	t.Run("control", func(t *testing.T) { checkCatchesBrokenPages(t, b) })

	f := newFarm(t)
	lib := f.repo("lib", script(`if [ ! -e fixed ]; then echo "compiling lib"; echo "error: lib.c:1: boom" >&2; exit 3; fi
tar -czf "$AUTOBUILD_PACKAGE_ROOT/lib-1.0.tar.gz" autobuild.sh`))
	f.repo("app", script(`echo app > "$AUTOBUILD_PACKAGE_ROOT/app.bin"`))
	// An artifact name that needs escaping in a link.
	f.repo("other", script(`echo notes > "$AUTOBUILD_PACKAGE_ROOT/notes #1?.txt"`))
	f.config(`modules:
  - {name: lib, source: {url: repos/lib, branch: main}}
  - {name: app, source: {url: repos/app}, depends: [lib]}
  - {name: other, source: {url: repos/other}}
`)
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(f.root, "public_html"))))
	defer srv.Close()

	if r := f.run(); r.code != 1 {
		t.Fatalf("run 1: want exit 1:\n%s", r.dump())
	}
	st := f.status()
	if lib, app := module(st, "lib"), module(st, "app"); lib.State != report.Failed || app.State != report.Skipped {
		t.Fatalf("run 1: lib %s, app %s; want failed and skipped", lib.State, app.State)
	}
	t.Run("failed", func(t *testing.T) { checkSite(t, b, srv.URL, shots, "run1") })

	testutil.Commit(t, lib, map[string]string{"fixed": "yes\n"})
	if r := f.run(); r.code != 0 {
		t.Fatalf("run 2:\n%s", r.dump())
	}
	if st := f.status(); !st.Summarize().OK() {
		t.Fatalf("run 2 did not build everything: %+v", st.Summarize())
	}
	t.Run("fixed", func(t *testing.T) { checkSite(t, b, srv.URL, shots, "run2") })
}

// checkSite crawls the site at base and fails t with every problem found.
func checkSite(t *testing.T, b *browser, base, shots, prefix string) {
	c := newCrawler(b, base, shots, prefix)
	c.crawl(base + "/index.html")
	var pages []string
	for p := range c.pages {
		pages = append(pages, c.name(p))
	}
	slices.Sort(pages)
	t.Logf("%d pages (%s), %d links and resources checked, %d screenshots", len(pages), strings.Join(pages, " "), len(c.fetched), c.nshots)
	if len(c.pages) < 2 {
		t.Errorf("only %d pages reachable from index.html", len(c.pages))
	}
	for _, p := range c.problems {
		t.Error(p)
	}
}

// checkCatchesBrokenPages serves pages broken in every way the crawl
// checks and expects a problem for each: the control of checkSite.
func checkCatchesBrokenPages(t *testing.T, b *browser) {
	dir := t.TempDir()
	style := `<meta name="viewport" content="width=device-width, initial-scale=1"><style>body{background:#fff;color:#222}</style>`
	pages := map[string]string{
		"index.html": `<!DOCTYPE html><html><head>` + style + `<link rel="alternate" type="application/atom+xml" href="feed.atom"></head><body>
<a href="good.html">good</a> <a href="missing.html">missing</a> <a href="good.html#nowhere">bad fragment</a>
<a href="gone.bin" download>gone artifact</a> <img src="missing.svg" alt="missing image">
<p style="color:#eee">faint text</p>
<script>console.error("control: console error")</script>
</body></html>`,
		"good.html": `<!DOCTYPE html><html><head>` + style + `</head><body>
<div style="width:1000px">too wide</div>
<div style="width:200px;overflow:hidden"><div style="width:600px">cut off</div></div>
<div class="scroll" style="overflow-x:auto"><table class="modules"><tr><td style="white-space:nowrap">` + strings.Repeat("wide cell ", 60) + `</td></tr></table></div>
<script>throw new Error("control: uncaught")</script>
</body></html>`,
	}
	pages["feed.atom"] = `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><link href="not-in-feed.html"/></feed>`
	for name, body := range pages {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	c := newCrawler(b, srv.URL, "", "control")
	c.crawl(srv.URL + "/index.html")
	got := strings.Join(c.problems, "\n")
	for _, want := range []string{
		"missing.html: 404",                 // a broken link
		"gone.bin: 404",                     // a broken artifact link
		"not-in-feed.html: 404",             // a broken link in a feed
		"missing.svg: 404",                  // a broken image (from Go)
		"image does not load",               // the same, in the browser
		"#nowhere: no element with that id", // a broken fragment
		"control: console error",            // console.error
		"control: uncaught",                 // an uncaught exception
		"dark mode: body background",        // no dark mode
		"contrast",                          // faint text
		"page scrolls sideways",             // the 1000 px div
		"sticks out of the screen",          // the same
		"is cut off (overflow hidden)",      // overflow: hidden
		"table.modules scrolls sideways",    // the cards do not fit
		"failed load",                       // the browser's own 404 report
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the broken site gave no problem with %q; problems:\n%s", want, got)
		}
	}
}

// browser is one headless Chromium for the whole test; each page gets a
// tab of its own.
type browser struct {
	ctx context.Context
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	testutil.NeedTool(t, "chromium", "chromium")
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	// The browser's folders are the test's own: its profile, and a home
	// (the crash handler keeps its reports under XDG_CONFIG_HOME). The
	// folder also names every process of this browser, for the cleanup
	// below: each carries --user-data-dir, the crash handler its
	// --database.
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Env("HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache")))
	if os.Geteuid() == 0 {
		// Chromium refuses to start as root with its sandbox on ("Running
		// as root without --no-sandbox is not supported"): the sandbox is
		// built to drop a user's rights, not root's. As any other user the
		// sandbox stays on.
		opts = append(opts, chromedp.NoSandbox)
	}
	// A bound for a browser that hangs, not a timed assertion.
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Minute)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		bcancel()
		acancel()
		stop()
		killBrowser(t, dir)
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	v, err := chromedp.CallBrowser(bctx, browserGetVersion, cdp.Empty{})
	if err == nil {
		t.Logf("%s (%s)", v.Product, exe)
	}
	return &browser{ctx: bctx}
}

// browserGetVersion is Browser.getVersion, for the log.
var browserGetVersion = cdp.Command[cdp.Empty, struct {
	Product string `json:"product"`
}]{Method: "Browser.getVersion"}

// killBrowser kills every process with an argument that names dir (the
// browser and its children: zygote, renderers, GPU, network and crash
// handler processes), until none is left, and fails t if one stays.
func killBrowser(t *testing.T, dir string) {
	mark := []byte(dir + string(filepath.Separator))
	find := func() []int {
		var pids []int
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil {
				continue
			}
			if bytes.Contains(cmdline, mark) {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	deadline := time.Now().Add(10 * time.Second)
	for quiet := 0; quiet < 3; time.Sleep(20 * time.Millisecond) {
		pids := find()
		if len(pids) == 0 {
			quiet++
			continue
		}
		quiet = 0
		if time.Now().After(deadline) {
			t.Errorf("Chromium processes of %s still running: %v", dir, pids)
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// screenshotDir is where the screenshots go: AUTOBUILD_SCREENSHOTS
// (created) when set, else the test's artifact folder.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("AUTOBUILD_SCREENSHOTS")
	if dir == "" {
		dir = t.ArtifactDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// crawler visits a site's pages from one start page, collecting problems.
type crawler struct {
	b                     *browser
	origin, shots, prefix string
	client                *http.Client
	fetched               map[string]string   // URL (no fragment) → its media type, once fetched with 200
	pages                 map[string][]string // page URL → the ids on it
	fragments             []linkRef           // links with a #fragment, checked after the crawl
	kinds                 map[string]bool     // page kinds already in a screenshot
	nshots                int
	problems              []string
}

// linkRef is a link or resource found on a page.
type linkRef struct {
	URL      string `json:"url"`
	Tag      string `json:"tag"`
	Attr     string `json:"attr"`
	Download bool   `json:"download"`
	from     string
}

func newCrawler(b *browser, origin, shots, prefix string) *crawler {
	return &crawler{b: b, origin: origin, shots: shots, prefix: prefix, client: &http.Client{Timeout: time.Minute},
		fetched: map[string]string{}, pages: map[string][]string{}, kinds: map[string]bool{}}
}

func (c *crawler) problem(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// page names a URL in a problem: its path below the site.
func (c *crawler) name(u string) string {
	if s := strings.TrimPrefix(u, c.origin); s != u {
		return s
	}
	return u
}

// canonical is u without its fragment, and a folder's index.html as the
// folder (http.FileServer redirects the one to the other).
func canonical(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Fragment, p.RawFragment = "", ""
	if strings.HasSuffix(p.Path, "/index.html") {
		p.Path = strings.TrimSuffix(p.Path, "index.html")
		p.RawPath = ""
	}
	return p.String()
}

func (c *crawler) crawl(start string) {
	queue := []linkRef{{URL: start, Tag: "start", from: "(start)"}}
	seen := map[string]bool{}
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		key := canonical(ref.URL)
		if seen[key] {
			continue
		}
		seen[key] = true
		var found []linkRef
		switch mt := c.fetch(ref); {
		case mt == "text/html":
			if ref.Download {
				continue // an artifact, not one of the site's pages
			}
			found = c.visit(key)
		case strings.HasSuffix(mt, "+xml") || mt == "text/xml" || mt == "application/xml":
			found = c.xmlLinks(key) // feeds, pictures
		}
		for _, r := range found {
			if !strings.HasPrefix(r.URL, c.origin+"/") {
				if u, err := url.Parse(r.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
					c.problem("%s: %s %s=%q leaves the site: the test's farm configures no outside link", c.name(r.from), r.Tag, r.Attr, r.URL)
				}
				continue
			}
			if strings.Contains(r.URL, "#") {
				c.fragments = append(c.fragments, r)
			}
			queue = append(queue, r)
		}
	}
	for _, r := range c.fragments {
		u, _ := url.Parse(r.URL)
		if u.Fragment == "" {
			continue
		}
		ids, ok := c.pages[canonical(r.URL)]
		if !ok {
			continue // not a page: its own problem, if any, is reported
		}
		found := false
		for _, id := range ids {
			found = found || id == u.Fragment
		}
		if !found {
			c.problem("%s: link to %s: #%s: no element with that id", c.name(r.from), c.name(canonical(r.URL)), u.Fragment)
		}
	}
}

// fetch gets ref's URL from the test's server (following redirects) and
// returns its media type, or "" after a problem.
func (c *crawler) fetch(ref linkRef) string {
	u := canonical(ref.URL)
	if mt, ok := c.fetched[u]; ok {
		return mt
	}
	resp, err := c.client.Get(u)
	if err != nil {
		c.problem("%s: %s %s: %v", c.name(ref.from), ref.Tag, c.name(u), err)
		return ""
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.problem("%s: %s %s=%q → %s: %d", c.name(ref.from), ref.Tag, ref.Attr, c.name(ref.URL), c.name(u), resp.StatusCode)
		return ""
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	c.fetched[u] = mt
	return mt
}

// xmlLinks reads the links of an XML document (an Atom feed's link
// elements, an SVG picture's a elements: every href attribute), resolved
// against its URL.
func (c *crawler) xmlLinks(doc string) []linkRef {
	resp, err := c.client.Get(doc)
	if err != nil {
		c.problem("%s: %v", c.name(doc), err)
		return nil
	}
	defer resp.Body.Close()
	base, _ := url.Parse(doc)
	var refs []linkRef
	d := xml.NewDecoder(resp.Body)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			c.problem("%s: not well-formed XML: %v", c.name(doc), err)
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		for _, a := range se.Attr {
			if a.Name.Local != "href" {
				continue
			}
			if u, err := base.Parse(a.Value); err == nil {
				refs = append(refs, linkRef{URL: u.String(), Tag: se.Name.Local, Attr: "href", from: doc})
			} else {
				c.problem("%s: %s href %q: %v", c.name(doc), se.Name.Local, a.Value, err)
			}
		}
	}
	return refs
}

// pageFacts is what the page script reports of a page.
type pageFacts struct {
	Refs       []linkRef `json:"refs"`
	IDs        []string  `json:"ids"`
	Broken     []string  `json:"broken"`      // images that do not load
	Width      float64   `json:"width"`       // the viewport's
	Scroll     float64   `json:"scroll"`      // document.scrollingElement.scrollWidth
	Outside    []string  `json:"outside"`     // elements out of the viewport, not in a scroll box
	Cut        []string  `json:"cut"`         // boxes that clip what they hold
	Scrollers  []string  `json:"scrollers"`   // scroll boxes that scroll
	CardScroll []string  `json:"card_scroll"` // ones that hold a table.modules
	Body       colours   `json:"body"`
	Texts      []text    `json:"texts"`
}

type colours struct {
	Background string `json:"bg"`
	Text       string `json:"fg"`
}

// text is an element with text of its own, its colour and the background
// behind it.
type text struct {
	What string `json:"what"`
	colours
}

// factsJS gathers pageFacts, for a screen VIEWPORT_WIDTH px wide. A box
// "made to scroll" has overflow-x auto or scroll; one with hidden or clip
// cuts its content off.
const factsJS = `(() => {
const desc = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.classList.length ? "." + [...e.classList].join(".") : "") +
	(e.textContent.trim() ? " (" + JSON.stringify(e.textContent.trim().slice(0, 40)) + ")" : "");
const abs = v => { try { return new URL(v, document.baseURI).href } catch (err) { return "invalid:" + v } };
const refs = [];
for (const e of document.querySelectorAll("[href],[src]")) {
	for (const attr of ["href", "src"]) {
		const v = e.getAttribute(attr);
		if (v !== null) refs.push({url: abs(v), tag: e.tagName.toLowerCase(), attr, download: e.hasAttribute("download")});
	}
}
const ids = [...document.querySelectorAll("[id]")].map(e => e.id).concat([...document.querySelectorAll("a[name]")].map(e => e.name));
const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute("src"));
const vw = VIEWPORT_WIDTH;
const scrollBox = e => ["auto", "scroll"].includes(getComputedStyle(e).overflowX);
const inScrollBox = e => { for (let p = e.parentElement; p && p !== document.body && p !== document.documentElement; p = p.parentElement) if (scrollBox(p)) return true; return false; };
const outside = [], cut = [], scrollers = [], cardScroll = [];
const all = [...document.body.querySelectorAll("*")];
for (const e of all) {
	const r = e.getBoundingClientRect();
	if (r.width === 0 && r.height === 0) continue;
	if ((r.right > vw + 0.5 || r.left < -0.5) && !inScrollBox(e) && !(e.parentElement && outside.includes(e.parentElement))) outside.push(e);
	const ox = getComputedStyle(e).overflowX;
	if ((ox === "hidden" || ox === "clip") && e.scrollWidth > e.clientWidth + 1) cut.push(desc(e));
	if (scrollBox(e) && e.scrollWidth > e.clientWidth + 1) {
		scrollers.push(desc(e));
		if (e.querySelector("table.modules")) cardScroll.push(desc(e));
	}
}
// Behind every transparent box is the canvas, in the page's colour scheme.
const probe = document.createElement("div");
probe.style.backgroundColor = "Canvas";
document.body.append(probe);
const canvas = getComputedStyle(probe).backgroundColor;
probe.remove();
const bgOf = e => {
	for (let p = e; p; p = p.parentElement) {
		const c = getComputedStyle(p).backgroundColor;
		if (!/^rgba\(.*, 0\)$/.test(c) && c !== "transparent") return c;
	}
	return canvas;
};
const texts = [];
for (const e of all) {
	if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
	const r = e.getBoundingClientRect();
	if (r.width === 0 || r.height === 0) continue;
	texts.push({what: desc(e), fg: getComputedStyle(e).color, bg: bgOf(e)});
}
const bs = getComputedStyle(document.body);
return {refs, ids, broken, width: window.innerWidth, scroll: document.scrollingElement.scrollWidth,
	outside: outside.slice(0, 5).map(desc), cut, scrollers, card_scroll: cardScroll,
	body: {bg: bgOf(document.body), fg: bs.color}, texts};
})()`

// Viewports: a phone (390 px, the width the layout must hold) and a
// desktop for the screenshot of index.html.
const phoneWidth, phoneHeight = 390, 844

// visit opens u in a new tab and checks it as a phone in light and dark
// mode, returning its links and resources.
func (c *crawler) visit(u string) []linkRef {
	var mu sync.Mutex
	var events []string
	record := func(format string, args ...any) {
		mu.Lock()
		events = append(events, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// The browser asks for /favicon.ico on its own, linked or not: a 404
	// for it is no fault of the page (a linked icon is checked as any
	// resource).
	favicon := c.origin + "/favicon.ico"
	tab, cancel := chromedp.NewContext(c.b.ctx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					if a.Description != "" {
						parts = append(parts, a.Description)
					} else {
						parts = append(parts, strings.Trim(string(a.Value), `"`))
					}
				}
				record("console.%s: %s", ev.Type, strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			record("uncaught exception: %s", msg)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.URL != favicon {
				record("browser log: %s (%s)", ev.Entry.Text, c.name(ev.Entry.URL))
			}
		case *network.EventResponseReceived:
			if ev.Response.Status >= 400 && ev.Response.URL != favicon {
				record("failed load: %s: %d", c.name(ev.Response.URL), ev.Response.Status)
			}
		case *network.EventLoadingFailed:
			if !ev.Canceled {
				record("failed load: %s request: %s", ev.Type, ev.ErrorText)
			}
		}
	}))
	defer cancel()
	light := []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}
	dark := []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}
	err := chromedp.Do(tab,
		callAction(cdplog.Enable, cdp.Empty{}),
		callAction(network.Enable, network.EnableParams{}),
		chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile),
		callAction(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: light}),
		chromedp.Navigate(u),
	)
	if err != nil {
		c.problem("%s: %v", c.name(u), err)
		return nil
	}
	where, _ := chromedp.Run(tab, chromedp.Location())
	facts, err := chromedp.Run(tab, chromedp.Evaluate[pageFacts](strings.ReplaceAll(factsJS, "VIEWPORT_WIDTH", strconv.Itoa(phoneWidth))))
	if err != nil {
		c.problem("%s: reading the page: %v", c.name(u), err)
		return nil
	}
	if canonical(where) != u {
		c.problem("%s: the browser ended at %s", c.name(u), where)
	}
	c.pages[u] = facts.IDs
	kind := pageKind(u)
	shoot := c.shots != "" && !c.kinds[kind]
	c.kinds[kind] = true
	if shoot {
		c.screenshot(tab, kind, "phone-light")
	}
	for _, s := range facts.Broken {
		c.problem("%s: image does not load in the browser: %s", c.name(u), s)
	}
	c.checkLayout(u, facts)
	c.checkColours(u, "light mode", facts, false)
	if err := chromedp.Do(tab, callAction(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: dark})); err != nil {
		c.problem("%s: %v", c.name(u), err)
		return nil
	}
	dfacts, err := chromedp.Run(tab, chromedp.Evaluate[pageFacts](strings.ReplaceAll(factsJS, "VIEWPORT_WIDTH", strconv.Itoa(phoneWidth))))
	if err != nil {
		c.problem("%s: reading the page in dark mode: %v", c.name(u), err)
		return nil
	}
	c.checkColours(u, "dark mode", dfacts, true)
	if shoot {
		c.screenshot(tab, kind, "phone-dark")
		if kind == "index" {
			chromedp.Do(tab, chromedp.EmulateViewport(1280, 800))
			c.screenshot(tab, kind, "desktop-dark")
			chromedp.Do(tab, callAction(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: light}))
			c.screenshot(tab, kind, "desktop-light")
		}
	}
	mu.Lock()
	for _, e := range events {
		c.problem("%s: %s", c.name(u), e)
	}
	mu.Unlock()
	for i := range facts.Refs {
		facts.Refs[i].from = u
	}
	return facts.Refs
}

// callAction is a protocol command as an action.
func callAction[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cmd, params)
		return err
	})
}

// pageKind groups pages for the screenshots: a page at the site's root is
// its own kind (index, packages), one in a folder is of that folder's
// kind (modules, runs).
func pageKind(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "page"
	}
	rel := strings.TrimPrefix(p.Path, "/")
	if rel == "" {
		return "index"
	}
	if i := strings.Index(rel, "/"); i > 0 {
		return rel[:i]
	}
	return strings.TrimSuffix(path.Base(rel), path.Ext(rel))
}

func (c *crawler) screenshot(tab context.Context, kind, mode string) {
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		c.problem("screenshot of %s (%s): %v", kind, mode, err)
		return
	}
	if err := os.WriteFile(filepath.Join(c.shots, c.prefix+"-"+kind+"-"+mode+".png"), png, 0o644); err != nil {
		c.problem("%v", err)
	}
	c.nshots++
}

// checkLayout asserts what theme.go intends at phone width: the page does
// not scroll sideways, nothing sticks out of the screen or is cut off but
// inside a box made to scroll, and the modules table (cards) fits.
func (c *crawler) checkLayout(u string, f pageFacts) {
	if f.Width != phoneWidth {
		c.problem("%s: at %d px the phone's layout viewport grew to %v px to fit the page", c.name(u), phoneWidth, f.Width)
	}
	if f.Scroll > phoneWidth {
		c.problem("%s: at %d px the page scrolls sideways: %v px wide", c.name(u), phoneWidth, f.Scroll)
	}
	for _, e := range f.Outside {
		c.problem("%s: at %d px %s sticks out of the screen, outside any scroll box", c.name(u), phoneWidth, e)
	}
	for _, e := range f.Cut {
		c.problem("%s: at %d px %s is cut off (overflow hidden)", c.name(u), phoneWidth, e)
	}
	for _, e := range f.CardScroll {
		c.problem("%s: at %d px table.modules scrolls sideways in %s: its rows should be cards that fit", c.name(u), phoneWidth, e)
	}
}

// checkColours asserts the page's scheme (dark: a dark background and
// light text; light: the reverse) and a contrast of at least 4.5:1 (WCAG
// AA) for every text.
func (c *crawler) checkColours(u, mode string, f pageFacts, dark bool) {
	bg, err1 := luminance(f.Body.Background)
	fg, err2 := luminance(f.Body.Text)
	if err1 != nil || err2 != nil {
		c.problem("%s: %s: body colours %q on %q: %v %v", c.name(u), mode, f.Body.Text, f.Body.Background, err1, err2)
		return
	}
	if dark && !(bg < 0.05 && fg > 0.5) || !dark && !(bg > 0.8 && fg < 0.1) {
		c.problem("%s: %s: body background %s (luminance %.2f), text %s (%.2f)", c.name(u), mode, f.Body.Background, bg, f.Body.Text, fg)
	}
	for _, tx := range f.Texts {
		l1, e1 := luminance(tx.Text)
		l2, e2 := luminance(tx.Background)
		if e1 != nil || e2 != nil {
			c.problem("%s: %s: %s: colours %q on %q: %v %v", c.name(u), mode, tx.What, tx.Text, tx.Background, e1, e2)
			continue
		}
		if r := (math.Max(l1, l2) + 0.05) / (math.Min(l1, l2) + 0.05); r < 4.5 {
			c.problem("%s: %s: %s: contrast %.1f:1 (%s on %s), below 4.5:1", c.name(u), mode, tx.What, r, tx.Text, tx.Background)
		}
	}
}

// luminance is the relative luminance (WCAG) of a computed CSS colour,
// "rgb(r, g, b)" or "rgba(r, g, b, a)" with a = 1.
func luminance(css string) (float64, error) {
	s := strings.TrimSpace(css)
	var inner string
	switch {
	case strings.HasPrefix(s, "rgb(") && strings.HasSuffix(s, ")"):
		inner = s[4 : len(s)-1]
	case strings.HasPrefix(s, "rgba(") && strings.HasSuffix(s, ")"):
		inner = s[5 : len(s)-1]
	default:
		return 0, fmt.Errorf("colour %q not rgb()", css)
	}
	parts := strings.Split(inner, ",")
	if len(parts) == 4 {
		if a, err := strconv.ParseFloat(strings.TrimSpace(parts[3]), 64); err != nil || a != 1 {
			return 0, fmt.Errorf("colour %q not opaque", css)
		}
		parts = parts[:3]
	}
	if len(parts) != 3 {
		return 0, fmt.Errorf("colour %q not rgb()", css)
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseFloat(strings.TrimSpace(parts[i]), 64)
		if err != nil {
			return 0, fmt.Errorf("colour %q: %v", css, err)
		}
		v /= 255
		if v <= 0.04045 {
			v /= 12.92
		} else {
			v = math.Pow((v+0.055)/1.055, 2.4)
		}
		l += w * v
	}
	return l, nil
}
