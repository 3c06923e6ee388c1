package checkout

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/autobuild/autobuild/scm"
)

func TestRevisionsJoinAndSplit(t *testing.T) {
	one := Single(scm.Source{Kind: "git", URL: "/r"})
	two := []Source{{Source: scm.Source{Kind: "git", URL: "/a"}, Path: "a"}, {Source: scm.Source{Kind: "svn", URL: "/b"}, Path: "b.x"}}
	if got := JoinRevisions(one, []string{"abc"}); got != "abc" {
		t.Errorf("one source: %q, want its revision", got)
	}
	rev := JoinRevisions(two, []string{"abc", "^/trunk@4"})
	if rev != "a=abc b.x=^/trunk@4" {
		t.Errorf("two sources: %q", rev)
	}
	for _, c := range []struct {
		srcs []Source
		rev  string
		want []string
	}{
		{one, "abc", []string{"abc"}},
		{one, rev, []string{""}}, // another configuration's
		{two, rev, []string{"abc", "^/trunk@4"}},
		{two, "b.x=7", []string{"", "7"}},
		{two, "abc", []string{"", ""}},
		{two, "", []string{"", ""}},
	} {
		var got []string
		for i := range c.srcs {
			got = append(got, revisionOf(c.srcs, c.rev, i))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("revisionOf(%q) = %q, want %q", c.rev, got, c.want)
		}
	}
}

// What a build leaves at the top of a module of several sources goes;
// the sources' folders stay (their SCMs clean them).
func TestClearTop(t *testing.T) {
	work := t.TempDir()
	srcs := []Source{{Path: "a"}, {Path: "b"}}
	outside := filepath.Join(t.TempDir(), "keep")
	os.WriteFile(outside, []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(work, "a", "deep"), 0o755)
	os.WriteFile(filepath.Join(work, "a", "deep", "f"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(work, "b"), []byte("a file where b's folder goes"), 0o644)
	os.WriteFile(filepath.Join(work, "junk"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(work, "out", "obj"), 0o755)
	os.Symlink(filepath.Dir(outside), filepath.Join(work, "link"))
	if err := clearTop(work, srcs); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(work)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"a"}) {
		t.Errorf("left %q, want only a", names)
	}
	if _, err := os.Stat(filepath.Join(work, "a", "deep", "f")); err != nil {
		t.Errorf("a source's folder was touched: %v", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("a symlink was followed: %v", err)
	}
	// A single source's folder is its SCM's to clean.
	os.WriteFile(filepath.Join(work, "junk"), []byte("x"), 0o644)
	if err := clearTop(work, Single(scm.Source{})); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(work, "junk")); err != nil {
		t.Errorf("clearTop of a single source removed %v", err)
	}
}
