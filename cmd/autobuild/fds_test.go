package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A descriptor the engine inherited (cron's, a shell's, a job runner's)
// does not reach any step, confined or not: the engine marks everything it
// did not open itself close-on-exec before it starts anything.
func TestInheritedDescriptorsDoNotReachSteps(t *testing.T) {
	f := newFarm(t)
	secret := filepath.Join(f.dir, "inherited-secret")
	if err := os.WriteFile(secret, []byte("only the engine's parent opened this\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The last fd of the listing is the glob's own, closed by then.
	script := "#!/bin/sh\nfor fd in /proc/self/fd/*; do readlink $fd; done > $AUTOBUILD_PACKAGE_ROOT/fds\nexit 0\n"
	f.config(fmt.Sprintf("modules:\n  - name: confined\n    source: {url: %s}\n  - name: control\n    source: {url: %s}\n    trust: unconfined\n",
		f.repo("confined", map[string]string{"autobuild.sh": script}),
		f.repo("control", map[string]string{"autobuild.sh": script})))
	inherited, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer inherited.Close()
	// The engine gets it as fd 3, without close-on-exec, as a careless
	// parent would leave it.
	cmd := exec.Command(bin, "run", "--config", f.cfg)
	cmd.ExtraFiles = []*os.File{inherited}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, m := range []string{"confined", "control"} {
		b, err := os.ReadFile(filepath.Join(f.root, "package-root", m, "fds"))
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("%s's build holds the engine's inherited descriptor:\n%s", m, b)
		}
		if !strings.Contains(string(b), "/fds") {
			t.Errorf("%s: the listing does not show the build's own open file, so it proves nothing:\n%s", m, b)
		}
	}
}
