package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
)

// The engine's places stay out of a step's view even where they lie
// under a system folder the view binds read-only: with the configuration
// in /opt/… and the build root beside it (as /etc/autobuild/build would
// be with the README's cron line), an isolated build still cannot read
// the configuration, the engine's state or another module's source; the
// same build unconfined can (control).
func TestEngineFilesUnderASystemFolderAreHidden(t *testing.T) {
	requireConfinement(t)
	if !sandbox.ProbeHost().MountNS {
		testutil.Skip(t, "this host gives no mount namespace")
	}
	for _, tt := range []struct {
		trust  string
		denied bool
	}{{"isolated", true}, {"unconfined", false}} {
		t.Run(tt.trust, func(t *testing.T) {
			base, err := os.MkdirTemp("/opt", "autobuild-test-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			os.Chmod(base, 0o755)
			f := &farm{t: t, dir: base, cfg: filepath.Join(base, "autobuild.yaml"), root: filepath.Join(base, "build")}
			token := filepath.Base(base)
			f.repo("other", map[string]string{"autobuild.sh": "#!/bin/sh\ntrue\n", "secret.txt": "OTHER-" + token + "\n"})
			f.repo("reader", map[string]string{"autobuild.sh": `#!/bin/sh
pkg=$AUTOBUILD_PACKAGE_ROOT
# A hidden file reads as empty: only content counts.
cat "$CFG" > $pkg/config 2>/dev/null; [ -s $pkg/config ] && echo config >> $pkg/got
cat "$ROOT/state/modules/other.json" > $pkg/state 2>/dev/null; [ -s $pkg/state ] && echo state >> $pkg/got
cat "$ROOT/source-root/other/secret.txt" > $pkg/secret 2>/dev/null; [ -s $pkg/secret ] && echo source >> $pkg/got
touch $pkg/got
`})
			// The configuration names a secret of its own, as module env
			// settings often do.
			f.config(fmt.Sprintf(`modules:
  - {name: other, source: {url: repos/other}}
  - name: reader
    source: {url: repos/reader}
    depends: [other]
    trust: %s
    env: ["CFG=%s", "ROOT=%s", "TOKEN=CONFIG-%s"]
`, tt.trust, f.cfg, f.root, token))
			// Twice: the state file exists only after a first run.
			for i := 0; i < 2; i++ {
				if r := f.run("--force=reader"); r.code != 0 {
					t.Fatalf("run %d:\n%s", i+1, r.dump())
				}
			}
			got, err := os.ReadFile(filepath.Join(f.root, "package-root", "reader", "got"))
			if err != nil {
				t.Fatal(err)
			}
			read := strings.Fields(string(got))
			if tt.denied && len(read) > 0 {
				t.Errorf("an isolated build read %v of the engine's", read)
			}
			if !tt.denied && len(read) != 3 {
				t.Errorf("control: an unconfined build read only %v; the check proves nothing", read)
			}
			for name, secret := range map[string]string{"config": "CONFIG-" + token, "secret": "OTHER-" + token} {
				b, _ := os.ReadFile(filepath.Join(f.root, "package-root", "reader", name))
				if tt.denied == strings.Contains(string(b), secret) {
					t.Errorf("%s: the copy holds the secret: %v (want %v)", name, !tt.denied, !tt.denied)
				}
			}
		})
	}
}
