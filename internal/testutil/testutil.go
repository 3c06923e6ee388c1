// Package testutil builds the real things tests run on: folders that
// module builds (which run as uids of their own) can read, and git
// repositories made with the git command.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns a fresh folder, readable by every uid, removed after the
// test. (t.TempDir's parents are private to root.)
func Dir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "autobuild-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// Git runs git in dir and returns its trimmed output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Repo creates a git repository at dir/name holding files, committed on
// branch main, and returns its path. A file named autobuild.sh is made
// executable.
func Repo(t testing.TB, dir, name string, files map[string]string) string {
	t.Helper()
	repo := filepath.Join(dir, name)
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	Git(t, repo, "init", "-q")
	Commit(t, repo, files)
	return repo
}

// Commit writes files into repo, commits them and returns the new commit.
func Commit(t testing.TB, repo string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, repo, "add", "-A")
	Git(t, repo, "commit", "-q", "--allow-empty", "-m", "change")
	return Git(t, repo, "rev-parse", "HEAD")
}

// Skip skips the test with reason, or fails it when
// AUTOBUILD_TEST_DISALLOW_SKIP is set (the VM job sets it, so confinement
// tests can never silently vanish).
func Skip(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("AUTOBUILD_TEST_DISALLOW_SKIP") != "" {
		t.Fatalf("cannot run, and skipping is disallowed: %s", reason)
	}
	t.Skip(reason)
}

// NeedTool skips the test when the command name is not on PATH (pkg is
// the Debian package that has it), or fails it when
// AUTOBUILD_TEST_REQUIRE_TOOLS or AUTOBUILD_TEST_DISALLOW_SKIP is set:
// .ci/run installs every tool the tests use and sets the first, so in CI a
// missing tool is a failure, not a skip.
func NeedTool(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	Missing(t, fmt.Sprintf("no %s command (Debian package %s)", name, pkg))
}

// Missing skips the test because a tool it needs is missing, or fails it
// where the tools are required (see NeedTool).
func Missing(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("AUTOBUILD_TEST_REQUIRE_TOOLS") != "" {
		t.Fatalf("%s, and the tools are required here (AUTOBUILD_TEST_REQUIRE_TOOLS)", reason)
	}
	Skip(t, reason)
}
