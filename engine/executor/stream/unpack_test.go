package stream_test

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/executor/stream"
)

// unpackCase is an attack on Unpack and its control: a stream of the same
// shape, benign, that must unpack.
type unpackCase struct {
	name string
	// hostile and control build the streams; outside is the test's
	// folder beside the destinations.
	hostile, control func(t testing.TB, outside string) []byte
	want             string // in the error, with the entry's name
	entry            string
	// prepare fills the destination d0 before both runs.
	prepare func(t *testing.T, d0, outside string)
	// check runs after the hostile stream was refused.
	check func(t *testing.T, d0, outside string)
}

func entries(ents ...ent) func(testing.TB, string) []byte {
	return func(t testing.TB, _ string) []byte { return tarOf(t, ents...) }
}

var unpackOpts = stream.UnpackOptions{UID: -1, GID: -1, MaxBytes: 1000, MaxEntries: 20}

func unpackCases() []unpackCase {
	many := func(n int) func(testing.TB, string) []byte {
		ents := []ent{dir("t0/")}
		for i := 1; i < n; i++ {
			ents = append(ents, file("t0/f"+strings.Repeat("x", i), "x"))
		}
		return entries(ents...)
	}
	return []unpackCase{{
		name:    "dot dot first",
		hostile: entries(file("../x", "pwned")),
		control: entries(file("t0/x", "fine")),
		want:    `".." in the name`, entry: "../x",
	}, {
		name: "absolute name",
		hostile: func(t testing.TB, outside string) []byte {
			return tarOf(t, file(filepath.Join(outside, "abs"), "pwned"))
		},
		control: entries(file("t0/abs", "fine")),
		want:    "absolute name", entry: "/",
	}, {
		name:    "absolute /etc",
		hostile: entries(file("/etc/x", "pwned")),
		control: entries(file("t0/etc", "fine")),
		want:    "absolute name", entry: "/etc/x",
	}, {
		name:    "dot dot inside",
		hostile: entries(dir("t0/"), file("t0/../../x", "pwned")),
		control: entries(dir("t0/"), file("t0/x", "fine")),
		want:    `".." in the name`, entry: "t0/../../x",
	}, {
		name: "write through a symlink to outside",
		hostile: func(t testing.TB, outside string) []byte {
			return tarOf(t, dir("t0/"), symlink("t0/a", outside), file("t0/a/file", "pwned"))
		},
		control: entries(dir("t0/"), dir("t0/a/"), file("t0/a/file", "fine")),
		want:    "was not sent as a folder", entry: "t0/a/file",
	}, {
		name:    "write through a symlink to ..",
		hostile: entries(dir("t0/"), symlink("t0/up", ".."), file("t0/up/x", "pwned")),
		control: entries(dir("t0/"), dir("t0/up/"), file("t0/up/x", "fine")),
		want:    "was not sent as a folder", entry: "t0/up/x",
	}, {
		name: "a folder through a symlink to outside",
		hostile: entries(dir("t0/"), symlink("t0/up", "../outside"), dir("t0/up/d/"),
			symlink("t0/up/d/l", "x")),
		control: entries(dir("t0/"), dir("t0/up/"), dir("t0/up/d/"), symlink("t0/up/d/l", "x")),
		want:    "was not sent as a folder", entry: "t0/up/d",
	}, {
		name:    "hard link to /etc/passwd",
		hostile: entries(dir("t0/"), ent{name: "t0/h", typ: tar.TypeLink, link: "/etc/passwd"}),
		control: entries(dir("t0/"), file("t0/h", "fine")),
		want:    "hard link", entry: "t0/h",
	}, {
		name: "hard link to a file outside",
		hostile: func(t testing.TB, outside string) []byte {
			return tarOf(t, dir("t0/"), ent{name: "t0/h", typ: tar.TypeLink, link: filepath.Join(outside, "keep")})
		},
		control: entries(dir("t0/"), file("t0/h", "fine")),
		want:    "hard link", entry: "t0/h",
	}, {
		name:    "FIFO",
		hostile: entries(dir("t0/"), ent{name: "t0/p", typ: tar.TypeFifo, mode: 0o644}),
		control: entries(dir("t0/"), file("t0/p", "fine")),
		want:    "FIFO", entry: "t0/p",
		check: func(t *testing.T, d0, _ string) {
			if _, err := os.Lstat(filepath.Join(d0, "p")); err == nil {
				t.Error("the FIFO was made")
			}
		},
	}, {
		name:    "character device",
		hostile: entries(dir("t0/"), ent{name: "t0/null", typ: tar.TypeChar, mode: 0o666, devmajor: 1, devminor: 3}),
		control: entries(dir("t0/"), file("t0/null", "fine")),
		want:    "device", entry: "t0/null",
		check: func(t *testing.T, d0, _ string) {
			if _, err := os.Lstat(filepath.Join(d0, "null")); err == nil {
				t.Error("the device was made")
			}
		},
	}, {
		name:    "block device",
		hostile: entries(dir("t0/"), ent{name: "t0/sda", typ: tar.TypeBlock, mode: 0o666, devmajor: 8}),
		control: entries(dir("t0/"), file("t0/sda", "fine")),
		want:    "device", entry: "t0/sda",
	}, {
		name:    "global header",
		hostile: entries(dir("t0/"), ent{typ: tar.TypeXGlobalHeader}),
		control: entries(dir("t0/")),
		want:    "entry type 'g'", entry: "",
	}, {
		name:    "contiguous file",
		hostile: entries(dir("t0/"), ent{name: "t0/c", typ: tar.TypeCont, body: "x"}),
		control: entries(dir("t0/"), file("t0/c", "x")),
		want:    "entry type '7'", entry: "t0/c",
	}, {
		name:    "unknown top",
		hostile: entries(dir("t9/"), file("t9/x", "pwned")),
		control: entries(dir("t1/"), file("t1/x", "fine")),
		want:    `unknown top name "t9"`, entry: "t9/",
	}, {
		name:    "top as a file",
		hostile: entries(file("t0", "pwned")),
		control: entries(dir("t0")),
		want:    "must be a folder", entry: "t0",
	}, {
		name:    "duplicate file",
		hostile: entries(dir("t0/"), file("t0/x", "one"), file("t0/x", "two")),
		control: entries(dir("t0/"), file("t0/x", "one"), file("t0/y", "two")),
		want:    "sent twice", entry: "t0/x",
	}, {
		name: "duplicate as a symlink to outside",
		hostile: func(t testing.TB, outside string) []byte {
			return tarOf(t, dir("t0/"), dir("t0/d/"), symlink("t0/d", outside))
		},
		control: entries(dir("t0/"), dir("t0/d/"), symlink("t0/e", "d")),
		want:    "sent twice", entry: "t0/d",
	}, {
		name:    "duplicate top",
		hostile: entries(dir("t0/"), dir("t0")),
		control: entries(dir("t0/"), dir("t1")),
		want:    "sent twice", entry: "t0",
	}, {
		name:    "more than MaxBytes in a file",
		hostile: entries(dir("t0/"), file("t0/big", strings.Repeat("x", 1001))),
		control: entries(dir("t0/"), file("t0/big", strings.Repeat("x", 1000))),
		want:    "more than 1000 bytes", entry: "t0/big",
		check: func(t *testing.T, d0, _ string) {
			if _, err := os.Lstat(filepath.Join(d0, "big")); err == nil {
				t.Error("the file over the limit was made")
			}
		},
	}, {
		name:    "more than MaxBytes in two files",
		hostile: entries(dir("t0/"), file("t0/a", strings.Repeat("x", 600)), file("t0/b", strings.Repeat("x", 401))),
		control: entries(dir("t0/"), file("t0/a", strings.Repeat("x", 600)), file("t0/b", strings.Repeat("x", 400))),
		want:    "more than 1000 bytes", entry: "t0/b",
	}, {
		name:    "more than MaxEntries",
		hostile: many(21),
		control: many(20),
		want:    "more than 20 entries", entry: "t0/f" + strings.Repeat("x", 20),
	}, {
		name:    "name longer than 4096 bytes",
		hostile: entries(dir("t0/"), file("t0/"+strings.Repeat("n", 4094), "x")),
		control: entries(dir("t0/"), file("t0/"+strings.Repeat("n", 255), "x")),
		want:    "longer than 4096", entry: "t0/nnn",
	}, {
		name:    "not a clean name",
		hostile: entries(dir("t0/"), file("t0//x", "x")),
		control: entries(dir("t0/"), file("t0/x", "x")),
		want:    "not a clean name", entry: "t0//x",
	}, {
		name:    "dot element",
		hostile: entries(dir("t0/"), file("t0/./x", "x")),
		control: entries(dir("t0/"), file("t0/x", "x")),
		want:    "not a clean name", entry: "t0/./x",
	}, {
		name:    "parent not sent",
		hostile: entries(dir("t0/"), file("t0/a/b", "x")),
		control: entries(dir("t0/"), dir("t0/a/"), file("t0/a/b", "x")),
		want:    "was not sent as a folder", entry: "t0/a/b",
	}, {
		name:    "file over an existing folder",
		prepare: func(t *testing.T, d0, _ string) { writeFile(t, filepath.Join(d0, "keep/inner"), "kept", 0o644) },
		hostile: entries(dir("t0/"), file("t0/keep", "pwned")),
		control: entries(dir("t0/"), file("t0/other", "fine")),
		want:    "would replace a folder with a file", entry: "t0/keep",
		check: func(t *testing.T, d0, _ string) {
			if b, err := os.ReadFile(filepath.Join(d0, "keep/inner")); string(b) != "kept" {
				t.Errorf("the folder's file: %q, %v", b, err)
			}
		},
	}, {
		name:    "symlink over an existing folder",
		prepare: func(t *testing.T, d0, _ string) { writeFile(t, filepath.Join(d0, "keep/inner"), "kept", 0o644) },
		hostile: entries(dir("t0/"), symlink("t0/keep", "/")),
		control: entries(dir("t0/"), symlink("t0/other", "/")),
		want:    "would replace a folder with a symlink", entry: "t0/keep",
	}, {
		name: "folder over the destination's symlink to outside",
		prepare: func(t *testing.T, d0, outside string) {
			if err := os.Symlink(outside, filepath.Join(d0, "l")); err != nil {
				t.Fatal(err)
			}
		},
		hostile: entries(dir("t0/"), dir("t0/l/"), file("t0/l/x", "pwned")),
		control: entries(dir("t0/"), dir("t0/m/"), file("t0/m/x", "fine")),
		want:    "would replace a symlink with a folder", entry: "t0/l/",
	}, {
		name: "into the destination's symlink to outside",
		prepare: func(t *testing.T, d0, outside string) {
			if err := os.Symlink(outside, filepath.Join(d0, "l")); err != nil {
				t.Fatal(err)
			}
		},
		hostile: entries(dir("t0/"), file("t0/l/x", "pwned")),
		control: entries(dir("t0/"), file("t0/x", "fine")),
		want:    "was not sent as a folder", entry: "t0/l/x",
	}, {
		name:    "data after the end",
		hostile: func(t testing.TB, _ string) []byte { return append(tarOf(t, dir("t0/")), "trailing junk"...) },
		control: func(t testing.TB, _ string) []byte { return append(tarOf(t, dir("t0/")), make([]byte, 10240)...) },
		want:    "data after the end",
	}, {
		name: "truncated",
		hostile: func(t testing.TB, _ string) []byte {
			b := tarOf(t, dir("t0/"), file("t0/x", strings.Repeat("x", 900)))
			return b[:len(b)-1024-512+100] // inside the file's data
		},
		control: entries(dir("t0/"), file("t0/x", strings.Repeat("x", 900))),
		want:    "unexpected EOF", entry: "t0/x",
	}}
}

