package tabconf

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/graph"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/scm"
)

// Note names a setting of the Test-AutoBuild file that the import did
// not carry over, and why.
type Note struct {
	Line int
	// Setting is the setting's path as Config::Record names it:
	// modules/foo/artifacts, features/email_alerts.
	Setting string
	Why     string
}

func (n Note) String() string {
	return fmt.Sprintf("%d: %s: not carried over: %s", n.Line, n.Setting, n.Why)
}

// Result is an imported configuration.
type Result struct {
	// YAML is the autobuild configuration, with the notes as comments.
	YAML []byte
	// Notes are the settings not carried over, in file order.
	Notes []Note
	// Modules are the modules carried over, in file order; Disabled
	// those of them that are disabled.
	Modules, Disabled []string
}

// Import reads the Test-AutoBuild configuration data (the file name is
// for messages) and translates it. A file that does not parse, a setting
// of the wrong shape (a text where a list belongs), a dependency cycle or
// a file of which no module can be carried over is an *Error.
//
// Sources are checked by the SCM backends registered in package scm
// (their Validate): a module whose source a backend refuses, or whose
// kind has no backend, is not carried over.
func Import(file string, data []byte) (*Result, error) {
	root, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	t := &translation{file: file, root: root, repos: map[string]*repo{}, whys: map[*Node]string{}}
	if err := t.run(); err != nil {
		return nil, err
	}
	return t.result(), nil
}

type translation struct {
	file   string
	root   *Node
	repos  map[string]*repo
	mods   []*module
	byName map[string]*module // made once mods is complete
	notes  []Note
	// whys are the reasons of settings named as a whole (a repository
	// no backend takes), for unused.
	whys map[*Node]string

	buildRoot     string
	publishURL    string
	publishTitle  string
	noArchive     bool
	globalEnv     []kv
	counter       string // counter:, as Test-AutoBuild's counter
	epoch         bool   // timestamp_format: epoch (Test-AutoBuild 1.2's)
	defaultCmd    string // the top-level control-file of Test-AutoBuild 1.0
	defaultCmdSet bool
	mail          *alertsOut // the alerts (alerts.go), nil for none
}

type kv struct{ k, v string }

// module is one module of the file, and what it becomes.
type module struct {
	name string
	node *Node
	line int
	// why it is not carried over ("" if it is)
	skip string
	// skipSetting is the setting that keeps it out, if not the module
	// itself (its note is at that line)
	skipSetting string

	label    string
	enabled  bool
	offWhy   string          // why it is disabled, when a group disabled it
	src      config.Source   // its one source,
	srcs     []config.Source // or its several, each with its Path
	rootPath string          // the folder of the one Test-AutoBuild checked out into the module's folder
	command  string
	depends  []string
	depNode  *Node
	env      []kv
	groups   []string
	links    []config.Link
	admins   []string // its own alert recipients (alerts.go)
	oldStyle bool     // Test-AutoBuild 1.0's repository + paths
}

func (t *translation) note(n *Node, setting, why string) {
	if n != nil {
		n.used = true
	}
	line := 1
	if n != nil {
		line = n.Line
	}
	t.notes = append(t.notes, Note{Line: line, Setting: setting, Why: why})
}

func (t *translation) errAt(n *Node, setting, format string, args ...any) error {
	return &Error{File: t.file, Line: n.Line, Setting: setting, Msg: fmt.Sprintf(format, args...)}
}

// text returns the text of n (marked used), or an error naming setting.
func (t *translation) text(n *Node, setting string) (string, error) {
	if n.Kind != Text {
		return "", t.errAt(n, setting, "must be a text value, not %s", n)
	}
	n.used = true
	return n.Text, nil
}

// shape checks n is a mapping or a list, with a hint when a one-line
// bracket was written as text.
// optText is the text of map n's key k (the setting set/k) and its
// node: "" and nil when n or the key is absent.
func (t *translation) optText(n *Node, set, k string) (string, *Node, error) {
	o := n.Get(k)
	if o == nil {
		return "", nil, nil
	}
	s, err := t.text(o, set+"/"+k)
	return s, o, err
}

func (t *translation) shape(n *Node, want Kind, setting string) error {
	if n.Kind == want {
		n.used = true
		return nil
	}
	what := map[Kind]string{Map: "a mapping: key = { on its own line, key = value lines, } alone", List: "a list: key = ( on its own line, one value a line, ) alone"}[want]
	return t.errAt(n, setting, "must be %s; not %s", what, n)
}

// consume marks n and everything in it used.
func consume(n *Node) {
	if n == nil {
		return
	}
	n.used = true
	for _, v := range n.Vals {
		consume(v)
	}
	for _, v := range n.Items {
		consume(v)
	}
}

// truth is Perl's: "" and "0" are false, anything else true.
func truth(s string) bool { return s != "" && s != "0" }

