package stream_test

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/autobuild/autobuild/engine/executor/stream"
)

// Channels of the transfer the round trip makes, as an executor would.
const (
	chLog     = 0
	chTree    = 1
	chSummary = 2
)

// lutimes sets the time of p, a symlink itself when p is one.
func lutimes(t testing.TB, p string, mt time.Time) {
	t.Helper()
	ts, err := unix.TimeToTimespec(mt)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatalf("times of %s: %v", p, err)
	}
}

// sourceTree makes a tree of every kind of entry Pack sends, each with a
// time of its own (nanoseconds included).
func sourceTree(t *testing.T, root, outside string) {
	t.Helper()
	big := make([]byte, 3*stream.MaxFrame+12345)
	rand.Read(big)
	writeFile(t, filepath.Join(root, "a/b/c/deep.txt"), "deep\n", 0o644)
	writeFile(t, filepath.Join(root, "a/b/file.txt"), "file\n", 0o640)
	mkdir(t, filepath.Join(root, "empty"))
	writeFile(t, filepath.Join(root, "bin/tool"), "#!/bin/sh\necho hi\n", 0o755)
	writeFile(t, filepath.Join(root, "zero"), "", 0o644)
	writeFile(t, filepath.Join(root, "big"), string(big), 0o644)
	writeFile(t, filepath.Join(root, "private"), "secret\n", 0o600)
	writeFile(t, filepath.Join(root, "setuid"), "x", 0o755|fs.ModeSetuid)
	writeFile(t, filepath.Join(root, "name with spaces, ünïcode\nand a newline"), "odd\n", 0o644)
	writeFile(t, filepath.Join(root, strings.Repeat("long", 50)), "long\n", 0o644)
	writeFile(t, filepath.Join(root, "hard1"), "linked\n", 0o644)
	if err := os.Link(filepath.Join(root, "hard1"), filepath.Join(root, "hard2")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "ro/file"), "read-only\n", 0o444)
	for name, target := range map[string]string{
		"rel":      "a/b/file.txt",
		"abs":      filepath.Join(outside, "target"),
		"dangling": "does/not/exist",
		"up":       "../outside/target",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "a/b"), 0o750); err != nil {
		t.Fatal(err)
	}
	// Times last, deepest first, so that no later change moves them.
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	for i := len(paths) - 1; i >= 0; i-- {
		lutimes(t, paths[i], time.Unix(1_600_000_000+int64(i)*1000, int64(i)*7_654_321+1))
	}
}

// sameTree checks that got holds what want does: the same entries, types,
// permission bits (setuid and the like dropped), times, contents and link
// texts, each file a link of its own.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	seen := map[string]bool{}
	filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		wfi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		gp := filepath.Join(got, rel)
		gfi, err := os.Lstat(gp)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if wfi.Mode().Type() != gfi.Mode().Type() {
			t.Errorf("%s: type %v, want %v", rel, gfi.Mode().Type(), wfi.Mode().Type())
			return nil
		}
		if rel != "." && wfi.Mode().Type() != fs.ModeSymlink && gfi.Mode() != wfi.Mode()&(fs.ModeType|fs.ModePerm) {
			t.Errorf("%s: mode %v, want %v", rel, gfi.Mode(), wfi.Mode()&(fs.ModeType|fs.ModePerm))
		}
		if !gfi.ModTime().Equal(wfi.ModTime()) {
			t.Errorf("%s: time %v, want %v", rel, gfi.ModTime(), wfi.ModTime())
		}
		switch {
		case wfi.Mode().IsRegular():
			wb, _ := os.ReadFile(p)
			gb, err := os.ReadFile(gp)
			if err != nil || !bytes.Equal(wb, gb) {
				t.Errorf("%s: content differs (%d bytes, want %d; %v)", rel, len(gb), len(wb), err)
			}
			if n := gfi.Sys().(*syscall.Stat_t).Nlink; n != 1 {
				t.Errorf("%s: %d links, want a file of its own", rel, n)
			}
		case wfi.Mode().Type() == fs.ModeSymlink:
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(gp)
			if wl != gl {
				t.Errorf("%s: links to %q, want %q", rel, gl, wl)
			}
		}
		return nil
	})
	filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(got, p)
		if !seen[rel] {
			t.Errorf("%s: unpacked, but not in the source", rel)
		}
		return err
	})
}