// TestUnpackRefuses runs each attack on fresh destinations beside an
// outside folder: it must be refused with an error naming the entry, and
// nothing outside the destinations may change; then its control unpacks.
func TestUnpackRefuses(t *testing.T) {
	for _, c := range unpackCases() {
		t.Run(c.name, func(t *testing.T) {
			run := func(build func(testing.TB, string) []byte) (string, string, error) {
				base := t.TempDir()
				d0, d1, outside := filepath.Join(base, "d0"), filepath.Join(base, "d1"), filepath.Join(base, "outside")
				mkdir(t, d0)
				mkdir(t, d1)
				writeFile(t, filepath.Join(outside, "keep"), "original", 0o644)
				if c.prepare != nil {
					c.prepare(t, d0, outside)
				}
				before := snapshot(t, base, d0, d1)
				_, err := stream.Unpack(bytes.NewReader(build(t, outside)), map[string]string{"t0": d0, "t1": d1}, unpackOpts)
				sameSnapshot(t, before, snapshot(t, base, d0, d1))
				return d0, outside, err
			}
			d0, outside, err := run(c.hostile)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.entry) {
				t.Fatalf("hostile stream: %v; want an error with %q naming %q", err, c.want, c.entry)
			}
			if c.check != nil {
				c.check(t, d0, outside)
			}
			if _, _, err := run(c.control); err != nil {
				t.Fatalf("control: %v", err)
			}
		})
	}
}