func (t *translation) run() error {
	r := t.root
	r.used = true
	if err := t.topLevel(); err != nil {
		return err
	}
	if n := r.Get("repositories"); n != nil {
		if err := t.shape(n, Map, "repositories"); err != nil {
			return err
		}
		for i, name := range n.Keys {
			if err := t.repository(name, n.Vals[i]); err != nil {
				return err
			}
		}
	}
	disabledGroups, err := t.groups()
	if err != nil {
		return err
	}
	mods := r.Get("modules")
	if mods == nil {
		return &Error{File: t.file, Line: 1, Msg: "no modules = { … }: there is nothing to import"}
	}
	if err := t.shape(mods, Map, "modules"); err != nil {
		return err
	}
	for i, name := range mods.Keys {
		m, err := t.module(name, mods.Vals[i], disabledGroups)
		if err != nil {
			return err
		}
		t.mods = append(t.mods, m)
	}
	t.checkNames()
	t.resolveDepends()
	if err := t.checkCycles(); err != nil {
		return err
	}
	carried, on := 0, 0
	for _, m := range t.mods {
		if m.skip == "" {
			carried++
			if m.enabled {
				on++
			}
		}
	}
	if len(t.mods) == 0 {
		return &Error{File: t.file, Line: mods.Line, Setting: "modules", Msg: "defines no module: there is nothing to import"}
	}
	if carried == 0 {
		return &Error{File: t.file, Line: mods.Line, Setting: "modules", Msg: "no module can be carried over: " + t.skipSummary()}
	}
	if on == 0 {
		return &Error{File: t.file, Line: mods.Line, Setting: "modules", Msg: "every module that can be carried over is disabled: autobuild needs at least one to build"}
	}
	if err := t.alerts(); err != nil {
		return err
	}
	t.unused(t.root, "")
	return nil
}

func (t *translation) skipSummary() string {
	var s []string
	for _, m := range t.mods {
		s = append(s, fmt.Sprintf("%s (line %d): %s", m.name, m.line, m.skip))
	}
	return strings.Join(s, "; ")
}

// topLevel carries over the settings of the whole build.
func (t *translation) topLevel() error {
	r := t.root
	if n := r.Get("buildRoot"); n != nil {
		s, err := t.text(n, "buildRoot")
		if err != nil {
			return err
		}
		if path.IsAbs(s) {
			t.buildRoot = path.Clean(s)
		} else {
			t.note(n, "buildRoot", fmt.Sprintf("%q is not an absolute path", s))
		}
	}
	// The site's address: http://hostname/httpPrefix/, as Test-AutoBuild
	// linked it (its default prefix was /~builder).
	host, prefix := r.Get("hostname"), r.Get("httpPrefix")
	if host != nil {
		h, err := t.text(host, "hostname")
		if err != nil {
			return err
		}
		p := "/~builder"
		if prefix != nil {
			if p, err = t.text(prefix, "httpPrefix"); err != nil {
				return err
			}
		}
		u := "http://" + h + "/" + strings.Trim(p, "/")
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		if err := checkURL(u); err != nil || h == "" {
			t.note(host, "hostname", fmt.Sprintf("the site's address %q is not a URL autobuild takes as publish.url", u))
			if prefix != nil {
				prefix.used = true
			}
		} else {
			t.publishURL = u
		}
	} else if prefix != nil {
		t.note(prefix, "httpPrefix", "the site's address (publish.url) needs the host name too, and hostname is not set (Test-AutoBuild used the machine's): set publish.url yourself")
	}
	// The site's title: Test-AutoBuild's label named its status pages.
	if n := r.Get("label"); n != nil {
		l, err := t.text(n, "label")
		if err != nil {
			return err
		}
		if err := publish.CheckTitle(l); err != nil {
			t.note(n, "label", fmt.Sprintf("%v: not a title autobuild takes as publish.title", err))
		} else {
			t.publishTitle = l
		}
	}
	// The cache: Test-AutoBuild 1.2's features/cache (enableCache in
	// 1.2.0, build/cache in 1.0). Off, every module is built every run:
	// autobuild's archive disabled.
	for _, p := range []string{"features/cache", "enableCache", "build/cache"} {
		n := t.at(p)
		if n == nil {
			continue
		}
		s, err := t.text(n, p)
		if err != nil {
			return err
		}
		if !truth(s) {
			t.noArchive = true
		}
	}
	// Switches that say what autobuild does anyway are carried over by
	// saying nothing; the others are named.
	for _, f := range []struct {
		path string
		same bool // the value at which it matches autobuild
		why  string
	}{
		{"features/checkout", true, "autobuild checks every module out on every run"},
		{"enableCheckout", true, "autobuild checks every module out on every run"},
		{"checkout-source", true, "autobuild checks every module out on every run"},
		{"features/createrepo_index", false, "autobuild makes no package repository index"},
		{"features/yum_index", false, "autobuild makes no package repository index"},
		{"features/apt_index", false, "autobuild makes no package repository index"},
		{"enableCreaterepo", false, "autobuild makes no package repository index"},
		{"enableApt", false, "autobuild makes no package repository index"},
		{"enableYum", false, "autobuild makes no package repository index"},
		{"debug", false, "give autobuild --log-level debug"},
		{"abort-on-fail", false, "autobuild builds every module whose dependencies built: a failure skips only its dependents"},
	} {
		n := t.at(f.path)
		if n == nil {
			continue
		}
		s, err := t.text(n, f.path)
		if err != nil {
			return err
		}
		if truth(s) != f.same {
			t.note(n, f.path, f.why)
		}
	}
	if n := r.Get("env"); n != nil {
		if err := t.shape(n, Map, "env"); err != nil {
			return err
		}
		for i, k := range n.Keys {
			v, err := t.text(n.Vals[i], "env/"+k)
			if err != nil {
				return err
			}
			if engineVar(k) {
				t.note(n.Vals[i], "env/"+k, whyEngineVar)
				continue
			}
			t.globalEnv = append(t.globalEnv, kv{k, v})
		}
	}
	// The counter: the stock engine of Test-AutoBuild 1.2 (the engine
	// key is 1.2's) counted with Counter::Timestamp, and its
	// AUTOBUILD_TIMESTAMP was in seconds since the epoch; 1.0's
	// AUTO_BUILD_COUNTER was the run's start.
	if e := r.Get("engine"); e != nil {
		s, err := t.text(e, "engine")
		if err != nil {
			return err
		}
		e.used = false // named: the pipeline is fixed
		t.epoch = true
		switch path.Base(s) {
		case "host-build.conf", "host-build-secure.conf":
			t.counter = config.CounterTimestamp
		default:
			t.whys[e] = reason("engine") + "; what its counter was is not known: AUTOBUILD_COUNTER counts autobuild's runs (set counter: time, timestamp or changelist for one of Test-AutoBuild's)"
		}
	} else {
		t.counter = config.CounterTime
	}
	if c := r.Get("counter"); c != nil {
		if err := t.shape(c, Map, "counter"); err != nil {
			return err
		}
		if mn := c.Get("module"); mn != nil {
			s, err := t.text(mn, "counter/module")
			if err != nil {
				return err
			}
			switch strings.TrimPrefix(s, "Test::AutoBuild::Counter::") {
			case "Time":
				t.counter = config.CounterTime
			case "Timestamp":
				t.counter = config.CounterTimestamp
			case "ChangeList":
				t.counter = config.CounterChangelist
			default:
				t.note(mn, "counter/module", fmt.Sprintf("autobuild has no counter %q (counter: %s)", s, strings.Join(config.Counters, ", ")))
			}
		}
	}
	if n := r.Get("control-file"); n != nil {
		s, err := t.text(n, "control-file")
		if err != nil {
			return err
		}
		t.defaultCmd, t.defaultCmdSet = shellPath(s), true
	}
	return nil
}

