package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A module's checkout does not wait for its dependencies' builds: while
// lib builds, app's source is already checked out. lib's build (at
// unconfined, so it can look) waits for app's checkout to appear and fails
// if it never does, which it would without the prefetch: app's checkout
// would come only after lib's build. The second run changes nothing and
// checks nothing out.
func TestCheckoutsRunAheadOfDependencies(t *testing.T) {
	f := newFarm(t)
	f.config(fmt.Sprintf(`workers: 1
modules:
  - name: lib
    source: {url: %s}
    trust: unconfined
  - name: app
    source: {url: %s}
    depends: [lib]
`, f.repo("lib", map[string]string{"autobuild.sh": `#!/bin/sh
for i in $(seq 100); do
  test -f "$AUTOBUILD_SOURCE_ROOT/../app/app-marker" && exit 0
  sleep 0.1
done
echo "app was not checked out while lib built" >&2
exit 1
`}), f.repo("app", map[string]string{"autobuild.sh": "#!/bin/sh\ntrue\n", "app-marker": "x\n"})))
	if r := f.run(); r.code != 0 {
		t.Fatalf("run:\n%s", r.dump())
	}
	if r := f.run(); r.code != 0 {
		t.Fatalf("second run:\n%s", r.dump())
	}
	for _, m := range f.status().Modules {
		if m.State != "reused" {
			t.Errorf("%s: %s (%s), want reused", m.Name, m.State, m.Reason)
		}
		b, err := os.ReadFile(filepath.Join(f.root, "log-root", "2", m.Name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "checkout ") {
			t.Errorf("%s was checked out in a run that changed nothing:\n%s", m.Name, b)
		}
	}
}
