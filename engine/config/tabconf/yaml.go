package tabconf

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/autobuild/autobuild/engine/config"
)

// result writes the YAML: the top-level settings, then the modules in
// file order. A note goes beside the module it is about, or at the top.
func (t *translation) result() *Result {
	// A module left out is one note; what was noted inside it goes.
	var notes []Note
	for _, m := range t.mods {
		if m.skip != "" {
			// The whole module, at the line of what keeps it out.
			line := m.line
			if n := t.nodeAt(m.skipSetting); m.skipSetting != "" && n != nil {
				line = n.Line
			}
			notes = append(notes, Note{Line: line, Setting: "modules/" + m.name, Why: m.skip})
		}
	}
	for _, n := range t.notes {
		if m := t.moduleOf(n.Setting); m != nil && m.skip != "" {
			continue
		}
		notes = append(notes, n)
	}
	sort.SliceStable(notes, func(i, j int) bool { return notes[i].Line < notes[j].Line })

	res := &Result{Notes: notes}
	inModule := map[*module][]Note{}
	for _, n := range notes {
		if m := t.moduleOf(n.Setting); m != nil {
			inModule[m] = append(inModule[m], n)
		}
	}
	var b bytes.Buffer
	comment := func(indent string, n Note) {
		fmt.Fprintf(&b, "%s# %s:%s\n", indent, t.file, oneLine(n.String()))
	}
	fmt.Fprintf(&b, "# Imported from the Test-AutoBuild configuration %s by autobuild import.\n", oneLine(t.file))
	b.WriteString("# Each setting not carried over is named where it belongs, with the reason.\n")
	top := false
	for _, n := range notes {
		if t.moduleOf(n.Setting) == nil {
			if !top {
				b.WriteString("#\n")
				top = true
			}
			comment("", n)
		}
	}
	b.WriteString("\n")
	if t.buildRoot != "" {
		b.WriteString("# Test-AutoBuild's buildRoot: autobuild makes its own source-root/, install-root/,\n")
		b.WriteString("# package-root/, log-root/, build-archive/ and public_html here; give it a folder\n")
		b.WriteString("# of its own while Test-AutoBuild still runs in this one.\n")
		fmt.Fprintf(&b, "build_root: %s\n", yamlString(t.buildRoot))
	}
	if t.publishURL != "" || t.publishTitle != "" {
		b.WriteString("publish:\n")
		if t.publishURL != "" {
			fmt.Fprintf(&b, "  url: %s\n", yamlString(t.publishURL))
		}
		if t.publishTitle != "" {
			fmt.Fprintf(&b, "  title: %s\n", yamlString(t.publishTitle))
		}
	}
	if t.noArchive {
		b.WriteString("# Test-AutoBuild's cache was off: every module is built on every run.\n")
		b.WriteString("archive:\n  disabled: true\n")
	}
	if t.counter != "" {
		b.WriteString("# What AUTOBUILD_COUNTER holds, as in Test-AutoBuild.\n")
		fmt.Fprintf(&b, "counter: %s\n", yamlString(t.counter))
	}
	if t.epoch {
		b.WriteString("# AUTOBUILD_TIMESTAMP in seconds since the epoch, as in Test-AutoBuild 1.2.\n")
		fmt.Fprintf(&b, "timestamp_format: %s\n", yamlString(config.TimestampEpoch))
	}
	if len(t.globalEnv) > 0 {
		b.WriteString("env:\n")
		for _, e := range t.globalEnv {
			fmt.Fprintf(&b, "  - %s\n", yamlString(e.k+"="+e.v))
		}
	}
	if t.mail != nil {
		t.mail.write(&b)
	}
	b.WriteString("modules:\n")
	for _, m := range t.mods {
		if m.skip != "" {
			for _, n := range inModule[m] {
				comment("  ", n)
			}
			continue
		}
		res.Modules = append(res.Modules, m.name)
		fmt.Fprintf(&b, "  - name: %s\n", yamlString(m.name))
		if m.label != "" {
			fmt.Fprintf(&b, "    label: %s\n", yamlString(m.label))
		}
		if !m.enabled {
			res.Disabled = append(res.Disabled, m.name)
			if m.offWhy != "" {
				fmt.Fprintf(&b, "    # disabled: %s\n", oneLine(m.offWhy))
			}
			b.WriteString("    enabled: false\n")
		}
		source := func(indent string, src config.Source) {
			for _, f := range []struct{ k, v string }{{"kind", src.Kind}, {"url", src.URL}, {"branch", src.Branch}, {"tag", src.Tag}, {"commit", src.Commit}} {
				if f.v != "" {
					fmt.Fprintf(&b, "%s%s: %s\n", indent, f.k, yamlString(f.v))
				}
			}
		}
		if len(m.srcs) == 0 {
			b.WriteString("    source:\n")
			source("      ", m.src)
		} else {
			b.WriteString("    sources:\n")
			for _, src := range m.srcs {
				fmt.Fprintf(&b, "      - path: %s\n", yamlString(src.Path))
				source("        ", src)
			}
		}
		if m.command != "" {
			fmt.Fprintf(&b, "    command: %s\n", yamlString(m.command))
		}
		list := func(key string, items []string) {
			if len(items) == 0 {
				return
			}
			fmt.Fprintf(&b, "    %s:\n", key)
			for _, it := range items {
				fmt.Fprintf(&b, "      - %s\n", yamlString(it))
			}
		}
		list("depends", m.depends)
		var env []string
		for _, e := range m.env {
			env = append(env, e.k+"="+e.v)
		}
		list("env", env)
		list("groups", m.groups)
		list("admins", m.admins)
		if len(m.links) > 0 {
			b.WriteString("    links:\n")
			for _, l := range m.links {
				fmt.Fprintf(&b, "      - href: %s\n", yamlString(l.Href))
				if l.Label != "" {
					fmt.Fprintf(&b, "        label: %s\n", yamlString(l.Label))
				}
			}
		}
		for _, n := range inModule[m] {
			comment("    ", n)
		}
	}
	res.YAML = b.Bytes()
	return res
}

// moduleOf is the module a setting is inside, or nil.
func (t *translation) moduleOf(setting string) *module {
	rest, ok := strings.CutPrefix(setting, "modules/")
	if !ok {
		return nil
	}
	name, _, _ := strings.Cut(rest, "/")
	return t.moduleNamed(name)
}

// nodeAt is the node at a setting's path (names and [i] indexes).
func (t *translation) nodeAt(setting string) *Node {
	n := t.root
	for _, k := range strings.Split(setting, "/") {
		if n == nil {
			return nil
		}
		if strings.HasPrefix(k, "[") && strings.HasSuffix(k, "]") && n.Kind == List {
			i, err := strconv.Atoi(k[1 : len(k)-1])
			if err != nil || i < 0 || i >= len(n.Items) {
				return nil
			}
			n = n.Items[i]
			continue
		}
		n = n.Get(k)
	}
	return n
}

// oneLine keeps a comment on one line: control characters are written
// as Go escapes.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

var plain = regexp.MustCompile(`^[A-Za-z/][A-Za-z0-9_./+@~-]*$`)

// yamlString writes s as a YAML string: plain when nothing in it could be
// read otherwise, else double-quoted (Go's escapes are YAML's, for valid
// UTF-8).
func yamlString(s string) string {
	if plain.MatchString(s) {
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no", "on", "off", "y", "n", "null":
		default:
			return s
		}
	}
	return strconv.Quote(s)
}