// engineVar says whether the engine sets variable k itself.
func engineVar(k string) bool {
	return strings.HasPrefix(k, "AUTOBUILD_") || strings.HasPrefix(k, "AUTO_BUILD_")
}

const whyEngineVar = "autobuild sets the AUTOBUILD_ and AUTO_BUILD_ variables itself"

// whole names setting n as a whole, for why: what it holds is not
// looked at.
func (t *translation) whole(n *Node, why string) {
	n.used = false
	t.whys[n] = why
}

// at returns the node at a slash-separated path of mappings, or nil.
// The mappings on the way are marked used: what they hold that is not
// used is named setting by setting.
func (t *translation) at(p string) *Node {
	n := t.root
	for _, k := range strings.Split(p, "/") {
		if n != nil && n.Kind == Map {
			n.used = true
		}
		n = n.Get(k)
	}
	return n
}

// groups returns the groups set enabled = 0, by name.
func (t *translation) groups() (map[string]bool, error) {
	off := map[string]bool{}
	n := t.root.Get("groups")
	if n == nil {
		return off, nil
	}
	if err := t.shape(n, Map, "groups"); err != nil {
		return nil, err
	}
	for i, name := range n.Keys {
		g := n.Vals[i]
		if err := t.shape(g, Map, "groups/"+name); err != nil {
			return nil, err
		}
		if e := g.Get("enabled"); e != nil {
			s, err := t.text(e, "groups/"+name+"/enabled")
			if err != nil {
				return nil, err
			}
			off[name] = !truth(s)
		}
	}
	return off, nil
}

// repo is one repository of the file.
type repo struct {
	name string
	node *Node
	kind string // autobuild's source kind, "" if none fits
	why  string // why its modules cannot be carried over, when kind is ""
	typ  string // Test-AutoBuild's type (cvs, svn, git, …)

	base     string // base-url (git, hg, darcs, bzr), url (svn), directory (disk)
	baseNode *Node
	cvsroot  string
}

