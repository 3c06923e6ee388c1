package publishtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/publish"
)

// copier is a small correct publisher: it copies a run into a fresh
// folder under dir and swaps the dir/live symlink to it. Its flaw, when
// set, is one way of breaking the contract; the suite must catch each.
type copier struct {
	dir  string
	flaw string
	runs int
}

func (c *copier) Name() string {
	if c.flaw == "unstable name" {
		c.runs++
		return fmt.Sprintf("copier-%d", c.runs)
	}
	return "copier"
}

func (c *copier) Publish(ctx context.Context, in publish.Input) (err error) {
	if c.flaw == "sticky failure" { // never recovers from a failure
		if _, err := os.Stat(filepath.Join(c.dir, "failed")); err == nil {
			return errors.New("failed before")
		}
		defer func() {
			if err != nil {
				os.WriteFile(filepath.Join(c.dir, "failed"), nil, 0o644)
			}
		}()
	}
	live := filepath.Join(c.dir, "live")
	out, err := os.MkdirTemp(c.dir, "run-")
	if err != nil {
		return err
	}
	switch c.flaw {
	case "in place": // writes over the live site: a failure leaves it half-done
		os.RemoveAll(out)
		out = live
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
	case "no-op":
		return nil
	}
	for _, m := range in.Run.Modules {
		if m.Name == "" || m.Name == "." || m.Name == ".." || strings.ContainsAny(m.Name, "/\x00") {
			return fmt.Errorf("module name %q", m.Name)
		}
		f := in.Files[m.Name]
		if f.Log != "" && c.flaw == "link logs" { // even one still open for writing
			if err := os.MkdirAll(filepath.Join(out, "logs"), 0o755); err != nil {
				return err
			}
			if err := os.Link(f.Log, filepath.Join(out, "logs", m.Name+".log")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		} else if f.Log != "" {
			if err := copyTo(f.Log, filepath.Join(out, "logs", m.Name+".log"), ""); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		for _, a := range m.Artifacts {
			from := filepath.Join(f.Packages, a.Path)
			switch c.flaw {
			case "touch input":
				os.Chtimes(from, time.Now(), time.Now())
			case "chmod input":
				os.Chmod(from, 0o444)
			case "temp file in input":
				os.WriteFile(from+".tmp", nil, 0o644)
				defer os.Remove(from + ".tmp")
			case "hard link":
				if err := os.MkdirAll(filepath.Join(out, m.Name, filepath.Dir(a.Path)), 0o755); err != nil {
					return err
				}
				if err := os.Link(from, filepath.Join(out, m.Name, a.Path)); err != nil {
					return err
				}
				continue
			}
			if err := copyTo(from, filepath.Join(out, m.Name, a.Path), a.SHA256); err != nil {
				var bad *badFile
				if errors.As(err, &bad) && c.flaw != "fails on a bad file" {
					// The module's problem: none of its artifacts.
					os.RemoveAll(filepath.Join(out, m.Name))
					break
				}
				return err
			}
			if c.flaw == "in place" && ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	if err := os.WriteFile(filepath.Join(out, "counter"), fmt.Appendf(nil, "%d\n", in.Run.Counter), 0o644); err != nil {
		return err
	}
	if c.flaw == "in place" {
		return nil
	}
	tmp := live + ".new"
	if err := os.Symlink(out, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, live)
}

// badFile is an input that is not what the report lists.
type badFile struct{ msg string }

func (b *badFile) Error() string { return b.msg }

// copyTo copies the regular file from (a symlink or a special file is a
// badFile; a FIFO does not block it) and checks its SHA-256 if given.
func copyTo(from, to, sum string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	r, err := os.OpenFile(from, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) && sum != "" {
		return &badFile{err.Error()}
	}
	if errors.Is(err, syscall.ELOOP) {
		return &badFile{from + " is a symlink"}
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if info, err := r.Stat(); err != nil || !info.Mode().IsRegular() {
		return &badFile{from + " is not a regular file"}
	}
	w, err := os.Create(to)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
		w.Close()
		return err
	}
	if sum != "" && fmt.Sprintf("%x", h.Sum(nil)) != sum {
		w.Close()
		return &badFile{from + " changed"}
	}
	return w.Close()
}

func copierSnapshot(t *testing.T, dir string) string {
	live := filepath.Join(dir, "live")
	if _, err := os.Lstat(live); errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	var lines []string
	site := os.DirFS(live)
	err := fs.WalkDir(site, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() { // a FIFO would block the read
			lines = append(lines, fmt.Sprintf("%s %v", p, d.Type()))
			return nil
		}
		b, err := fs.ReadFile(site, p)
		lines = append(lines, fmt.Sprintf("%s %x", p, sha256.Sum256(b)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func harness(flaw string) Harness {
	return Harness{
		New:      func(t *testing.T, dir string) publish.Publisher { return &copier{dir: dir, flaw: flaw} },
		Snapshot: copierSnapshot,
	}
}

// TestCorrectPublisherPasses: the suite asks nothing a correct publisher
// cannot do.
func TestCorrectPublisherPasses(t *testing.T) {
	Run(t, harness(""))
}

const flawEnv = "PUBLISHTEST_FLAW"

// TestFlawed runs the suite on one flawed copier, in the child process
// TestSuiteCatchesFlaws starts.
func TestFlawed(t *testing.T) {
	flaw := os.Getenv(flawEnv)
	if flaw == "" {
		t.Skip("run by TestSuiteCatchesFlaws")
	}
	Run(t, harness(flaw))
}

// TestSuiteCatchesFlaws: each way of breaking the contract fails the
// case that checks it (the suite runs in a child process, so its failure
// is not this test's).
func TestSuiteCatchesFlaws(t *testing.T) {
	tests := []struct {
		flaw  string
		fails string
	}{
		{"unstable name", "Name"},
		{"no-op", "Publish"},
		{"touch input", "InputsUnchanged/ContentSizeMtime"},
		{"chmod input", "InputsUnchanged/Mode"},
		{"temp file in input", "InputsUnchanged/Listing"},
		{"hard link", "InputsUnchanged/NoHardLink"},
		{"hard link", "InputsOpenForWriting"},
		{"link logs", "InputsOpenForWriting"},
		{"fails on a bad file", "UnpublishableFile/missing"},
		{"fails on a bad file", "UnpublishableFile/symlink"},
		{"in place", "FailureKeepsPrevious"},
		{"in place", "CancelledContext"},
		{"sticky failure", "GoodAfterFailure"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.flaw, tc.fails), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFlawed$", "-test.v", "-test.count=1", "-test.timeout=2m")
			cmd.Env = append(os.Environ(), flawEnv+"="+tc.flaw)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a publisher with flaw %q:\n%s", tc.flaw, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestFlawed/"+tc.fails+" ") {
				t.Errorf("flaw %q did not fail %s:\n%s", tc.flaw, tc.fails, out)
			}
		})
	}
}