// transfer packs the trees onto a Mux channel beside a live log and the
// summary, as a node would; the receiving end reads the frames, spools the
// tar stream, verifies it against the summary and unpacks it into dests.
func transfer(t testing.TB, trees []stream.Tree, dests map[string]string, opts stream.UnpackOptions) (sent, got stream.Summary, treeFrames int) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		mux, err := stream.NewMux(pw)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		var logs sync.WaitGroup
		logs.Go(func() {
			for i := range 100 {
				fmt.Fprintf(mux.Channel(chLog), "log line %d\n", i)
			}
		})
		sum, err := stream.Pack(mux.Channel(chTree), trees, stream.PackOptions{AllowMissing: true})
		if err == nil {
			js, _ := json.Marshal(sum)
			err = mux.Send(chSummary, js)
		}
		logs.Wait()
		pw.CloseWithError(err)
	}()
	spool, err := stream.NewSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	var log bytes.Buffer
	err = stream.ReadFrames(pr, func(ch byte, data []byte) error {
		switch ch {
		case chLog:
			log.Write(data)
		case chTree:
			treeFrames++
			_, err := spool.Write(data)
			return err
		case chSummary:
			return json.Unmarshal(data, &sent)
		default:
			return fmt.Errorf("unknown channel %d", ch)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wantLog strings.Builder
	for i := range 100 {
		fmt.Fprintf(&wantLog, "log line %d\n", i)
	}
	if log.String() != wantLog.String() {
		t.Errorf("log channel: got %q", log.String())
	}
	if err := spool.Verify(sent); err != nil {
		t.Fatal(err)
	}
	r, err := spool.Reader()
	if err != nil {
		t.Fatal(err)
	}
	got, err = stream.Unpack(r, dests, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sent, got, treeFrames
}

func TestRoundTrip(t *testing.T) {
	base := t.TempDir()
	src0, src1, outside := filepath.Join(base, "src0"), filepath.Join(base, "src1"), filepath.Join(base, "outside")
	writeFile(t, filepath.Join(outside, "target"), "outside\n", 0o644)
	sourceTree(t, src0, outside)
	writeFile(t, filepath.Join(src1, "x"), "x\n", 0o644)
	writeFile(t, filepath.Join(src1, "d/y"), "y\n", 0o600)
	d0, d1 := filepath.Join(base, "d0"), filepath.Join(base, "d1")
	mkdir(t, d0)
	mkdir(t, d1)
	t.Cleanup(func() { os.Chmod(filepath.Join(d0, "ro"), 0o755); os.Chmod(filepath.Join(src0, "ro"), 0o755) })
	before := snapshot(t, outside)

	trees := []stream.Tree{{Name: "t0", Path: src0}, {Name: "t1", Path: src1}, {Name: "t2", Path: filepath.Join(base, "missing")}}
	sent, got, frames := transfer(t, trees, map[string]string{"t0": d0, "t1": d1}, stream.UnpackOptions{UID: -1, GID: -1})

	if got != sent {
		t.Errorf("unpacked %+v, sent %+v", got, sent)
	}
	if sent.Files < 3*stream.MaxFrame || sent.Bytes < sent.Files {
		t.Errorf("summary %+v: the big file is missing", sent)
	}
	if min := int(sent.Bytes / stream.MaxFrame); frames <= min {
		t.Errorf("the tree came in %d frames, want more than %d", frames, min)
	}
	sameTree(t, src0, d0)
	sameTree(t, src1, d1)
	if fi, _ := os.Lstat(filepath.Join(d0, "setuid")); fi.Mode() != 0o755 {
		t.Errorf("setuid file unpacked as %v, want -rwxr-xr-x", fi.Mode())
	}
	sameSnapshot(t, before, snapshot(t, outside))
}

// TestPackHeaders checks what Pack leaves out: owners and their names,
// setuid bits, extended attributes; and that it packs the same folders
// into the same bytes, in lexical order.
func TestPackHeaders(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "b/x"), "x", 0o644)
	writeFile(t, filepath.Join(src, "a"), "a", 0o4755|fs.ModeSetuid|fs.ModeSetgid)
	writeFile(t, filepath.Join(src, "c"), "c", 0o644)
	xattr := unix.Lsetxattr(filepath.Join(src, "c"), "user.autobuild", []byte("v"), 0) == nil
	if os.Geteuid() == 0 {
		if err := os.Lchown(filepath.Join(src, "c"), 4242, 4343); err != nil {
			t.Fatal(err)
		}
	}
	var b1, b2 bytes.Buffer
	s1, err := stream.Pack(&b1, []stream.Tree{{Name: "t0", Path: src}}, stream.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := stream.Pack(&b2, []stream.Tree{{Name: "t0", Path: src}}, stream.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s1 != s2 || !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Errorf("the same folder packed twice differs: %+v, %+v", s1, s2)
	}
	if s1.Bytes != int64(b1.Len()) || s1.Entries != 5 || s1.Files != 3 {
		t.Errorf("summary %+v for %d bytes, 5 entries, 3 bytes of files", s1, b1.Len())
	}
	tr := tar.NewReader(&b1)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q sent", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if h.Mode&^0o777 != 0 {
			t.Errorf("%s: mode %o sent", h.Name, h.Mode)
		}
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr") {
				t.Errorf("%s: extended attribute %s sent", h.Name, k)
			}
		}
	}
	if want := "t0/ t0/a t0/b/ t0/b/x t0/c"; strings.Join(names, " ") != want {
		t.Errorf("entries %q, want %q", names, want)
	}
	if !xattr {
		t.Log("this file system takes no user extended attributes: their absence was not tested")
	}
}