// repoTypes maps Test-AutoBuild's repository types (the type key of 1.2,
// or the last part of the module key's Perl class) to autobuild's kinds.
var repoTypes = map[string]struct{ typ, kind string }{
	"cvs": {"cvs", "cvs"}, "CVS": {"cvs", "cvs"},
	"svn": {"svn", "svn"}, "Subversion": {"svn", "svn"},
	"git": {"git", "git"}, "Git": {"git", "git"},
	"hg": {"hg", "hg"}, "Mercurial": {"hg", "hg"},
	"darcs": {"darcs", "darcs"}, "Darcs": {"darcs", "darcs"},
	"bzr": {"bzr", "brz"}, "Bazaar": {"bzr", "brz"},
	"disk": {"disk", "dir"}, "Disk": {"disk", "dir"},
	"p4": {"p4", ""}, "Perforce": {"p4", ""},
	"tla": {"tla", ""}, "GNUArch": {"tla", ""},
	"svk": {"svk", ""}, "SVK": {"svk", ""},
	"mtn": {"mtn", ""}, "Monotone": {"mtn", ""},
}

var noBackend = map[string]string{
	"p4":  "autobuild has no Perforce backend",
	"tla": "import does not translate GNU Arch repositories: give the module source: {kind: tla, url: LOCATION#ARCHIVE/CATEGORY--BRANCH--VERSION} by hand",
	"svk": "autobuild has no SVK backend",
	"mtn": "autobuild has no Monotone backend",
}

func (t *translation) repository(name string, n *Node) error {
	set := "repositories/" + name
	if err := t.shape(n, Map, set); err != nil {
		return err
	}
	r := &repo{name: name, node: n}
	t.repos[name] = r
	var key string
	if tn := n.Get("type"); tn != nil {
		s, err := t.text(tn, set+"/type")
		if err != nil {
			return err
		}
		key = s
		if mn := n.Get("module"); mn != nil {
			mn.used = true // Test-AutoBuild 1.2 took module over type
			if s, err := t.text(mn, set+"/module"); err == nil {
				key = strings.TrimPrefix(s, "Test::AutoBuild::Repository::")
			}
		}
	} else if mn := n.Get("module"); mn != nil {
		s, err := t.text(mn, set+"/module")
		if err != nil {
			return err
		}
		key = strings.TrimPrefix(s, "Test::AutoBuild::Repository::")
	} else {
		r.why = fmt.Sprintf("repository %s has no type", name)
		t.whole(n, r.why)
		return nil
	}
	rt, ok := repoTypes[key]
	if !ok {
		r.why = fmt.Sprintf("repository %s is of type %q, which autobuild does not know (source kinds: %s)", name, key, strings.Join(sourceKinds, ", "))
		t.whole(n, r.why)
		return nil
	}
	r.typ, r.kind = rt.typ, rt.kind
	if r.kind == "" {
		r.why = fmt.Sprintf("repository %s is of type %s: %s (source kinds: %s)", name, rt.typ, noBackend[rt.typ], strings.Join(sourceKinds, ", "))
		t.whole(n, r.why)
		return nil
	}
	opts := n.Get("options")
	if opts != nil {
		if err := t.shape(opts, Map, set+"/options"); err != nil {
			return err
		}
	}
	opt := func(k string) (string, *Node, error) { return t.optText(opts, set+"/options", k) }
	var err error
	switch r.kind {
	case "git", "hg", "darcs", "brz":
		r.base, r.baseNode, err = opt("base-url")
		if err == nil && r.base == "" {
			r.why = fmt.Sprintf("repository %s has no options/base-url", name)
		}
	case "svn":
		r.base, r.baseNode, err = opt("url")
		if err == nil && r.base == "" {
			r.why = fmt.Sprintf("repository %s has no options/url", name)
		}
	case "dir":
		r.base, r.baseNode, err = opt("directory")
	case "cvs":
		// The CVSROOT variable of the repository's env, or of the
		// global env, which Test-AutoBuild's commands inherited.
		env := n.Get("env")
		if env != nil {
			if err := t.shape(env, Map, set+"/env"); err != nil {
				return err
			}
			if c := env.Get("CVSROOT"); c != nil {
				r.cvsroot, err = t.text(c, set+"/env/CVSROOT")
			}
		}
		if r.cvsroot == "" && err == nil {
			for _, e := range t.globalEnv {
				if e.k == "CVSROOT" {
					r.cvsroot = e.v
				}
			}
		}
		if r.cvsroot == "" && err == nil {
			r.why = fmt.Sprintf("repository %s sets no CVSROOT in its env", name)
		}
	}
	return err
}

// sourceKinds are autobuild's source kinds Test-AutoBuild's types map to
// (fossil, which Test-AutoBuild did not know, aside).
var sourceKinds = []string{"git", "svn", "cvs", "hg", "brz", "darcs", "dir"}

// moduleName is what autobuild takes as a module name (engine/config's
// rule).
var moduleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

