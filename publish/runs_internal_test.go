package publish

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// linkTree links a tree of the site's own files, folders as folders; a
// symlink, a writable file or a FIFO anywhere in it fails it, each
// beside the control (the same tree without it).
func TestLinkTree(t *testing.T) {
	mk := func(t *testing.T) string {
		src := t.TempDir()
		for _, p := range []string{"a/b/c.bin", "a/d.bin", "e.bin"} {
			full := filepath.Join(src, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(p), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		return src
	}
	ino := func(t *testing.T, p string) uint64 {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	t.Run("control", func(t *testing.T) {
		src := mk(t)
		dst := filepath.Join(t.TempDir(), "x", "y")
		if err := linkTree(src, dst); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"a/b/c.bin", "a/d.bin", "e.bin"} {
			if ino(t, filepath.Join(src, p)) != ino(t, filepath.Join(dst, p)) {
				t.Errorf("%s is not a link to the source's file", p)
			}
		}
		if st, err := os.Stat(filepath.Join(dst, "a", "b")); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("folder a/b: %v %v", st, err)
		}
	})
	for name, spoil := range map[string]func(src string) error{
		"symlink":  func(src string) error { return os.Symlink("/etc", filepath.Join(src, "a", "b", "etc")) },
		"writable": func(src string) error { return os.Chmod(filepath.Join(src, "a", "d.bin"), 0o644) },
		"fifo":     func(src string) error { return syscall.Mkfifo(filepath.Join(src, "a", "fifo"), 0o444) },
		"dirlink":  func(src string) error { return os.Symlink("/etc", filepath.Join(src, "etc")) },
	} {
		t.Run(name, func(t *testing.T) {
			src := mk(t)
			if err := spoil(src); err != nil {
				t.Fatal(err)
			}
			if err := linkTree(src, filepath.Join(t.TempDir(), "dst")); err == nil {
				t.Errorf("a tree with a %s was linked", name)
			}
		})
	}
	t.Run("root symlink", func(t *testing.T) {
		src := mk(t)
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(src, link); err != nil {
			t.Fatal(err)
		}
		if err := linkTree(link, filepath.Join(t.TempDir(), "dst")); err == nil {
			t.Error("a symlink to a tree was followed")
		}
	})
}
