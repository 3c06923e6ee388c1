package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// The folders of a union of layers, as an overlay merges them: the
// topmost layer that has a path decides what it is; a folder merges the
// folders beneath down to a layer that has something else there or marks
// it opaque.
func TestMergedDirs(t *testing.T) {
	base := t.TempDir()
	layer := func(name string, dirs []string, files ...string) string {
		root := filepath.Join(base, name)
		for _, d := range append(dirs, ".") {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	top := layer("top", []string{"include", "share/doc", "opaque/a"}, "bin")
	mid := layer("mid", []string{"bin/inner", "include/sub", "lib", "opaque/b"}, "share/doc/readme")
	low := layer("low", []string{"lib/pkgconfig", "share", "include/sub/deeper"}, "lib/x")
	if err := unix.Setxattr(filepath.Join(top, "opaque"), "user.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("this file system keeps no user extended attributes: %v", err)
	}
	var fds []int
	for _, l := range []string{top, mid, low} {
		fd, err := openDir(l)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		fds = append(fds, fd)
	}
	var got []string
	for _, d := range mergedDirs(fds) {
		got = append(got, d.rel)
	}
	want := []string{
		// bin is a file on top: mid's folder bin is hidden.
		"include", "include/sub", "include/sub/deeper",
		"lib", "lib/pkgconfig",
		"opaque", "opaque/a", // opaque on top: mid's opaque/b is hidden
		"share", "share/doc",
	}
	if !slices.Equal(got, want) {
		t.Errorf("mergedDirs = %q, want %q", got, want)
	}
}

// lowerdir's one option escapes its separator and its escape.
func TestLowerdirOption(t *testing.T) {
	if got, want := lowerdirOption([]string{"/a:b", `/c\d`, "/e"}), `/a\:b:/c\\d:/e`; got != want {
		t.Errorf("lowerdirOption = %q, want %q", got, want)
	}
}
