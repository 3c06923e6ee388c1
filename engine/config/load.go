package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/autobuild/autobuild/engine/graph"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/scm"
)

// Error is a configuration problem: the file, the dotted key, the line
// (0 when unknown) and what is wrong. Err, when set, is the underlying
// error (a *graph.CycleError, a file system error, …), for errors.As and
// errors.Is.
type Error struct {
	File string
	Key  string
	Line int
	Msg  string
	Err  error
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key == "" {
		return loc + ": " + e.Msg
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
}

// EnvPrefix prefixes environment overrides: AUTOBUILD_BUILD_ROOT,
// AUTOBUILD_WORKERS, AUTOBUILD_ALLOW_WEAKER_CONFINEMENT, …
const EnvPrefix = "AUTOBUILD"

// schema lists the keys allowed at each level, for unknown-key errors
// that point at the line. "*" stands for a map of names (levels) and
// "[]" for a list item.
var schema = map[string][]string{
	"":                 {"build_root", "workers", "allow_weaker_confinement", "scm_level", "levels", "modules", "publish", "archive", "build_uids"},
	"build_uids":       {"first", "count"},
	"modules[]":        {"name", "source", "depends", "command", "env", "groups", "timeout", "trust"},
	"modules[].source": {"kind", "url", "branch", "tag", "commit"},
	"levels.*":         {"base", "description", "network", "selinux_type", "read", "write", "limits"},
	"levels.*.limits":  {"processes", "file_size_mb", "memory_mb", "cpu_seconds", "open_files"},
	"publish":          {"dir", "keep"},
	"archive":          {"disabled", "keep"},
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// Load reads, decodes and validates the configuration file at path.
// Environment variables with the AUTOBUILD_ prefix override top-level
// scalar keys.
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
	l := &loader{file: abs}
	ext := strings.TrimPrefix(filepath.Ext(abs), ".")
	if ext == "" || ext == "yml" || ext == "yaml" {
		ext = "yaml"
		if err := yaml.Unmarshal(raw, &l.root); err != nil {
			return nil, l.yamlError(err)
		}
		if err := l.checkKeys(); err != nil {
			return nil, err
		}
	}

	v := viper.New()
	v.SetConfigType(ext)
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for _, k := range []string{"build_root", "workers", "allow_weaker_confinement", "scm_level"} {
		_ = v.BindEnv(k)
	}
	v.SetDefault("build_root", "build")
	v.SetDefault("scm_level", sandbox.SCMLevel)
	v.SetDefault("publish.keep", 3)
	v.SetDefault("archive.keep", 3)
	v.SetDefault("build_uids.first", sandbox.BuildUIDBase)
	v.SetDefault("build_uids.count", sandbox.BuildUIDRange)
	if err := v.ReadConfig(strings.NewReader(string(raw))); err != nil {
		return nil, &Error{File: abs, Msg: "cannot parse: " + err.Error()}
	}
	var c Config
	err = v.Unmarshal(&c, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.WeaklyTypedInput = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
		)
	})
	if err != nil {
		return nil, l.decodeError(err)
	}
	c.File = abs
	if err := l.validate(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

type loader struct {
	file string
	root yaml.Node
}

func (l *loader) err(key, format string, args ...any) *Error {
	return &Error{File: l.file, Key: key, Line: l.line(key), Msg: fmt.Sprintf(format, args...)}
}

// wrap keeps cause inside e, for errors.As and errors.Is.
func (l *loader) wrap(e *Error, cause error) *Error {
	e.Err = cause
	return e
}

func (l *loader) yamlError(err error) *Error {
	msg := err.Error()
	line := 0
	// yaml.v3 says "yaml: line N: …".
	if _, after, ok := strings.Cut(msg, "line "); ok {
		n, rest, _ := strings.Cut(after, ":")
		if v, err := strconv.Atoi(n); err == nil {
			line = v
			msg = strings.TrimSpace(rest)
		}
	}
	return &Error{File: l.file, Line: line, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// decodeError turns a mapstructure error into an *Error naming the key.
func (l *loader) decodeError(err error) *Error {
	msg := err.Error()
	// mapstructure: "decoding failed due to the following error(s):\n\n'modules[0].timeout' time: invalid duration …"
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "'") {
			continue
		}
		key, rest, ok := strings.Cut(line[1:], "'")
		if !ok {
			continue
		}
		return l.err(key, "%s", strings.TrimSpace(rest))
	}
	return &Error{File: l.file, Msg: msg}
}

// line finds the line of a dotted key like "modules[2].depends" in the
// YAML tree; 0 when unknown.
func (l *loader) line(key string) int {
	if len(l.root.Content) == 0 {
		return 0
	}
	n := l.root.Content[0]
	best := n.Line
	for _, part := range splitKey(key) {
		next := (*yaml.Node)(nil)
		if idx, err := strconv.Atoi(part); err == nil && n.Kind == yaml.SequenceNode {
			if idx < len(n.Content) {
				next = n.Content[idx]
				best = next.Line
			}
		} else if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if strings.EqualFold(n.Content[i].Value, part) {
					best = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			return best
		}
		n = next
		if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode {
			best = n.Line
		}
	}
	return best
}

// splitKey splits "modules[2].source.url" into modules, 2, source, url.
func splitKey(key string) []string {
	key = strings.ReplaceAll(key, "[", ".")
	key = strings.ReplaceAll(key, "]", "")
	var out []string
	for _, p := range strings.Split(key, ".") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkKeys reports the first key the schema does not know, with its line.
func (l *loader) checkKeys() error {
	if len(l.root.Content) == 0 {
		return nil
	}
	top := l.root.Content[0]
	if top.Kind != yaml.MappingNode {
		return &Error{File: l.file, Line: top.Line, Msg: "the configuration must be a mapping of keys (build_root, modules, …)"}
	}
	return l.walk(top, "", "")
}

func (l *loader) walk(n *yaml.Node, schemaPath, keyPath string) error {
	allowed, ok := schema[schemaPath]
	if !ok {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return &Error{File: l.file, Key: keyPath, Line: n.Line, Msg: "must be a mapping"}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := join(keyPath, k.Value)
		if !contains(allowed, k.Value) {
			return &Error{File: l.file, Key: key, Line: k.Line, Msg: fmt.Sprintf("unknown key (known here: %s)", strings.Join(allowed, ", "))}
		}
		sub := join(schemaPath, k.Value)
		switch {
		case schema[sub+"[]"] != nil:
			if val.Kind != yaml.SequenceNode {
				return &Error{File: l.file, Key: key, Line: val.Line, Msg: "must be a list"}
			}
			for j, item := range val.Content {
				if err := l.walk(item, sub+"[]", fmt.Sprintf("%s[%d]", key, j)); err != nil {
					return err
				}
			}
		case schema[sub+".*"] != nil:
			if val.Kind != yaml.MappingNode {
				return &Error{File: l.file, Key: key, Line: val.Line, Msg: "must be a mapping of names"}
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				if err := l.walk(val.Content[j+1], sub+".*", key+"."+val.Content[j].Value); err != nil {
					return err
				}
			}
		default:
			if err := l.walk(val, sub, key); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validate checks values and cross-references, fills defaults and makes
// paths absolute. Nothing here touches the disk.
func (l *loader) validate(c *Config) error {
	dir := filepath.Dir(l.file)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if c.BuildRoot == "" {
		return l.err("build_root", "must not be empty")
	}
	c.BuildRoot = abs(c.BuildRoot)
	if c.Workers < 0 {
		return l.err("workers", "must be 0 (one per CPU) or more, not %d", c.Workers)
	}
	if c.Publish.Dir == "" {
		c.Publish.Dir = filepath.Join(c.BuildRoot, "public_html")
	}
	c.Publish.Dir = abs(c.Publish.Dir)
	if c.Publish.Keep < 1 {
		return l.err("publish.keep", "must be at least 1, not %d", c.Publish.Keep)
	}
	if c.Archive.Keep < 1 {
		return l.err("archive.keep", "must be at least 1, not %d", c.Archive.Keep)
	}
	if c.BuildUIDs.First < 1000 {
		return l.err("build_uids.first", "must be 1000 or more (system accounts live below), not %d", c.BuildUIDs.First)
	}
	if c.BuildUIDs.Count < 1 || c.BuildUIDs.First+c.BuildUIDs.Count-1 > 1<<31-2 {
		return l.err("build_uids.count", "must be at least 1 and end below 2147483647, not %d", c.BuildUIDs.Count)
	}
	builtin := sandbox.Builtin()
	for name, lv := range c.Levels {
		key := "levels." + name
		if _, clash := builtin[name]; clash {
			return l.err(key, "%q is a built-in level; choose another name", name)
		}
		if !nameRE.MatchString(name) {
			return l.err(key, "invalid level name")
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
			if lim.Field(i).Int() < 0 {
				tag := reflect.TypeOf(lv.Limits).Field(i).Tag.Get("mapstructure")
				return l.err(key+".limits."+tag, "must not be negative")
			}
		}
		c.Levels[name] = lv
	}
	knownLevel := func(n string) bool {
		_, a := builtin[n]
		_, b := c.Levels[n]
		return a || b
	}
	if !knownLevel(c.SCMLevel) {
		return l.err("scm_level", "unknown trust level %q", c.SCMLevel)
	}
	if len(c.Modules) == 0 {
		return l.err("modules", "no modules: add at least one under modules:")
	}
	seen := map[string]int{}
	nodes := make([]graph.Node, len(c.Modules))
	for i := range c.Modules {
		m := &c.Modules[i]
		key := fmt.Sprintf("modules[%d]", i)
		if m.Name == "" {
			return l.err(key+".name", "missing: every module needs a name")
		}
		if !nameRE.MatchString(m.Name) {
			return l.err(key+".name", "%q is not a valid module name (letters, digits and . _ + -, not first)", m.Name)
		}
		if j, dup := seen[m.Name]; dup {
			return l.err(key+".name", "module %q is defined twice (first as modules[%d])", m.Name, j)
		}
		seen[m.Name] = i
		if m.Source.Kind == "" {
			m.Source.Kind = DefaultSourceKind
		}
		backend, err := scm.Get(m.Source.Kind)
		if err != nil {
			return l.wrap(l.err(key+".source.kind", "%v", err), err)
		}
		if m.Source.URL == "" {
			return l.err(key+".source.url", "missing: a repository URL or a local path")
		}
		if !strings.Contains(m.Source.URL, "://") && !strings.Contains(m.Source.URL, "@") {
			m.Source.URL = abs(m.Source.URL)
		}
		pins := 0
		for _, s := range []string{m.Source.Branch, m.Source.Tag, m.Source.Commit} {
			if s != "" {
				pins++
			}
		}
		if pins > 1 {
			return l.err(key+".source", "give at most one of branch, tag and commit")
		}
		if err := backend.Validate(m.Source.SCM()); err != nil {
			var fe *scm.FieldError
			if errors.As(err, &fe) {
				return l.wrap(l.err(key+".source."+fe.Field, "%s", fe.Msg), err)
			}
			return l.wrap(l.err(key+".source", "%v", err), err)
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
		if m.Trust == "" {
			m.Trust = DefaultLevel
		}
		if !knownLevel(m.Trust) || m.Trust == sandbox.SCMLevel {
			return l.err(key+".trust", "unknown trust level %q (built-in: isolated, network, trusted, unconfined; or define it under levels:)", m.Trust)
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
			return &Error{File: l.file, Key: "modules", Msg: err.Error(), Err: err}
		}
	}
	return nil
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return 0
}
