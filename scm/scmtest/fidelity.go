package scmtest

import (
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/autobuild/autobuild/scm"
)

// linkPrefix marks a symlink in a tree map (see tree): the text after it
// is the link's target.
const linkPrefix = "symlink -> "

// linked is links (path → target) as tree values.
func linked(links map[string]string) map[string]string {
	out := map[string]string{}
	for p, target := range links {
		out[p] = linkPrefix + target
	}
	return out
}

// oddNames are file names the SCM's own tool commits and checks out on
// Linux: control characters, a newline (in a file's name and a folder's),
// quotes, glob characters, a backslash, a leading dash, a trailing space,
// non-ASCII text and bytes that are not UTF-8.
var oddNames = map[string]string{
	"new\nline":              "a newline in the name\n",
	"folder\nwith newline/f": "in a folder whose name has a newline\n",
	"tab\there":              "tab\n",
	"cr\rname":               "carriage return\n",
	"\x01control":            "control character\n",
	"back\\slash":            "backslash\n",
	"-dash":                  "leading dash\n",
	"trailing ":              "trailing space\n",
	"sp ace/in folder":       "spaces\n",
	"quote\"s'":              "quotes\n",
	"*?[glob]":               "glob characters\n",
	"ünïcødé/名前":             "unicode\n",
	"latin1-\xe9":            "not UTF-8\n",
}

// fidelity checks that a checkout is the commit, exactly: symlinks are
// data, written as the text they hold and never followed; any name the
// SCM's tool commits is checked out.
func fidelity(t *testing.T, s scm.SCM, repos Repos) {
	// A symlink is data: its target text is written as committed, never
	// resolved against the work tree or the host, never followed. Later
	// revisions that put a folder or a file where a link was write into
	// the work tree, not through the link.
	t.Run("SymlinksAreData", func(t *testing.T) {
		if _, ok := repos.(Linkless); ok {
			t.Skip("the tool cannot commit symlinks")
		}
		victim := t.TempDir()
		write(t, victim, "keep", "keep\n")
		links := map[string]string{
			"root":       "/",
			"up":         "../../../..",
			"victim":     victim,
			"rel":        "src/main.txt",
			"dir-link":   "src",
			"dangling":   "no/such/file",
			"nested/abs": "/etc/passwd",
			"odd":        "a target with spaces\nand a newline",
		}
		if l, ok := repos.(LinkLimiter); ok {
			maps.DeleteFunc(links, func(_, target string) bool { return l.Mangles(target) })
		}
		src := repos.NewLinks(t, base, links)
		dir := newDirs(t)
		first := resolve(t, s, src)
		checkout(t, s, src, first, dir)
		assertTree(t, dir, merge(base, linked(links)))
		assertCurrent(t, s, dir, first)

		// Again: nothing changes.
		before := modTimes(t, dir)
		checkout(t, s, src, first, dir)
		assertTree(t, dir, merge(base, linked(links)))
		for name, mt := range modTimes(t, dir) {
			if !mt.Equal(before[name]) {
				t.Errorf("Checkout of the revision the folder holds rewrote %q", name)
			}
		}

		// Folders and files where the links were, and a link where a
		// file was.
		files2 := map[string]string{"victim/f": "through the link?\n", "dir-link/g": "a folder now\n", "root": "a file now\n"}
		links2 := map[string]string{"src/lib/lib.txt": "/"}
		second := repos.CommitLinks(t, src, files2, links2, []string{"victim", "dir-link", "root"})
		rev := resolve(t, s, src)
		if rev.ID != second {
			t.Fatalf("Resolve = %s, want %s", rev.ID, second)
		}
		checkout(t, s, src, rev, dir)
		want2 := merge(base, linked(links), files2, linked(links2))
		delete(want2, "victim")
		delete(want2, "dir-link")
		assertTree(t, dir, want2)
		assertCurrent(t, s, dir, rev)

		// And back.
		if _, ok := repos.(Historyless); !ok {
			checkout(t, s, src, first, dir)
			assertTree(t, dir, merge(base, linked(links)))
		}
		if got := tree(t, victim); len(got) != 1 || got["keep"] != "keep\n" {
			t.Errorf("the folder a committed link names was written through: %q", got)
		}
	})

	// A build replaces a committed link by a folder and a file by a link
	// to a folder outside: the checkout restores both, and writes
	// nothing through the build's link.
	t.Run("SymlinksRestoredAfterABuild", func(t *testing.T) {
		if _, ok := repos.(Linkless); ok {
			t.Skip("the tool cannot commit symlinks")
		}
		victim := t.TempDir()
		links := map[string]string{"root": "/", "lib": "src/lib"}
		src := repos.NewLinks(t, base, links)
		dir := newDirs(t)
		rev := resolve(t, s, src)
		checkout(t, s, src, rev, dir)
		for _, p := range []string{"root", "src"} {
			if err := os.RemoveAll(filepath.Join(dir.Work, p)); err != nil {
				t.Fatal(err)
			}
		}
		write(t, dir.Work, "root/planted", "x\n")
		if err := os.Symlink(victim, filepath.Join(dir.Work, "src")); err != nil {
			t.Fatal(err)
		}
		checkout(t, s, src, rev, dir)
		assertTree(t, dir, merge(base, linked(links)))
		if got := tree(t, victim); len(got) != 0 {
			t.Errorf("the checkout wrote through a build's symlink: %q", got)
		}
	})

	t.Run("OddNames", func(t *testing.T) {
		oddNames := maps.Clone(oddNames)
		if r, ok := repos.(NameRefuser); ok {
			maps.DeleteFunc(oddNames, func(name, _ string) bool { return r.Refuses(name) })
		}
		src := repos.New(t, merge(base, oddNames))
		dir := newDirs(t)
		rev := resolve(t, s, src)
		checkout(t, s, src, rev, dir)
		assertTree(t, dir, merge(base, oddNames))
		assertCurrent(t, s, dir, rev)

		before := modTimes(t, dir)
		checkout(t, s, src, rev, dir)
		for name, mt := range modTimes(t, dir) {
			if !mt.Equal(before[name]) {
				t.Errorf("Checkout of the revision the folder holds rewrote %q", name)
			}
		}

		changed := map[string]string{}
		for _, name := range []string{"new\nline", "folder\nwith newline/f", "sp ace/in folder", "ünïcødé/名前"} {
			if _, ok := oddNames[name]; ok && len(changed) < 2 {
				changed[name] = "changed " + name + "\n"
			}
		}
		id := repos.Commit(t, src, changed)
		rev2 := resolve(t, s, src)
		if rev2.ID != id {
			t.Fatalf("Resolve = %s, want %s", rev2.ID, id)
		}
		write(t, dir.Work, "untracked\nwith newline", "junk\n")
		checkout(t, s, src, rev2, dir)
		assertTree(t, dir, merge(base, oddNames, changed))
		assertCurrent(t, s, dir, rev2)
	})
}
