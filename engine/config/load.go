package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/autobuild/autobuild/engine/graph"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/scm"
)

// Error is a configuration problem: the file, the dotted key, the line
// (0 when the problem is not in the file's text: a file that cannot be
// read, a value from the environment) and what is wrong. Env names the
// environment variable the bad value came from, if any. Err, when set, is
// the underlying error (a *graph.CycleError, a file system error, …), for
// errors.As and errors.Is.
type Error struct {
	File string
	Key  string
	Line int
	Env  string
	Msg  string
	Err  error
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Env != "" {
		return fmt.Sprintf("%s (environment, overriding %s of %s): %s", e.Env, e.Key, e.File, e.Msg)
	}
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key == "" {
		return loc + ": " + e.Msg
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
}

// overrides are the keys the environment may set, each by one variable
// (AUTOBUILD_CONFIG, which names the file, is the command line's). No
// other variable changes the configuration.
var overrides = []struct{ key, env string }{
	{"build_root", "AUTOBUILD_BUILD_ROOT"},
	{"workers", "AUTOBUILD_WORKERS"},
	{"allow_weaker_confinement", "AUTOBUILD_ALLOW_WEAKER_CONFINEMENT"},
	{"scm_level", "AUTOBUILD_SCM_LEVEL"},
}

// formats are the file formats, by extension.
var formats = map[string]string{"": "yaml", "yaml": "yaml", "yml": "yaml", "toml": "toml", "json": "json"}

// Load reads, decodes and validates the configuration file at path. The
// documented environment variables (AUTOBUILD_BUILD_ROOT,
// AUTOBUILD_WORKERS, AUTOBUILD_ALLOW_WEAKER_CONFINEMENT,
// AUTOBUILD_SCM_LEVEL) override their keys; no other does.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	raw, err := os.ReadFile(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &Error{File: abs, Msg: "no such file (give one with --config or AUTOBUILD_CONFIG)", Err: err}
		}
		return nil, &Error{File: abs, Msg: err.Error(), Err: err}
	}
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(abs), "."))
	format, ok := formats[ext]
	if !ok {
		return nil, &Error{File: abs, Msg: fmt.Sprintf("cannot read a .%s file: name it .yaml, .toml or .json", ext)}
	}
	l := &loader{file: abs, format: format, lines: map[string]int{}, order: map[string][]string{}, env: map[string]string{}}
	root, err := parse(format, raw)
	if err != nil {
		var pe *parseError
		if errors.As(err, &pe) {
			return nil, &Error{File: abs, Line: pe.line, Msg: pe.msg}
		}
		return nil, &Error{File: abs, Line: 1, Msg: err.Error()}
	}
	if root == nil || root.kind == scalarNode && root.typ == tNull {
		root = &node{kind: mapNode, line: 1}
	}
	l.rootLine = max(root.line, 1)
	if root.kind != mapNode {
		return nil, &Error{File: abs, Line: l.rootLine, Msg: "the configuration must be a mapping of keys (build_root, modules, …), not " + root.describe()}
	}
	l.environment(root)
	c := Config{
		BuildRoot: "build",
		SCMLevel:  sandbox.SCMLevel,
		Publish:   Publish{Keep: 3},
		Archive:   Archive{Keep: 3},
		BuildUIDs: UIDRange{First: sandbox.BuildUIDBase, Count: sandbox.BuildUIDRange},
	}
	if err := l.decode(root, reflect.ValueOf(&c).Elem(), ""); err != nil {
		return nil, err
	}
	c.File = abs
	if err := l.validate(&c); err != nil {
		return nil, err
	}
	if err := l.templates(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// environment lays the documented variables over the file's keys, through
// viper: only the variables bound here are ever read.
func (l *loader) environment(root *node) {
	v := viper.New()
	for _, o := range overrides {
		_ = v.BindEnv(o.key, o.env)
	}
	for _, o := range overrides {
		if !v.IsSet(o.key) {
			continue
		}
		root.set(o.key, &node{kind: scalarNode, typ: tString, text: v.GetString(o.key), env: o.env})
		l.env[o.key] = o.env
	}
}

type loader struct {
	file, format string
	rootLine     int
	lines        map[string]int      // dotted key → line
	order        map[string][]string // mapping of names → its names in file order
	env          map[string]string   // key → the variable that set it
}

// note records the line of a key (0: not from the file).
func (l *loader) note(key string, line int) {
	if line > 0 {
		l.lines[key] = line
	}
}

// lineOf is the line of key, or of its nearest written ancestor (the top
// of the file for a missing top-level key).
func (l *loader) lineOf(key string) int {
	for key != "" {
		if n, ok := l.lines[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return l.rootLine
}

// err is a problem with key's value: at its line, or naming the variable
// that set it.
func (l *loader) err(key, format string, args ...any) *Error {
	e := &Error{File: l.file, Key: key, Msg: fmt.Sprintf(format, args...)}
	if v, ok := l.env[key]; ok {
		e.Env = v
	} else {
		e.Line = l.lineOf(key)
	}
	return e
}

// wrap keeps cause inside e, for errors.As and errors.Is.
func (l *loader) wrap(e *Error, cause error) *Error {
	e.Err = cause
	return e
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// validate checks values and cross-references, fills defaults and makes
// paths absolute. Nothing here touches the disk. It is linear in the size
// of the configuration.
func (l *loader) validate(c *Config) error {
	dir := filepath.Dir(l.file)
	abs := func(p string) string {
		if p == "" {
			return p
		}
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(dir, p)
	}
	if c.BuildRoot == "" {
		return l.err("build_root", "must not be empty")
	}
	c.BuildRoot = abs(c.BuildRoot)
	if err := ValidateWorkers(c.Workers); err != nil {
		return l.err("workers", "%v (0: one per CPU)", err)
	}
	if c.Publish.Dir == "" {
		c.Publish.Dir = filepath.Join(c.BuildRoot, "public_html")
	} else {
		c.Publish.Dir = abs(c.Publish.Dir)
		if err := l.checkPublishDir(c.Publish.Dir, c.BuildRoot); err != nil {
			return err
		}
	}
	if c.Publish.Keep < 1 {
		return l.err("publish.keep", "must be at least 1, not %d", c.Publish.Keep)
	}
	if err := publish.CheckFilesURL(c.Publish.FilesURL); err != nil {
		return l.err("publish.files_url", "%v", err)
	}
	if err := checkSiteURL(c.Publish.URL); err != nil {
		return l.err("publish.url", "%v", err)
	}
	if err := l.mirrors(c, abs); err != nil {
		return err
	}
	if err := l.repos(c, abs); err != nil {
		return err
	}
	if err := publish.CheckTitle(c.Publish.Title); err != nil {
		return l.err("publish.title", "%v", err)
	}
	if err := publish.CheckCommitURL(c.Publish.CommitURL); err != nil {
		return l.err("publish.commit_url", "%v", err)
	}
	if c.LogLimitMB < 0 || c.LogLimitMB > MaxLogLimitMB {
		return l.err("log_limit_mb", "must be from 1 to %d MiB (0: the default, 64), not %d", MaxLogLimitMB, c.LogLimitMB)
	}
	if c.StaleLockAfter < 0 {
		return l.err("stale_lock_after", "must not be negative")
	}
	if c.StaleLockAfter == 0 {
		c.StaleLockAfter = DefaultStaleLockAfter
	}
	if c.Timestamp != "" {
		at, err := ParseTimestamp(c.Timestamp, time.Now())
		if err != nil {
			return l.err("timestamp", "%v", err)
		}
		c.AsOf = at
	}
	if c.Archive.Keep < 1 {
		return l.err("archive.keep", "must be at least 1, not %d", c.Archive.Keep)
	}
	const maxUID = 1<<31 - 2 // (uid_t)-1 and -2 are special
	if c.BuildUIDs.First < 1000 || c.BuildUIDs.First > maxUID {
		return l.err("build_uids.first", "must be from 1000 (system accounts live below) to %d, not %d", maxUID, c.BuildUIDs.First)
	}
	if c.BuildUIDs.Count < 1 || c.BuildUIDs.Count > maxUID-c.BuildUIDs.First+1 {
		return l.err("build_uids.count", "must be at least 1 and end below 2147483647, not %d", c.BuildUIDs.Count)
	}
	builtin := sandbox.Builtin()
	for _, name := range l.order["levels"] {
		lv := c.Levels[name]
		key := "levels." + name
		if _, clash := builtin[name]; clash {
			return l.err(key, "%q is a built-in level; choose another name", name)
		}
		for b := range builtin {
			if strings.EqualFold(b, name) {
				return l.err(key, "%q differs from the built-in level %q only in case; choose another name", name, b)
			}
		}
		if !nameRE.MatchString(name) {
			return l.err(key, "invalid level name (letters, digits and . _ + -, not first)")
		}
		if lv.Base == "" {
			lv.Base = DefaultLevel
		}
		if _, ok := builtin[lv.Base]; !ok {
			return l.err(key+".base", "unknown built-in level %q (known: %s)", lv.Base, strings.Join(sandbox.BuiltinNames(), ", "))
		}
		switch sandbox.Network(lv.Network) {
		case "", sandbox.NetNone, sandbox.NetOutgoing:
		default:
			return l.err(key+".network", "must be %q or %q, not %q", sandbox.NetNone, sandbox.NetOutgoing, lv.Network)
		}
		for i, p := range lv.Read {
			lv.Read[i] = abs(p)
		}
		for i, p := range lv.Write {
			lv.Write[i] = abs(p)
		}
		lim := reflect.ValueOf(lv.Limits)
		for i := range lim.NumField() {
			tag := reflect.TypeOf(lv.Limits).Field(i).Tag.Get("config")
			v := lim.Field(i).Int()
			if v < 0 {
				return l.err(key+".limits."+tag, "must not be negative")
			}
			if strings.HasSuffix(tag, "_mb") && v > 1<<43-1 {
				return l.err(key+".limits."+tag, "%d MiB is more than any machine has", v)
			}
		}
		c.Levels[name] = lv
	}
	knownLevel := func(n string) bool {
		_, a := builtin[n]
		_, b := c.Levels[n]
		return a || b
	}
	unknownLevel := func(n string) string {
		for _, k := range l.order["levels"] {
			if strings.EqualFold(k, n) {
				return fmt.Sprintf(" (level names keep their case: did you mean %q?)", k)
			}
		}
		return ""
	}
	if !knownLevel(c.SCMLevel) {
		return l.err("scm_level", "unknown trust level %q%s", c.SCMLevel, unknownLevel(c.SCMLevel))
	}
	if err := l.executor(c, abs, knownLevel); err != nil {
		return err
	}
	if len(c.Modules) == 0 {
		return l.err("modules", "no modules: add at least one under modules:")
	}
	seen := make(map[string]int, len(c.Modules))
	forms := make(map[string]int, 3*len(c.Modules))
	nodes := make([]graph.Node, len(c.Modules))
	for i := range c.Modules {
		m := &c.Modules[i]
		key := fmt.Sprintf("modules[%d]", i)
		if msg := checkName(m.Name); msg != "" {
			return l.err(key+".name", "%s", msg)
		}
		if j, dup := seen[m.Name]; dup {
			return l.err(key+".name", "module %q is defined twice (first as modules[%d], line %d)", m.Name, j, l.lineOf(fmt.Sprintf("modules[%d].name", j)))
		}
		seen[m.Name] = i
		for _, f := range nameForms(m.Name) {
			if j, clash := forms[f.what+"\x00"+f.form]; clash {
				other := c.Modules[j].Name
				return l.err(key+".name", "%q and %q (modules[%d], line %d) would share %s %s: rename one",
					m.Name, other, j, l.lineOf(fmt.Sprintf("modules[%d].name", j)), f.what, f.form)
			}
			forms[f.what+"\x00"+f.form] = i
		}
		switch {
		case len(m.Sources) > 0 && m.Source != (Source{}):
			return l.err(key+".sources", "give either source: or sources:, not both")
		case len(m.Sources) > 0:
			if len(m.Sources) > MaxSources {
				return l.err(key+".sources", "%d sources: at most %d", len(m.Sources), MaxSources)
			}
			paths := map[string]int{}
			for j := range m.Sources {
				sk := fmt.Sprintf("%s.sources[%d]", key, j)
				if err := l.source(sk, &m.Sources[j], abs); err != nil {
					return err
				}
				p := m.Sources[j].Path
				if msg := checkSourcePath(p); msg != "" {
					return l.err(sk+".path", "%s", msg)
				}
				if k, dup := paths[p]; dup {
					return l.err(sk+".path", "%q is the path of sources[%d] too: each source needs a folder of its own", p, k)
				}
				paths[p] = j
			}
			if m.Command == "" {
				// Test-AutoBuild's convention, in the first source.
				m.Command = "cd " + m.Sources[0].Path + " && " + DefaultCommand + ` "$@"`
			}
		default:
			if m.Source.Path != "" {
				return l.err(key+".source.path", "only the sources: of a module with several have a path")
			}
			if err := l.source(key+".source", &m.Source, abs); err != nil {
				return err
			}
			m.Sources = []Source{m.Source}
		}
		if m.Command == "" {
			m.Command = DefaultCommand
		}
		for j, e := range m.Env {
			k, _, ok := strings.Cut(e, "=")
			if !ok || k == "" {
				return l.err(fmt.Sprintf("%s.env[%d]", key, j), "must be KEY=VALUE, not %q", e)
			}
			if strings.HasPrefix(k, "AUTOBUILD_") {
				return l.err(fmt.Sprintf("%s.env[%d]", key, j), "%s is set by the engine and cannot be overridden", k)
			}
		}
		if m.Timeout < 0 {
			return l.err(key+".timeout", "must not be negative")
		}
		if m.Timeout == 0 {
			m.Timeout = 2 * time.Hour
		}
		if m.LogLimitMB < 0 || m.LogLimitMB > MaxLogLimitMB {
			return l.err(key+".log_limit_mb", "must be from 1 to %d MiB (0: the global log_limit_mb), not %d", MaxLogLimitMB, m.LogLimitMB)
		}
		if m.Trust == "" {
			m.Trust = DefaultLevel
		}
		if !knownLevel(m.Trust) || m.Trust == sandbox.SCMLevel {
			return l.err(key+".trust", "unknown trust level %q%s (built-in: isolated, network, trusted, unconfined; or define it under levels:)", m.Trust, unknownLevel(m.Trust))
		}
		for j, ln := range m.Links {
			if err := checkSiteURL(ln.Href); err != nil || ln.Href == "" {
				return l.err(fmt.Sprintf("%s.links[%d].href", key, j), "must be an http:// or https:// URL, not %q", ln.Href)
			}
		}
		nodes[i] = graph.Node{Name: m.Name, Deps: m.Depends}
	}
	if len(c.Modules) > c.BuildUIDs.Count {
		return l.err("build_uids.count", "%d uids for %d modules: each module needs a uid of its own", c.BuildUIDs.Count, len(c.Modules))
	}
	if _, err := graph.New(nodes); err != nil {
		var ue *graph.UnknownDependencyError
		var ce *graph.CycleError
		switch {
		case errors.As(err, &ue):
			i := seen[ue.Module]
			j := indexOf(c.Modules[i].Depends, ue.Dependency)
			return l.wrap(l.err(fmt.Sprintf("modules[%d].depends[%d]", i, j), "%v", err), err)
		case errors.As(err, &ce):
			return l.wrap(l.err(fmt.Sprintf("modules[%d].depends", seen[ce.Path[0]]), "%v", err), err)
		default:
			return l.wrap(l.err("modules", "%v", err), err)
		}
	}
	if err := l.legacy(c); err != nil {
		return err
	}
	if err := l.alerts(c, abs); err != nil {
		return err
	}
	return l.dropDisabled(c)
}

// dropDisabled takes the modules set enabled: false out of c.Modules (into
// c.Disabled), refusing an enabled module that depends on one.
func (l *loader) dropDisabled(c *Config) error {
	off := map[string]bool{}
	for _, m := range c.Modules {
		if m.Enabled != nil && !*m.Enabled {
			off[m.Name] = true
		}
	}
	if len(off) == 0 {
		return nil
	}
	kept := c.Modules[:0:0]
	for i, m := range c.Modules {
		if off[m.Name] {
			c.Disabled = append(c.Disabled, m.Name)
			continue
		}
		for j, d := range m.Depends {
			if off[d] {
				return l.err(fmt.Sprintf("modules[%d].depends[%d]", i, j), "%s depends on %s, which is disabled (enabled: false): disable %s too, or drop the dependency", m.Name, d, m.Name)
			}
		}
		kept = append(kept, m)
	}
	if len(kept) == 0 {
		return l.err("modules", "every module is disabled (enabled: false)")
	}
	c.Modules = kept
	return nil
}

// checkPublishDir refuses a site folder that the build root holds (but
// for <build_root>/public_html, the default, which the engine manages)
// or that holds the build root: publishing swaps publish.dir for a
// symlink, which would replace the engine's own folders.
func (l *loader) checkPublishDir(pub, root string) error {
	switch {
	case pub == filepath.Join(root, "public_html"):
		return nil
	case pub == root:
		return l.err("publish.dir", "%s is the build root: the site is a symlink the engine swaps; leave publish.dir unset for %s, or choose a folder outside the build root", pub, filepath.Join(root, "public_html"))
	case within(pub, root):
		return l.err("publish.dir", "%s is inside the build root %s, whose folders the engine owns; leave publish.dir unset for %s, or choose a folder outside it", pub, root, filepath.Join(root, "public_html"))
	case within(root, pub):
		return l.err("publish.dir", "%s holds the build root %s: the site is a symlink the engine swaps; choose a folder outside the build root", pub, root)
	}
	return nil
}

// within says whether p is below dir (both clean and absolute).
func within(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+"/")
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return 0
}

// checkSiteURL refuses a site address that is not an absolute http:// or
// https:// URL.
func checkSiteURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("%q must be an absolute http:// or https:// URL, e.g. https://build.example.org/", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%q must not have a query, a fragment or a user", s)
	}
	return nil
}

// source checks and completes one source of a module: its kind (the
// default when none), its URL (a local path made absolute), at most one
// pin, and what its SCM says of it.
func (l *loader) source(key string, src *Source, abs func(string) string) error {
	if src.Kind == "" {
		src.Kind = DefaultSourceKind
	}
	backend, err := scm.Get(src.Kind)
	if err != nil {
		return l.wrap(l.err(key+".kind", "%v", err), err)
	}
	if src.URL == "" {
		return l.err(key+".url", "missing: a repository URL or a local path")
	}
	if !strings.Contains(src.URL, "://") && !strings.Contains(src.URL, "@") {
		src.URL = abs(src.URL)
	}
	pins := 0
	for _, s := range []string{src.Branch, src.Tag, src.Commit} {
		if s != "" {
			pins++
		}
	}
	if pins > 1 {
		return l.err(key, "give at most one of branch, tag and commit")
	}
	if err := backend.Validate(src.SCM()); err != nil {
		var fe *scm.FieldError
		if errors.As(err, &fe) {
			return l.wrap(l.err(key+"."+fe.Field, "%s", fe.Msg), err)
		}
		return l.wrap(l.err(key, "%v", err), err)
	}
	return nil
}

// checkSourcePath checks the folder one of a module's several sources is
// checked out into: one plain name, so that the sources' folders never
// nest and the engine can tell what else is in the module's top folder.
func checkSourcePath(p string) string {
	switch {
	case p == "":
		return "missing: the folder of the module's source folder this source is checked out into"
	case p == "." || p == "..":
		return fmt.Sprintf("%q is not a folder name", p)
	case len(p) > 64:
		return fmt.Sprintf("%q is longer than 64 bytes", p)
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Sprintf("%q: a path is one folder name of letters, digits, '.', '_' and '-'", p)
		}
	}
	return ""
}
