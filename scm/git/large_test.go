package git

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
)

// childEnv makes the test binary a checkout and nothing else, so that
// its peak memory is the checkout's.
const childEnv = "AUTOBUILD_GIT_TEST_CHECKOUT"

type childSpec struct {
	Source scm.Source   `json:"source"`
	Rev    scm.Revision `json:"rev"`
	Dirs   scm.Dirs     `json:"dirs"`
}

func TestMain(m *testing.M) {
	if raw := os.Getenv(childEnv); raw != "" {
		var sp childSpec
		if err := json.Unmarshal([]byte(raw), &sp); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := (Git{}).Checkout(context.Background(), sp.Source, sp.Rev, sp.Dirs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// checkoutInChild checks out rev in a child process, and returns its
// wall time and peak resident memory in bytes.
func checkoutInChild(t testing.TB, src scm.Source, rev scm.Revision, d scm.Dirs) (time.Duration, int64) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(childSpec{src, rev, d})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("checkout in a child: %v\n%s", err, out)
	}
	return took, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
}

// largeRepo makes a repository holding one pseudo-random (incompressible)
// file of size bytes beside a small one, its objects loose or packed,
// committed with zlib at level (as git's core.compression). It returns
// the repository and the big file's SHA-256.
func largeRepo(t testing.TB, size int64, packed bool, level int) (string, string) {
	t.Helper()
	repo := testutil.Repo(t, testutil.Dir(t), "big", map[string]string{"small": "small\n"})
	f, err := os.Create(filepath.Join(repo, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	rnd := rand.NewChaCha8([32]byte{1, 2, 3})
	if _, err := io.CopyN(io.MultiWriter(f, h), rnd, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	lv := fmt.Sprintf("core.compression=%d", level)
	testutil.Git(t, repo, "-c", lv, "add", "big.bin")
	testutil.Git(t, repo, "-c", lv, "commit", "-q", "-m", "big")
	if packed {
		testutil.Git(t, repo, "-c", lv, "repack", "-adq")
	}
	return repo, hex.EncodeToString(h.Sum(nil))
}

func fileSHA256(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// A large file is streamed from its object into the work tree: the
// checkout's peak memory stays well below the file's size, whether the
// object is loose or in a pack. (A resource bound, not a timing.)
func TestCheckoutLargeFileMemory(t *testing.T) {
	const size, bound = 64 << 20, 48 << 20
	for _, packed := range []bool{false, true} {
		t.Run(map[bool]string{false: "loose", true: "packed"}[packed], func(t *testing.T) {
			repo, sum := largeRepo(t, size, packed, 0)
			src := scm.Source{Kind: Kind, URL: repo}
			rev, err := Git{}.Resolve(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
			_, rss := checkoutInChild(t, src, rev, d)
			if got := fileSHA256(t, filepath.Join(d.Work, "big.bin")); got != sum {
				t.Fatalf("big.bin checked out with SHA-256 %s, want %s", got, sum)
			}
			t.Logf("a %d MiB file checked out with a peak of %d MiB", size>>20, rss>>20)
			if rss >= bound {
				t.Errorf("checking out a %d MiB file took %d MiB of memory, want < %d MiB", size>>20, rss>>20, bound>>20)
			}
		})
	}
}

// BenchmarkCheckoutLargeFile checks out a 200 MB file into a fresh
// folder, in a child process: its time per checkout, and its peak memory
// (maxrss-MiB). From a local repository (the object loose, or packed) the
// blob is streamed; from a remote (git's smart HTTP server on the
// loopback) the fetch's pack parser holds the object once.
func BenchmarkCheckoutLargeFile(b *testing.B) {
	if testing.Short() {
		b.Skip("200 MB of repository")
	}
	const size = 200 << 20
	for _, c := range []struct {
		name         string
		packed, http bool
	}{{"local-loose", false, false}, {"local-packed", true, false}, {"http", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			repo, sum := largeRepo(b, size, c.packed, -1)
			u := repo
			if c.http {
				top := filepath.Dir(repo)
				testutil.Git(b, top, "clone", "-q", "--bare", repo, "big.git")
				u = serveHTTP(b, top) + "/big.git"
			}
			src := scm.Source{Kind: Kind, URL: u}
			rev, err := Git{}.Resolve(context.Background(), src)
			if err != nil {
				b.Fatal(err)
			}
			var peak int64
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
				d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
				b.StartTimer()
				_, rss := checkoutInChild(b, src, rev, d)
				b.StopTimer()
				peak = max(peak, rss)
				if got := fileSHA256(b, filepath.Join(d.Work, "big.bin")); got != sum {
					b.Fatalf("big.bin checked out with SHA-256 %s, want %s", got, sum)
				}
				os.RemoveAll(dir)
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "maxrss-MiB")
		})
	}
}