func (t *translation) module(name string, n *Node, offGroups map[string]bool) (*module, error) {
	set := "modules/" + name
	m := &module{name: name, node: n, line: n.Line, enabled: true}
	if err := t.shape(n, Map, set); err != nil {
		return nil, err
	}
	switch {
	case !moduleName.MatchString(name):
		m.skip = fmt.Sprintf("%q is not a module name autobuild takes (letters, digits and . _ + -, not first)", name)
		return m, nil
	case len(name) > config.MaxNameLen:
		m.skip = fmt.Sprintf("the name is %d bytes long: autobuild takes at most %d", len(name), config.MaxNameLen)
		return m, nil
	}
	if e := n.Get("enabled"); e != nil {
		s, err := t.text(e, set+"/enabled")
		if err != nil {
			return nil, err
		}
		m.enabled = truth(s)
	}
	if l := n.Get("label"); l != nil {
		s, err := t.text(l, set+"/label")
		if err != nil {
			return nil, err
		}
		m.label = s
	}
	// The groups: 1.2's list, or 1.0's one group.
	if g := n.Get("groups"); g != nil {
		if err := t.shape(g, List, set+"/groups"); err != nil {
			return nil, err
		}
		for i, it := range g.Items {
			s, err := t.text(it, fmt.Sprintf("%s/groups/[%d]", set, i))
			if err != nil {
				return nil, err
			}
			m.groups = append(m.groups, s)
		}
	} else if g := n.Get("group"); g != nil {
		s, err := t.text(g, set+"/group")
		if err != nil {
			return nil, err
		}
		m.groups = []string{s}
	}
	for _, g := range m.groups {
		if offGroups[g] && m.enabled {
			m.enabled = false
			m.offWhy = fmt.Sprintf("its group %s is disabled (groups/%s/enabled)", g, g)
		}
	}
	if err := t.sources(m, set); err != nil {
		return nil, err
	}
	if m.skip != "" {
		return m, nil
	}
	if err := t.moduleSettings(m, set); err != nil {
		return nil, err
	}
	return m, nil
}

// source is one entry of a module's sources.
type source struct {
	repo, path string
	node       *Node // where it is written
	setting    string
}

// sources finds the module's sources and carries over the first.
func (t *translation) sources(m *module, set string) error {
	n := m.node
	var list []source
	entry := func(e *Node, setting string) error {
		if err := t.shape(e, Map, setting); err != nil {
			return err
		}
		s := source{node: e, setting: setting}
		for _, f := range []struct {
			key string
			to  *string
		}{{"repository", &s.repo}, {"path", &s.path}} {
			v := e.Get(f.key)
			if v == nil {
				return t.errAt(e, setting, "names no %s", f.key)
			}
			x, err := t.text(v, setting+"/"+f.key)
			if err != nil {
				return err
			}
			*f.to = x
		}
		list = append(list, s)
		return nil
	}
	switch {
	case n.Get("source") != nil:
		if err := entry(n.Get("source"), set+"/source"); err != nil {
			return err
		}
		if s := n.Get("sources"); s != nil {
			t.note(s, set+"/sources", "Test-AutoBuild ignored it too: source is set")
		}
	case n.Get("sources") != nil:
		s := n.Get("sources")
		if err := t.shape(s, List, set+"/sources"); err != nil {
			return err
		}
		for i, e := range s.Items {
			if err := entry(e, fmt.Sprintf("%s/sources/[%d]", set, i)); err != nil {
				return err
			}
		}
	case n.Get("repository") != nil || n.Get("paths") != nil:
		// Test-AutoBuild 1.0: a repository and its paths.
		m.oldStyle = true
		rn, pn := n.Get("repository"), n.Get("paths")
		if rn == nil || pn == nil {
			return t.errAt(n, set, "Test-AutoBuild 1.0 modules need both repository and paths")
		}
		r, err := t.text(rn, set+"/repository")
		if err != nil {
			return err
		}
		if pn.Kind == Text {
			list = append(list, source{repo: r, path: pn.Text, node: pn, setting: set + "/paths"})
			pn.used = true
		} else {
			if err := t.shape(pn, List, set+"/paths"); err != nil {
				return err
			}
			for i, it := range pn.Items {
				p, err := t.text(it, fmt.Sprintf("%s/paths/[%d]", set, i))
				if err != nil {
					return err
				}
				list = append(list, source{repo: r, path: p, node: it, setting: fmt.Sprintf("%s/paths/[%d]", set, i)})
			}
		}
	}
	if len(list) == 0 {
		m.skip = "it names no source (source, sources, or repository and paths)"
		return nil
	}
	// Test-AutoBuild 1.0's cvs and disk checked out the first path only.
	if r := t.repos[list[0].repo]; m.oldStyle && len(list) > 1 && r != nil && (r.typ == "cvs" || r.typ == "disk") {
		for _, s := range list[1:] {
			t.note(s.node, s.setting, "Test-AutoBuild 1.0 checked out only the first path of a "+r.typ+" repository too")
		}
		list = list[:1]
	}
	type carried struct {
		src config.Source
		dst string // the folder of the module's tree it goes into
		s   source
	}
	var got []carried
	dsts := map[string]string{}
	for i, s := range list {
		// "scmpath -> localpath": into a folder of the module's tree.
		scmPath, dst, _ := strings.Cut(s.path, "->")
		scmPath, dst = strings.TrimSpace(scmPath), strings.Trim(strings.TrimSpace(dst), "/")
		src, why := t.source(s.repo, scmPath, m.oldStyle)
		if why == "" && strings.Contains(s.path, "->") {
			if msg := folderName(dst); msg != "" {
				why = fmt.Sprintf("it goes into %q of the module's tree, and autobuild checks a source out into one folder of it: %s", dst, msg)
			} else if other, dup := dsts[dst]; dup {
				why = fmt.Sprintf("it goes into %s/, as %s does: autobuild gives each source a folder of its own", dst, other)
			}
		}
		if why != "" {
			if i == 0 {
				m.skip, m.skipSetting = why, s.setting
				return nil
			}
			t.note(s.node, s.setting, why)
			continue
		}
		if dst != "" {
			dsts[dst] = s.setting
		}
		got = append(got, carried{src, dst, s})
	}
	if len(got) > config.MaxSources {
		for _, g := range got[config.MaxSources:] {
			t.note(g.s.node, g.s.setting, fmt.Sprintf("autobuild takes at most %d sources a module", config.MaxSources))
		}
		got = got[:config.MaxSources]
	}
	if len(got) == 1 && got[0].dst == "" {
		m.src = got[0].src
		return nil
	}
	// Several sources (or one into a folder): each in a folder of its
	// own. One that Test-AutoBuild checked out into the module's folder
	// itself gets a folder named after the module.
	for _, g := range got {
		if g.dst == "" {
			g.dst = freeFolder(m.name, dsts)
			dsts[g.dst] = g.s.setting
			if m.rootPath == "" {
				m.rootPath = g.dst
			}
			t.note(g.s.node, g.s.setting, fmt.Sprintf("Test-AutoBuild checked it out into the module's folder itself; autobuild gives each of several sources a folder of its own, and this one's is %s/ (the build command runs there)", g.dst))
		}
		g.src.Path = g.dst
		m.srcs = append(m.srcs, g.src)
	}
	return nil
}