// TestUnpackReplaces checks what Unpack may change in a destination that
// is not empty: a file or symlink replaces a file or symlink (the old one
// removed, never written through: a link to outside stays unfollowed), a
// folder merges into a folder.
func TestUnpackReplaces(t *testing.T) {
	base := t.TempDir()
	d0, outside := filepath.Join(base, "d0"), filepath.Join(base, "outside")
	writeFile(t, filepath.Join(outside, "keep"), "original", 0o644)
	writeFile(t, filepath.Join(d0, "old"), "old", 0o644)
	writeFile(t, filepath.Join(d0, "d/kept"), "kept", 0o644)
	for name, target := range map[string]string{"l": filepath.Join(outside, "keep"), "dangling": filepath.Join(outside, "new")} {
		if err := os.Symlink(target, filepath.Join(d0, name)); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, outside)
	data := tarOf(t, dir("t0/"), file("t0/l", "new l"), file("t0/dangling", "new dangling"),
		symlink("t0/old", "elsewhere"), dir("t0/d/"), file("t0/d/new", "new"))
	if _, err := stream.Unpack(bytes.NewReader(data), map[string]string{"t0": d0}, unpackOpts); err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, before, snapshot(t, outside))
	for rel, want := range map[string]string{"l": "new l", "dangling": "new dangling", "d/kept": "kept", "d/new": "new"} {
		fi, err := os.Lstat(filepath.Join(d0, rel))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v, %v: want a regular file", rel, fi, err)
			continue
		}
		if b, _ := os.ReadFile(filepath.Join(d0, rel)); string(b) != want {
			t.Errorf("%s: %q, want %q", rel, b, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(d0, "old")); l != "elsewhere" {
		t.Errorf("old: %q, %v; want a symlink to elsewhere", l, err)
	}
}

