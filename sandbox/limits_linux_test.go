package sandbox_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
)

// A confined step's output written straight into a log file meets the
// step's file size limit: the step dies of SIGXFSZ (exit status 153), and
// the Result names the limit. That is the control of the fix: the same
// step with an output limit writes through the engine's pipe, and
// succeeds with its whole output in the log.
func TestOutputLimitKeepsTheLogFromTheFileSizeLimit(t *testing.T) {
	r := &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}
	prof := confined(t, "", 1024)
	prof.Limits.FileSize = 128 << 10
	w := stepDir(t, prof.UID, prof.GID)
	prof.Write = []string{w}
	for _, tc := range []struct {
		name  string
		limit int64
	}{{"straight into the file", 0}, {"through the engine, limited", 1 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			logPath := filepath.Join(testutil.Dir(t), "log")
			log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			res, err := r.Run(context.Background(), &sandbox.Step{
				Args: []string{"/bin/sh", "-c", "head -c 262144 /dev/zero"}, Dir: w, Env: []string{"PATH=/usr/bin:/bin"},
				Stdout: log, Stderr: log, OutputLimit: tc.limit, Timeout: 20 * time.Second, Profile: prof,
			})
			if err != nil {
				t.Fatal(err)
			}
			info, _ := os.Stat(logPath)
			if tc.limit == 0 {
				if res.ExitCode != 128+int(syscall.SIGXFSZ) || !strings.Contains(res.Exhausted, "file size limit exceeded (SIGXFSZ): a file the step wrote reached 128 KiB") {
					t.Errorf("control: %+v, want exit status 153 and the limit named", res)
				}
				return
			}
			if res.ExitCode != 0 || res.Exhausted != "" || res.OutputDiscarded != 0 || info.Size() != 262144 {
				t.Errorf("%+v, log %d bytes: want success with all 262144 bytes in the log", res, info.Size())
			}
		})
	}
}

// A process that reaches the CPU time limit is killed by SIGXCPU, which
// the Result names (here as the shell reports it: the spinning process is
// the shell's child, as a compiler is; the step's first process, the init
// of its PID namespace, ignores SIGXCPU and is killed by SIGKILL a second
// later). Without a limit, the same exit status names nothing.
func TestCPULimitNamed(t *testing.T) {
	r := &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}
	prof := confined(t, "", 1024)
	prof.Limits.CPUSeconds = 1
	w := stepDir(t, prof.UID, prof.GID)
	prof.Write = []string{w}
	var out bytes.Buffer
	res, err := r.Run(context.Background(), &sandbox.Step{
		Args: []string{"/bin/sh", "-c", "sh -c 'while :; do :; done'; exit $?"}, Dir: w, Env: []string{"PATH=/usr/bin:/bin"},
		Stdout: &out, Stderr: &out, Timeout: 60 * time.Second, Profile: prof,
	})
	if err != nil || res.TimedOut {
		t.Fatalf("Run: %+v, %v", res, err)
	}
	if res.ExitCode != 128+int(syscall.SIGXCPU) || !strings.Contains(res.Exhausted, "CPU time limit exceeded (SIGXCPU)") {
		t.Errorf("%+v, want exit status 152 and the CPU time limit named", res)
	}
	prof.Limits.CPUSeconds = 0
	res, err = r.Run(context.Background(), &sandbox.Step{
		Args: []string{"/bin/sh", "-c", "exit 152"}, Dir: w, Env: []string{"PATH=/usr/bin:/bin"},
		Stdout: &out, Stderr: &out, Timeout: 20 * time.Second, Profile: prof,
	})
	if err != nil || res.ExitCode != 152 || res.Exhausted != "" {
		t.Errorf("without a CPU time limit: %+v, %v: want exit status 152 and nothing named", res, err)
	}
}

// A step that fails because a folder it writes is on a full file system
// has that named; a step that fails with room to spare does not.
func TestDiskFullNamed(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.Skip(t, "mounting a small file system needs root")
	}
	r := &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}
	for _, tc := range []struct {
		name, size string
		full       bool
	}{{"full", "1m", true}, {"control: room to spare", "8m", false}} {
		t.Run(tc.name, func(t *testing.T) {
			w := filepath.Join(testutil.Dir(t), "w")
			if err := os.Mkdir(w, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mount("tmpfs", w, "tmpfs", 0, "size="+tc.size+",mode=0777"); err != nil {
				testutil.Skip(t, "cannot mount a tmpfs: "+err.Error())
			}
			t.Cleanup(func() { syscall.Unmount(w, syscall.MNT_DETACH) })
			var out bytes.Buffer
			res, err := r.Run(context.Background(), &sandbox.Step{
				Args: []string{"/bin/sh", "-c", "head -c 2097152 /dev/zero > big && echo written; exit 1"}, Dir: w, Env: []string{"PATH=/usr/bin:/bin"},
				Stdout: &out, Stderr: &out, Timeout: 20 * time.Second,
				Profile: sandbox.Profile{Level: "unconfined", UID: -1, GID: -1, Write: []string{w}},
			})
			if err != nil || res.ExitCode != 1 {
				t.Fatalf("Run: %+v, %v", res, err)
			}
			named := strings.Contains(res.Exhausted, "no space left on the file system of "+w)
			if named != tc.full || tc.full == strings.Contains(out.String(), "written") {
				t.Errorf("Exhausted %q, output %q: want the full file system named: %v", res.Exhausted, out.String(), tc.full)
			}
		})
	}
}

// The helper takes its instructions only from the engine: variables of
// their names in the step's own environment are dropped, and none reach
// the command.
func TestSpecVariablesOfTheStepDropped(t *testing.T) {
	r := &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}
	prof := confined(t, "", 1024)
	w := stepDir(t, prof.UID, prof.GID)
	prof.Write = []string{w}
	var out bytes.Buffer
	res, err := r.Run(context.Background(), &sandbox.Step{
		Args: []string{"/bin/sh", "-c", "env | grep AUTOBUILD_SANDBOX || echo none"}, Dir: w,
		Env:    []string{"PATH=/usr/bin:/bin", "AUTOBUILD_SANDBOX_SPEC={}", "AUTOBUILD_SANDBOX_SPEC_1=junk", "AUTOBUILD_SANDBOX_SPEC_2=junk"},
		Stdout: &out, Stderr: &out, Timeout: 20 * time.Second, Profile: prof,
	})
	if err != nil || res.ExitCode != 0 || out.String() != "none\n" {
		t.Errorf("Run: %+v, %v, output %q: want the step to run without them", res, err, out.String())
	}
}