func TestPackRefusesSpecialFiles(t *testing.T) {
	cases := map[string]func(p string) error{
		"FIFO": func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"socket": func(p string) error {
			l, err := net.Listen("unix", p)
			if err == nil {
				t.Cleanup(func() { l.Close() })
			}
			return err
		},
		"character device": func(p string) error {
			if os.Geteuid() != 0 {
				t.Skip("making a device needs root")
			}
			return unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3)))
		},
	}
	for kind, mk := range cases {
		t.Run(kind, func(t *testing.T) {
			src := t.TempDir()
			writeFile(t, filepath.Join(src, "sub/before"), "b", 0o644)
			p := filepath.Join(src, "sub/special")
			// Control: a regular file at its place is packed.
			writeFile(t, p, "regular", 0o644)
			if _, err := stream.Pack(io.Discard, []stream.Tree{{Name: "t0", Path: src}}, stream.PackOptions{}); err != nil {
				t.Fatalf("control: %v", err)
			}
			os.Remove(p)
			if err := mk(p); err != nil {
				t.Fatal(err)
			}
			_, err := stream.Pack(io.Discard, []stream.Tree{{Name: "t0", Path: src}}, stream.PackOptions{})
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), kind) {
				t.Fatalf("Pack = %v, want an error naming %s and %q", err, p, kind)
			}
		})
	}
}

func TestPackTrees(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "x"), "x", 0o644)
	missing := filepath.Join(base, "missing")
	plain := filepath.Join(base, "plain")
	writeFile(t, plain, "p", 0o644)
	link := filepath.Join(base, "link")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		trees []stream.Tree
		opts  stream.PackOptions
		want  string // "" for success
	}{
		{"control", []stream.Tree{{"t0", src}}, stream.PackOptions{}, ""},
		{"missing", []stream.Tree{{"t0", src}, {"t1", missing}}, stream.PackOptions{}, missing},
		{"missing allowed", []stream.Tree{{"t0", src}, {"t1", missing}}, stream.PackOptions{AllowMissing: true}, ""},
		{"a file", []stream.Tree{{"t0", plain}}, stream.PackOptions{}, "not a folder"},
		{"a symlink to a folder", []stream.Tree{{"t0", link}}, stream.PackOptions{}, "not a folder"},
		{"empty name", []stream.Tree{{"", src}}, stream.PackOptions{}, "plain path element"},
		{"slash", []stream.Tree{{"t0/x", src}}, stream.PackOptions{}, "plain path element"},
		{"dot", []stream.Tree{{".", src}}, stream.PackOptions{}, "plain path element"},
		{"dot dot", []stream.Tree{{"..", src}}, stream.PackOptions{}, "plain path element"},
		{"twice", []stream.Tree{{"t0", src}, {"t0", src}}, stream.PackOptions{}, "twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			_, err := stream.Pack(&b, c.trees, c.opts)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				var tops []string
				tr := tar.NewReader(&b)
				for h, err := tr.Next(); err == nil; h, err = tr.Next() {
					tops = append(tops, h.Name)
				}
				if strings.Join(tops, " ") != "t0/ t0/x" {
					t.Errorf("entries %q", tops)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Pack = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestUnpackOwners checks, as root, that UID and GID own every entry
// unpacked, symlinks included, and that no symlink is followed on the way:
// the file a link points to keeps its owner.
func TestUnpackOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root")
	}
	base := t.TempDir()
	d0, outside := filepath.Join(base, "d0"), filepath.Join(base, "outside")
	mkdir(t, d0)
	target := filepath.Join(outside, "target")
	writeFile(t, target, "outside", 0o644)
	data := tarOf(t, dir("t0/"), dir("t0/d/"), file("t0/d/f", "f"), symlink("t0/abs", target),
		symlink("t0/rel", "d/f"), symlink("t0/dangling", "nowhere"))
	before := snapshot(t, outside)
	if _, err := stream.Unpack(bytes.NewReader(data), map[string]string{"t0": d0}, stream.UnpackOptions{UID: 4242, GID: 4343}); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"d", "d/f", "abs", "rel", "dangling"} {
		fi, err := os.Lstat(filepath.Join(d0, rel))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 4242 || st.Gid != 4343 {
			t.Errorf("%s: owner %d:%d, want 4242:4343", rel, st.Uid, st.Gid)
		}
	}
	if st, _ := os.Lstat(d0); st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the destination folder changed owner")
	}
	sameSnapshot(t, before, snapshot(t, outside))

	// Control: UID -1 leaves the entries to the unpacking process.
	d1 := filepath.Join(base, "d1")
	mkdir(t, d1)
	if _, err := stream.Unpack(bytes.NewReader(data), map[string]string{"t0": d1}, stream.UnpackOptions{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"d/f", "abs"} {
		fi, _ := os.Lstat(filepath.Join(d1, rel))
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: owner %d:%d with UID -1, want 0:0", rel, st.Uid, st.Gid)
		}
	}
}