// TestUnpackModes checks that modes are the entries' permission bits,
// exactly (umask or not), setuid, setgid and sticky bits dropped, and that
// a read-only folder gets its contents before its mode.
func TestUnpackModes(t *testing.T) {
	d0 := t.TempDir()
	t.Cleanup(func() { os.Chmod(filepath.Join(d0, "ro"), 0o755) })
	data := tarOf(t, dir("t0/"),
		ent{name: "t0/suid", typ: tar.TypeReg, body: "x", mode: 0o4755},
		ent{name: "t0/sgid", typ: tar.TypeReg, body: "x", mode: 0o2777},
		ent{name: "t0/sticky/", typ: tar.TypeDir, mode: 0o1777},
		ent{name: "t0/ro/", typ: tar.TypeDir, mode: 0o555},
		ent{name: "t0/ro/f", typ: tar.TypeReg, body: "x", mode: 0o400},
	)
	if _, err := stream.Unpack(bytes.NewReader(data), map[string]string{"t0": d0}, unpackOpts); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]fs.FileMode{
		"suid": 0o755, "sgid": 0o777, "sticky": fs.ModeDir | 0o777, "ro": fs.ModeDir | 0o555, "ro/f": 0o400,
	} {
		if fi, err := os.Lstat(filepath.Join(d0, rel)); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, %v; want %v", rel, fi.Mode(), err, want)
		}
	}
}