// folderName says what keeps p from being the folder of one of several
// sources (engine/config's rule), or "".
func folderName(p string) string {
	switch {
	case p == "" || p == "." || p == "..":
		return fmt.Sprintf("%q is not a folder name", p)
	case len(p) > 64:
		return fmt.Sprintf("%q is longer than 64 bytes", p)
	case !folderRE.MatchString(p):
		return fmt.Sprintf("%q is not one folder name of letters, digits, '.', '_' and '-'", p)
	}
	return ""
}

var (
	folderRE  = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	notFolder = regexp.MustCompile(`[^A-Za-z0-9._-]`)
)

// freeFolder is a folder name made of the module's name that taken does
// not hold yet.
func freeFolder(module string, taken map[string]string) string {
	base := notFolder.ReplaceAllString(module, "_")
	if len(base) > 60 {
		base = base[:60]
	}
	if base == "." || base == ".." {
		base = "src"
	}
	p := base
	for i := 2; ; i++ {
		if _, ok := taken[p]; !ok {
			return p
		}
		p = fmt.Sprintf("%s-%d", base, i)
	}
}

// source translates one source: path p of repository name, or says why
// it cannot.
func (t *translation) source(name, p string, oldStyle bool) (config.Source, string) {
	r, ok := t.repos[name]
	if !ok {
		return config.Source{}, fmt.Sprintf("repository %q is not defined under repositories", name)
	}
	if r.why != "" {
		return config.Source{}, r.why
	}
	src := config.Source{Kind: r.kind}
	join := func(base, p string) string {
		return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(p, "/")
	}
	switch r.kind {
	case "git":
		// "path:branch"; master when no branch is named.
		src.Branch = "master"
		if i := strings.IndexByte(p, ':'); i >= 0 {
			p, src.Branch = p[:i], strings.TrimSpace(p[i+1:])
		}
		src.URL = join(r.base, p)
	case "hg", "darcs", "brz":
		src.URL = join(r.base, p)
	case "svn":
		// "path@revision" ("path:revision" in 1.0); the project layout
		// when the path ends in trunk, branches/<b> or tags/<t>, else
		// the one folder.
		mark := byte('@')
		if oldStyle {
			mark = ':'
		}
		if i := strings.LastIndexByte(p, mark); i >= 0 && isDigits(p[i+1:]) {
			p, src.Commit = strings.TrimSpace(p[:i]), p[i+1:]
		}
		full := strings.TrimRight(join(r.base, p), "/")
		switch {
		case src.Commit != "":
			// autobuild pins one of branch, tag and commit: a pinned
			// revision of the folder as it is.
			src.URL = full + "#folder"
		case strings.HasSuffix(full, "/trunk"):
			src.URL = strings.TrimSuffix(full, "/trunk")
		case strings.Contains(full, "/branches/"):
			i := strings.LastIndex(full, "/branches/")
			src.URL, src.Branch = full[:i], full[i+len("/branches/"):]
		case strings.Contains(full, "/tags/"):
			i := strings.LastIndex(full, "/tags/")
			src.URL, src.Tag = full[:i], full[i+len("/tags/"):]
		default:
			src.URL = full + "#folder"
		}
	case "cvs":
		// "module:BRANCH" (HEAD is the trunk).
		mod := p
		if i := strings.LastIndexByte(p, ':'); i >= 0 && cvsBranch.MatchString(p[i+1:]) {
			mod = p[:i]
			if b := p[i+1:]; b != "HEAD" {
				src.Branch = b
			}
		}
		root := r.cvsroot
		if after, ok := strings.CutPrefix(root, ":local:"); ok {
			root = after
		}
		src.URL = root + "#" + strings.Trim(mod, "/")
	case "dir":
		full := p
		if r.base != "" {
			full = join(r.base, p)
		}
		if !path.IsAbs(full) {
			return config.Source{}, fmt.Sprintf("%q is not an absolute path (Test-AutoBuild read it from its source root)", full)
		}
		src.URL = path.Clean(full)
	}
	if r.kind != "dir" && r.kind != "svn" && r.kind != "cvs" && !remote(src.URL) && !path.IsAbs(src.URL) {
		return config.Source{}, fmt.Sprintf("%q is neither a URL nor an absolute path", src.URL)
	}
	backend, err := scm.Get(src.Kind)
	if err != nil {
		return config.Source{}, err.Error()
	}
	if err := backend.Validate(src.SCM()); err != nil {
		var fe *scm.FieldError
		if errors.As(err, &fe) {
			return config.Source{}, fmt.Sprintf("its %s source's %s: %s", src.Kind, fe.Field, fe.Msg)
		}
		return config.Source{}, fmt.Sprintf("its %s source: %v", src.Kind, err)
	}
	return src, ""
}

