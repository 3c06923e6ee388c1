package stream_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/autobuild/autobuild/engine/executor/stream"
)

// FuzzUnpack unpacks any bytes into two destinations beside an outside
// folder, one destination holding a symlink to it: whatever Unpack
// returns, nothing outside the destinations changes, and they hold only
// folders, regular files (each a link of its own, no setuid) and
// symlinks. Seeds: the attacks of TestUnpackRefuses, their controls, and
// a stream Pack made.
func FuzzUnpack(f *testing.F) {
	for _, c := range unpackCases() {
		f.Add(c.hostile(f, "/nonexistent/outside"))
		f.Add(c.control(f, "/nonexistent/outside"))
	}
	src := f.TempDir()
	writeFile(f, filepath.Join(src, "d/f"), "f", 0o755)
	if err := os.Symlink("../outside", filepath.Join(src, "d/l")); err != nil {
		f.Fatal(err)
	}
	var packed bytes.Buffer
	if _, err := stream.Pack(&packed, []stream.Tree{{Name: "t0", Path: src}, {Name: "t1", Path: src}}, stream.PackOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Add(packed.Bytes())

	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		d0, d1, outside := filepath.Join(base, "d0"), filepath.Join(base, "d1"), filepath.Join(base, "outside")
		mkdir(t, d0)
		mkdir(t, d1)
		writeFile(t, filepath.Join(outside, "keep"), "original", 0o644)
		if err := os.Symlink(outside, filepath.Join(d0, "l")); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, base, d0, d1)
		stream.Unpack(bytes.NewReader(data), map[string]string{"t0": d0, "t1": d1},
			stream.UnpackOptions{UID: -1, GID: -1, MaxBytes: 1 << 16, MaxEntries: 64})
		sameSnapshot(t, before, snapshot(t, base, d0, d1))
		for _, d := range []string{d0, d1} {
			filepath.WalkDir(d, func(p string, _ fs.DirEntry, err error) error {
				if err != nil {
					os.Chmod(filepath.Dir(p), 0o755) // a folder unpacked without x
					return nil
				}
				fi, err := os.Lstat(p)
				if err != nil {
					return nil
				}
				switch m := fi.Mode(); {
				case m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0:
					t.Errorf("%s: mode %v", p, m)
				case m.IsRegular():
					if n := fi.Sys().(*syscall.Stat_t).Nlink; n != 1 {
						t.Errorf("%s: %d links", p, n)
					}
				case m.IsDir(), m&fs.ModeSymlink != 0:
				default:
					t.Errorf("%s: a %v", p, m.Type())
				}
				return nil
			})
		}
	})
}