func TestUnpackDestinations(t *testing.T) {
	base := t.TempDir()
	plain := filepath.Join(base, "plain")
	writeFile(t, plain, "p", 0o644)
	data := tarOf(t, dir("t0/"))
	for name, dests := range map[string]map[string]string{
		"missing":  {"t0": filepath.Join(base, "missing")},
		"a file":   {"t0": plain},
		"bad name": {"t0/x": base},
	} {
		_, err := stream.Unpack(bytes.NewReader(data), dests, stream.UnpackOptions{UID: -1})
		if err == nil {
			t.Errorf("%s: Unpack into %v succeeded", name, dests)
		}
	}
	if _, err := stream.Unpack(bytes.NewReader(data), map[string]string{"t0": base}, stream.UnpackOptions{UID: -1}); err != nil {
		t.Errorf("control: %v", err)
	}
	var pe *fs.PathError
	_, err := stream.Unpack(bytes.NewReader(data), map[string]string{"t0": filepath.Join(base, "missing")}, stream.UnpackOptions{UID: -1})
	if !errors.As(err, &pe) {
		t.Errorf("a missing destination: %v, want a *fs.PathError inside", err)
	}
}

// BenchmarkTransfer measures the whole way of a tree: Pack onto a Mux
// channel, ReadFrames, Spool, Verify, Unpack; beside it, as a reference
// point, GNU tar piped into tar (no spool, no checksum). The tree: 32
// files of 2 MiB and 2,000 of 1 KiB in 20 folders.
func BenchmarkTransfer(b *testing.B) {
	src := b.TempDir()
	big := make([]byte, 2<<20)
	rand.Read(big)
	for i := range 32 {
		writeFile(b, filepath.Join(src, "big", fmt.Sprint(i)), string(big), 0o644)
	}
	for i := range 2000 {
		writeFile(b, filepath.Join(src, fmt.Sprintf("small/%d/%d", i%20, i)), string(big[:1024]), 0o644)
	}
	var size int64
	b.Run("stream", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dst := b.TempDir()
			b.StartTimer()
			sent, _, _ := transfer(b, []stream.Tree{{Name: "t0", Path: src}}, map[string]string{"t0": dst}, stream.UnpackOptions{UID: -1, GID: -1})
			size = sent.Bytes
		}
		b.SetBytes(size)
	})
	b.Run("reference tar|tar", func(b *testing.B) {
		if _, err := exec.LookPath("tar"); err != nil {
			b.Skip("no tar")
		}
		for b.Loop() {
			b.StopTimer()
			dst := b.TempDir()
			b.StartTimer()
			out, err := exec.Command("sh", "-c", `tar -C "$1" -cf - . | tar -C "$2" -xpf -`, "sh", src, dst).CombinedOutput()
			if err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
		b.SetBytes(size)
	})
}
