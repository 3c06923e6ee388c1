package collect

import (
	"archive/tar"
	"compress/gzip"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTarball writes a gzipped tarball of n entries of size bytes of
// random data each (incompressible: the worst case for reading it).
func writeTarball(t testing.TB, p string, n int, size int64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	buf := make([]byte, size)
	for i := range n {
		rand.Read(buf)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
		tw.Write(buf)
	}
	tw.Close()
	zw.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Artifacts describes the packages it lists, read through its own
// descriptor; a symlink named as a package is neither listed nor read
// (control: its target, listed in its own folder, is a package).
func TestArtifactsRecognisePackages(t *testing.T) {
	root := t.TempDir()
	writeTarball(t, filepath.Join(root, "tool-1.2.tar.gz"), 3, 10)
	os.WriteFile(filepath.Join(root, "broken.zip"), []byte("no zip"), 0o644)
	os.WriteFile(filepath.Join(root, "notes.txt"), []byte("text"), 0o644)
	outside := t.TempDir()
	writeTarball(t, filepath.Join(outside, "secret-9.tar.gz"), 1, 10)
	os.Symlink(filepath.Join(outside, "secret-9.tar.gz"), filepath.Join(root, "linked-1.0.tar.gz"))
	got, why := Artifacts(root)
	if why != "" || len(got) != 3 {
		t.Fatalf("%+v (%q)", got, why)
	}
	byPath := map[string]int{}
	for i, a := range got {
		byPath[a.Path] = i
	}
	if p := got[byPath["tool-1.2.tar.gz"]].Package; p == nil || p.Name != "tool" || p.Version != "1.2" || p.Entries != 3 {
		t.Errorf("tool-1.2.tar.gz: %+v", p)
	}
	if a := got[byPath["broken.zip"]]; a.Package != nil || !strings.Contains(a.NotPackage, "not a zip file") {
		t.Errorf("broken.zip: %+v", a)
	}
	if a := got[byPath["notes.txt"]]; a.Package != nil || a.NotPackage != "" {
		t.Errorf("notes.txt: %+v", a)
	}
	if arts, _ := Artifacts(outside); len(arts) != 1 || arts[0].Package == nil || arts[0].Package.Name != "secret" {
		t.Errorf("control: %+v", arts)
	}
}

// BenchmarkArtifacts measures listing a package folder of one 64 MiB
// gzipped tarball as a package (checksum, then count its entries) and
// under a name that is no package's (checksum only): what recognising
// adds to collect, which runs again for each reused module.
func BenchmarkArtifacts(b *testing.B) {
	for _, name := range []string{"big-1.0.tar.gz", "big.bin"} {
		b.Run(name, func(b *testing.B) {
			root := b.TempDir()
			writeTarball(b, filepath.Join(root, name), 64, 1<<20)
			b.ResetTimer()
			for range b.N {
				if arts, why := Artifacts(root); len(arts) != 1 || why != "" {
					b.Fatal(arts, why)
				}
			}
		})
	}
}
