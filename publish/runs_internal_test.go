package publish

import (
	"os"
	"path/filepath"
	"strings"
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

// linkTree into a folder that holds entries already (the spare's):
// afterwards it holds links to exactly the source's files, whatever was
// there: a link to the same file stays (the same inode, not made again),
// a file of other content, a writable file, a symlink, a FIFO, a folder
// where the source has a file and a file where it has a folder are
// replaced, and what the source does not hold is removed; a folder of
// the wrong mode is made 0755 again. The control: each of them was in
// the folder before.
func TestLinkTreeReconcilesAFolderThatHoldsEntries(t *testing.T) {
	src := t.TempDir()
	for _, p := range []string{"a/b/c.bin", "a/d.bin", "e.bin", "f/g.bin", "h.bin"} {
		full := filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(t.TempDir(), "dst")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dst, "a", "b"), 0o755))
	must(os.Link(filepath.Join(src, "a", "d.bin"), filepath.Join(dst, "a", "d.bin"))) // the same file: stays
	must(os.WriteFile(filepath.Join(dst, "a", "b", "c.bin"), []byte("other"), 0o644)) // other content, writable
	must(os.Mkdir(filepath.Join(dst, "e.bin"), 0o755))                                // a folder for a file
	must(os.WriteFile(filepath.Join(dst, "e.bin", "x"), nil, 0o444))
	must(os.WriteFile(filepath.Join(dst, "f"), []byte("file"), 0o444)) // a file for a folder
	must(os.Symlink(filepath.Join(src, "h.bin"), filepath.Join(dst, "h.bin")))
	must(syscall.Mkfifo(filepath.Join(dst, "a", "fifo"), 0o444))
	must(os.MkdirAll(filepath.Join(dst, "gone", "deep"), 0o755))
	must(os.WriteFile(filepath.Join(dst, "gone", "deep", "x"), nil, 0o444))
	must(os.Chmod(filepath.Join(dst, "a"), 0o700))
	ino := func(p string) uint64 {
		st, err := os.Lstat(p)
		if err != nil {
			return 0
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	kept := ino(filepath.Join(dst, "a", "d.bin"))
	keptDir := ino(filepath.Join(dst, "a", "b"))
	if kept != ino(filepath.Join(src, "a", "d.bin")) {
		t.Fatal("control: a/d.bin is not linked before")
	}

	if err := linkTree(src, dst); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		info, _ := d.Info()
		switch {
		case d.IsDir():
			got = append(got, rel+"/")
			if info.Mode().Perm() != 0o755 {
				t.Errorf("folder %s is %v, want 0755", rel, info.Mode().Perm())
			}
		case !d.Type().IsRegular():
			t.Errorf("%s is %v", rel, d.Type())
		default:
			got = append(got, rel)
			if ino(p) != ino(filepath.Join(src, rel)) {
				t.Errorf("%s is not a link to the source's file", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "./ a/ a/b/ a/b/c.bin a/d.bin e.bin f/ f/g.bin h.bin"
	if strings.Join(got, " ") != want {
		t.Errorf("dst holds %q, want %q", strings.Join(got, " "), want)
	}
	if ino(filepath.Join(dst, "a", "d.bin")) != kept || ino(filepath.Join(dst, "a", "b")) != keptDir {
		t.Error("a link to the same file, or a folder, was made again")
	}
}
