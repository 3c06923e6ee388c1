package checkout

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTreeFingerprint(t *testing.T) {
	changes := map[string]func(dir string){
		"content":   func(d string) { os.WriteFile(filepath.Join(d, "f"), []byte("other"), 0o644) },
		"new file":  func(d string) { os.WriteFile(filepath.Join(d, "sub", "new"), nil, 0o644) },
		"removed":   func(d string) { os.Remove(filepath.Join(d, "f")) },
		"mode":      func(d string) { os.Chmod(filepath.Join(d, "f"), 0o755) },
		"symlink":   func(d string) { os.Remove(filepath.Join(d, "f")); os.Symlink("/etc/passwd", filepath.Join(d, "f")) },
		"same size": func(d string) { os.WriteFile(filepath.Join(d, "f"), []byte("ONE"), 0o644) },
		"nothing":   func(string) {},
		// The work tree holds no metadata: a .git is a change like any.
		"planted .git": func(d string) { os.WriteFile(filepath.Join(d, ".git"), []byte("gitdir: /elsewhere\n"), 0o644) },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
			os.WriteFile(filepath.Join(dir, "f"), []byte("one"), 0o644)
			old := time.Now().Add(-time.Hour)
			os.Chtimes(filepath.Join(dir, "f"), old, old)
			before, err := treeFingerprint(dir)
			if err != nil {
				t.Fatal(err)
			}
			change(dir)
			after, _ := treeFingerprint(dir)
			same := name == "nothing"
			if (before == after) != same {
				t.Errorf("fingerprint same=%v after %s", before == after, name)
			}
		})
	}
}
