package collect

import (
	"os"
	"path/filepath"
	"testing"
)

func TestArtifacts(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "b.tar"), []byte("bee"), 0o644)
	os.WriteFile(filepath.Join(root, "sub", "a.deb"), []byte(""), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(root, "link"))
	got := Artifacts(root)
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
	if Artifacts(filepath.Join(root, "missing")) != nil {
		t.Error("a missing folder has artifacts")
	}
}