var cvsBranch = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// remote says whether s is a URL or an scp-like address (user@host:path).
func remote(s string) bool {
	return strings.Contains(s, "://") || strings.Contains(s, "@")
}

// moduleSettings carries over the module's other settings.
func (t *translation) moduleSettings(m *module, set string) error {
	n := m.node
	if d := n.Get("depends"); d != nil {
		if err := t.shape(d, List, set+"/depends"); err != nil {
			return err
		}
		m.depNode = d
		for i, it := range d.Items {
			s, err := t.text(it, fmt.Sprintf("%s/depends/[%d]", set, i))
			if err != nil {
				return err
			}
			m.depends = append(m.depends, s)
		}
	}
	// The module's environment (the global one is env: of the whole
	// file, which the module's overrides key by key, as it did).
	if e := n.Get("env"); e != nil {
		if err := t.shape(e, Map, set+"/env"); err != nil {
			return err
		}
		for i, k := range e.Keys {
			v, err := t.text(e.Vals[i], set+"/env/"+k)
			if err != nil {
				return err
			}
			if engineVar(k) {
				t.note(e.Vals[i], set+"/env/"+k, whyEngineVar)
				continue
			}
			m.env = append(m.env, kv{k, v})
		}
	}
	if l := n.Get("links"); l != nil {
		if err := t.shape(l, List, set+"/links"); err != nil {
			return err
		}
		for i, it := range l.Items {
			ls := fmt.Sprintf("%s/links/[%d]", set, i)
			if err := t.shape(it, Map, ls); err != nil {
				return err
			}
			var link config.Link
			if h := it.Get("href"); h != nil {
				s, err := t.text(h, ls+"/href")
				if err != nil {
					return err
				}
				link.Href = s
			}
			if lb := it.Get("label"); lb != nil {
				s, err := t.text(lb, ls+"/label")
				if err != nil {
					return err
				}
				link.Label = s
			}
			if err := checkURL(link.Href); err != nil {
				t.note(it, ls, err.Error())
				continue
			}
			m.links = append(m.links, link)
		}
	}
	// The build command: 1.2's options/control-file (a file, run from
	// the module's folder with the results file as $1), 1.0's
	// controlfile (a shell command).
	file := !m.oldStyle
	switch {
	case n.Get("options").Get("control-file") != nil:
		o := n.Get("options")
		if err := t.shape(o, Map, set+"/options"); err != nil {
			return err
		}
		s, err := t.text(o.Get("control-file"), set+"/options/control-file")
		if err != nil {
			return err
		}
		m.command = shellPath(s)
	case n.Get("controlfile") != nil:
		s, err := t.text(n.Get("controlfile"), set+"/controlfile")
		if err != nil {
			return err
		}
		m.command, file = s, false
	case t.defaultCmdSet:
		m.command = t.defaultCmd
	case m.oldStyle:
		m.command = "./rollingbuild.sh"
	default:
		m.command = config.DefaultCommand
	}
	// The engine gives the results file as $1 to a command that is one
	// path to a program; another needs "$@".
	args := ""
	if file && !programPath.MatchString(m.command) {
		args = ` "$@"`
	}
	if len(m.srcs) > 0 {
		// Several sources: the command runs in the folder holding them,
		// and Test-AutoBuild's ran in the one it checked out into the
		// module's folder.
		if file {
			args = ` "$@"`
		}
		if m.rootPath != "" {
			m.command = "cd " + m.rootPath + " && " + m.command
		}
		if m.command+args == "cd "+m.srcs[0].Path+" && "+config.DefaultCommand+` "$@"` {
			m.command, args = "", "" // autobuild's default for several sources
		}
	} else if m.command == config.DefaultCommand {
		m.command = ""
	}
	if m.command != "" {
		m.command += args
	}
	if o := n.Get("options"); o != nil && o.Kind == Map {
		o.used = true
	}
	for _, k := range []string{"useArchive", "cache"} {
		if u := n.Get(k); u != nil && u.Kind == Text && truth(u.Text) {
			u.used = true // the default: reuse when nothing changed
		}
	}
	return nil
}

