package dir

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func write(t *testing.T, dir, name, body string, perm os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
}

// A build's damage the conformance suites do not make: folders and files
// it made unreadable, a FIFO, a file whose executable bit it flipped, a
// symlink to a folder outside where the source has a folder. The mirror
// restores the tree, writes nothing outside, and leaves out the names
// skip gives.
func TestMirrorRestoresWhatABuildDid(t *testing.T) {
	src, work, outside := t.TempDir(), t.TempDir(), t.TempDir()
	write(t, src, "run.sh", "#!/bin/sh\n", 0o755)
	write(t, src, "lib/a.txt", "a\n", 0o644)
	write(t, src, "keep/b.txt", "b\n", 0o644)
	write(t, src, ".meta/x", "metadata\n", 0o644)
	if err := mirrorTree(src, work, func(name string) bool { return name == ".meta" }); err != nil {
		t.Fatal(err)
	}

	if err := os.Chmod(filepath.Join(work, "run.sh"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, work, "locked/deep/f", "x\n", 0o000)
	if err := os.Chmod(filepath.Join(work, "locked", "deep"), 0o000); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(work, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(work, "lib")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(work, "lib")); err != nil {
		t.Fatal(err)
	}
	kept, err := os.Stat(filepath.Join(work, "keep", "b.txt"))
	if err != nil {
		t.Fatal(err)
	}

	if err := mirrorTree(src, work, func(name string) bool { return name == ".meta" }); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(work, p)
		info, _ := d.Info()
		got = append(got, rel+" "+info.Mode().String())
		return nil
	})
	want := ". drwxr-xr-x|keep drwxr-xr-x|keep/b.txt -rw-r--r--|lib drwxr-xr-x|lib/a.txt -rw-r--r--|run.sh -rwxr-xr-x"
	if strings.Join(got, "|") != want {
		t.Errorf("work tree:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("the mirror wrote through a build's symlink: %v", ents)
	}
	if now, err := os.Stat(filepath.Join(work, "keep", "b.txt")); err != nil || !now.ModTime().Equal(kept.ModTime()) || !os.SameFile(now, kept) {
		t.Errorf("an unchanged file was rewritten")
	}
}

// A special file in the exported tree is refused, not copied.
func TestMirrorRefusesSpecialFiles(t *testing.T) {
	src, work := t.TempDir(), t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mirrorTree(src, work, nil); err == nil || !strings.Contains(err.Error(), "neither a file") {
		t.Fatalf("Tree = %v", err)
	}
}

// mirrorTree is Mirror without its hash.
func mirrorTree(src, work string, skip func(string) bool) error {
	_, err := Mirror(src, work, skip)
	return err
}
