package collect

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
)

func TestArtifacts(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "b.tar"), []byte("bee"), 0o644)
	os.WriteFile(filepath.Join(root, "sub", "a.deb"), []byte(""), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(root, "link"))
	got, why := Artifacts(root)
	if why != "" {
		t.Fatalf("unpublished: %s", why)
	}
	if len(got) != 2 {
		t.Fatalf("got %d artifacts, want 2 (the symlink is not one): %+v", len(got), got)
	}
	if got[0].Path != "b.tar" || got[0].Size != 3 ||
		got[0].SHA256 != "62cb81b5904a262ffaeed02abef36bfc540b09f964b8b0b636662f77ffce6714" {
		t.Errorf("first artifact %+v", got[0])
	}
	if got[1].Path != filepath.Join("sub", "a.deb") || got[1].Size != 0 {
		t.Errorf("second artifact %+v", got[1])
	}
	if a, why := Artifacts(filepath.Join(root, "missing")); a != nil || why != "" {
		t.Errorf("a missing folder has artifacts %v (%q)", a, why)
	}
}

// A symlink to a folder is not followed: the folder's files are not the
// module's artifacts (control: the same folder, really there, is listed).
func TestArtifactsDoNotFollowSymlinkedFolders(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("not the module's"), 0o600)
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "real.deb"), []byte("deb"), 0o644)
	if err := os.Symlink(outside, filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	got, why := Artifacts(root)
	if why != "" || len(got) != 1 || got[0].Path != "real.deb" {
		t.Errorf("with a symlinked folder: %+v (%q), want only real.deb", got, why)
	}

	// Control: the folder itself is walked.
	got, why = Artifacts(outside)
	if why != "" || len(got) != 1 || got[0].Path != "secret" {
		t.Errorf("control: %+v (%q), want secret", got, why)
	}

	// The package folder itself a symlink: not followed, and said.
	link := filepath.Join(t.TempDir(), "pkg")
	os.Symlink(outside, link)
	got, why = Artifacts(link)
	if got != nil || !strings.Contains(why, "symlink") {
		t.Errorf("a symlinked package folder: %+v (%q)", got, why)
	}
}

// A FIFO (or a socket) is not an artifact and does not block the walk.
func TestArtifactsSkipSpecialFilesWithoutBlocking(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(root, "fifo.deb"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "real.deb"), []byte("deb"), 0o644)
	done := make(chan []report.Artifact, 1)
	go func() {
		got, _ := Artifacts(root)
		done <- got
	}()
	select {
	case got := <-done:
		if len(got) != 1 || got[0].Path != "real.deb" {
			t.Errorf("got %+v, want only real.deb", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Artifacts blocked on a FIFO")
	}
}

// More than MaxFiles entries: none is listed, and the module says why.
func TestArtifactsBoundTheCount(t *testing.T) {
	root := t.TempDir()
	for i := range MaxFiles {
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("f%05d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Control: exactly MaxFiles are listed.
	if got, why := Artifacts(root); len(got) != MaxFiles || why != "" {
		t.Fatalf("%d files: listed %d (%q)", MaxFiles, len(got), why)
	}
	os.Mkdir(filepath.Join(root, "one-more"), 0o755)
	got, why := Artifacts(root)
	if got != nil || !strings.Contains(why, fmt.Sprintf("more than %d files", MaxFiles)) {
		t.Errorf("%d entries: listed %d (%q)", MaxFiles+1, len(got), why)
	}
}

func TestArtifactsBoundTheDepth(t *testing.T) {
	root := t.TempDir()
	deep := root
	for range MaxDepth {
		deep = filepath.Join(deep, "d")
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(deep, "x.deb"), []byte("x"), 0o644)
	// Control: MaxDepth folders deep is listed.
	if got, why := Artifacts(root); len(got) != 1 || why != "" {
		t.Fatalf("%d deep: %+v (%q)", MaxDepth, got, why)
	}
	os.Mkdir(filepath.Join(deep, "d"), 0o755)
	if got, why := Artifacts(root); got != nil || !strings.Contains(why, "deeper than") {
		t.Errorf("%d deep: %+v (%q)", MaxDepth+1, got, why)
	}
}

// A path longer than PATH_MAX is listed (the walk is by descriptor); the
// publisher decides what the site can hold.
func TestArtifactsLongPath(t *testing.T) {
	root := t.TempDir()
	name := strings.Repeat("a", 200)
	d, err := os.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	fd := int(d.Fd())
	for range 20 {
		if err := syscall.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := syscall.Openat(fd, name, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fd != int(d.Fd()) {
			syscall.Close(fd)
		}
		fd = next
	}
	f, err := syscall.Openat(fd, "long.bin", syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Write(f, []byte("long"))
	syscall.Close(f)
	syscall.Close(fd)
	d.Close()
	got, why := Artifacts(root)
	if why != "" || len(got) != 1 || len(got[0].Path) < 4000 || got[0].Size != 4 {
		t.Errorf("long path: %d artifacts (%q)", len(got), why)
	}
	// t.TempDir's cleanup (os.RemoveAll) removes paths of any length.
}