// shellPath is the command that runs the file p, as Test-AutoBuild ran a
// control file: a relative path from the module's folder.
func shellPath(p string) string {
	if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "./") && !strings.HasPrefix(p, "../") {
		p = "./" + p
	}
	if shellSafe.MatchString(p) {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

var (
	shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./+,:=@%-]+$`)
	// programPath is engine/build's: a command run with its arguments.
	programPath = regexp.MustCompile(`^[A-Za-z0-9_.+-]*(/[A-Za-z0-9_.+-]+)+$`)
)

// checkURL is what autobuild takes as a link or a site address: an
// absolute http:// or https:// URL without a user, a query or a fragment.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return fmt.Errorf("it has no href")
	case err != nil:
		return fmt.Errorf("%q is not a URL: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("%q is not an http:// or https:// URL, the only links autobuild takes", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%q has a query, a fragment or a user, which autobuild's links may not have", s)
	}
	return nil
}

// checkNames leaves out a module whose name would share a name the
// engine derives from it (a variable, a log file) with an earlier one.
func (t *translation) checkNames() {
	seen := map[string]string{}
	for _, m := range t.mods {
		if m.skip != "" {
			continue
		}
		forms := []string{"the variable " + config.DepEnvVar(m.name), "the log file " + m.name + ".log", "the log file " + m.name + ".restored.log"}
		clash := ""
		for _, f := range forms {
			if other, ok := seen[f]; ok {
				clash = fmt.Sprintf("it would share %s with module %s: rename one", f, other)
				break
			}
		}
		if clash != "" {
			m.skip = clash
			continue
		}
		for _, f := range forms {
			seen[f] = m.name
		}
	}
}

// resolveDepends drops the dependencies autobuild would refuse, naming
// each.
func (t *translation) resolveDepends() {
	for _, m := range t.mods {
		if m.skip != "" {
			continue
		}
		var keep []string
		for i, d := range m.depends {
			set := fmt.Sprintf("modules/%s/depends/[%d]", m.name, i)
			dm := t.moduleNamed(d)
			ok := dm != nil
			switch {
			case !ok:
				t.note(m.depNode.Items[i], set, fmt.Sprintf("%s is not a module of this file", d))
			case dm.skip != "":
				t.note(m.depNode.Items[i], set, fmt.Sprintf("module %s is not carried over", d))
			case m.enabled && !dm.enabled:
				t.note(m.depNode.Items[i], set, fmt.Sprintf("module %s is disabled, and autobuild refuses an enabled module that depends on a disabled one (Test-AutoBuild could not build it either)", d))
			default:
				keep = append(keep, d)
			}
		}
		m.depends = keep
	}
}

// checkCycles refuses a dependency cycle, which neither tool can build.
func (t *translation) checkCycles() error {
	var nodes []graph.Node
	var mods []*module
	for _, m := range t.mods {
		if m.skip == "" {
			nodes = append(nodes, graph.Node{Name: m.name, Deps: m.depends})
			mods = append(mods, m)
		}
	}
	_, err := graph.New(nodes)
	var ce *graph.CycleError
	if errors.As(err, &ce) {
		for _, m := range mods {
			if m.name == ce.Path[0] {
				return t.errAt(m.depNode, "modules/"+m.name+"/depends", "%v: neither Test-AutoBuild nor autobuild can build it", err)
			}
		}
	}
	if err != nil {
		return &Error{File: t.file, Line: 1, Msg: err.Error()}
	}
	return nil
}

// unused names every setting of n that the translation did not use.
func (t *translation) unused(n *Node, at string) {
	sub := func(v *Node, p string) {
		switch {
		case !v.used && (v.Kind == Map && len(v.Keys) == 0 || v.Kind == List && len(v.Items) == 0):
			// empty: it sets nothing
		case !v.used:
			why, ok := t.whys[v]
			if !ok {
				why = reason(p)
			}
			t.note(v, p, why)
		case v.Kind != Text:
			t.unused(v, p)
		}
	}
	prefix := at
	if prefix != "" {
		prefix += "/"
	}
	switch n.Kind {
	case Map:
		for i, k := range n.Keys {
			if at == "modules" {
				if m := t.moduleNamed(k); m != nil && m.skip != "" {
					continue // named once, as a module
				}
			}
			sub(n.Vals[i], prefix+k)
		}
	case List:
		for i, it := range n.Items {
			sub(it, fmt.Sprintf("%s[%d]", prefix, i))
		}
	}
}

func (t *translation) moduleNamed(name string) *module {
	if t.byName == nil {
		t.byName = make(map[string]*module, len(t.mods))
		for _, m := range t.mods {
			t.byName[m.name] = m
		}
	}
	return t.byName[name]
}
