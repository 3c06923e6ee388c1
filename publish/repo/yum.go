package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// writeYum writes the yum repository dir (repos/yum) of the site with
// createrepo_c, and signs its repomd.xml.
func (r *Repos) writeYum(ctx context.Context, key *Key, site, dir, prev string, rpms []pkg) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if err := linkPool(site, dir, rpms); err != nil {
		return err
	}
	args := []string{"--update", "--no-database", "--workers", "1", "--quiet", "--repomd-checksum", "sha256"}
	if prev != "" {
		old := filepath.Join(prev, "yum", "repodata")
		if st, err := os.Stat(filepath.Join(old, "repomd.xml")); err == nil && st.Mode().IsRegular() {
			args = append(args, "--update-md-path", old)
		}
	}
	args = append(args, dir)
	if err := r.run(ctx, args); err != nil {
		return err
	}
	repodata := filepath.Join(dir, "repodata")
	repomd, err := os.ReadFile(filepath.Join(repodata, "repomd.xml"))
	if err != nil {
		return fmt.Errorf("createrepo_c wrote no repomd.xml: %v", err)
	}
	sig, err := key.DetachSign(repomd)
	if err != nil {
		return fmt.Errorf("sign repomd.xml: %w", err)
	}
	if err := writeFile(filepath.Join(repodata, "repomd.xml.asc"), sig); err != nil {
		return err
	}
	// The site's files are read-only; createrepo_c's leftovers go.
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			return os.Chmod(p, 0o444)
		}
		return nil
	})
}

// run runs createrepo_c, bounded by Timeout and ctx.
func (r *Repos) run(ctx context.Context, args []string) error {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	prog := r.Createrepo
	if prog == "" {
		prog = "createrepo_c"
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, prog, args...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "HOME=/nonexistent"}
	out := &tail{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	// createrepo_c and anything it starts are one session, killed
	// together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("createrepo_c stopped: %w", context.Cause(ctx))
	case tctx.Err() != nil:
		return fmt.Errorf("createrepo_c still ran after %v: killed%s", timeout, out.said())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("createrepo_c exited with status %d%s", ee.ExitCode(), out.said())
	}
	return fmt.Errorf("createrepo_c: %v%s", err, out.said())
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) said() string {
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ": " + s
}
