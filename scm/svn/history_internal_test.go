package svn

import (
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// A server older than Subversion 1.6 says no kind of a log's paths: the
// log of a real repository, with its kinds removed, gives the same files
// for commits that add and change files in new folders.
func TestFilesWithoutKinds(t *testing.T) {
	ctx := context.Background()
	top := t.TempDir()
	cfg := filepath.Join(top, "cfg")
	repo := filepath.Join(top, "repo")
	if out, err := exec.Command("svnadmin", "create", repo).CombinedOutput(); err != nil {
		t.Fatalf("svnadmin: %v: %s", err, out)
	}
	imp := filepath.Join(top, "imp")
	for name, body := range map[string]string{"trunk/f": "f\n", "trunk/a/b/g": "g\n", "trunk/a/h": "h\n", "other/x": "x\n"} {
		p := filepath.Join(imp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u := "file://" + repo
	if _, err := run(ctx, cfg, "import", "--quiet", "-m", "first", imp, u); err != nil {
		t.Fatal(err)
	}
	out, err := run(ctx, cfg, "log", "--xml", "--verbose", u+"/trunk")
	if err != nil {
		t.Fatal(err)
	}
	bare := regexp.MustCompile(`\s+kind="[a-z]*"`).ReplaceAll(out, nil)
	if slices.Equal(bare, out) {
		t.Fatalf("control: the log names no kind:\n%s", out)
	}
	var with, without logXML
	if err := xml.Unmarshal(out, &with); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(bare, &without); err != nil {
		t.Fatal(err)
	}
	l := lister{ctx: ctx, cfg: cfg, target: u + "/trunk@1"}
	want := []string{"a/b/g", "a/h", "f"}
	for _, log := range []logXML{with, without} {
		files, err := l.files(log.Entries[0], "/trunk")
		slices.Sort(files)
		if err != nil || !slices.Equal(files, want) {
			t.Errorf("files = %q, %v; want %q", files, err, want)
		}
	}
}
