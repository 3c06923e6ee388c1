package build

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/sandbox"
)

// The build contract: every AUTOBUILD_* variable, and only the
// dependencies' folders that exist on the search paths.
func TestEnv(t *testing.T) {
	req := Request{
		Module: "app", Env: []string{"CFLAGS=-O2"},
		Dirs:    Dirs{Source: "/b/src/app", Install: "/b/inst/app", Package: "/b/pkg/app", Tmp: "/b/tmp/app"},
		Deps:    []Dep{{Name: "lib-foo.x", Root: "/b/inst/lib-foo.x"}, {Name: "z", Root: "/b/inst/z"}},
		Counter: 7, Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), Revision: "abc",
		Profile: sandbox.Profile{Level: "isolated"},
	}
	exists := map[string]bool{"/b/inst/lib-foo.x/usr/bin": true, "/b/inst/lib-foo.x/usr/lib": true, "/b/inst/z/usr/include": true}
	env, notes := Env(req, func(p string) bool { return exists[p] })
	if len(notes) > 0 {
		t.Errorf("notes for two dependencies: %q", notes)
	}
	want := []string{
		"PATH=/b/inst/lib-foo.x/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/b/tmp/app", "TMPDIR=/b/tmp/app",
		"LD_LIBRARY_PATH=/b/inst/lib-foo.x/usr/lib", "LIBRARY_PATH=/b/inst/lib-foo.x/usr/lib",
		"CPATH=/b/inst/z/usr/include",
		"AUTOBUILD_MODULE=app", "AUTOBUILD_SOURCE_ROOT=/b/src/app", "AUTOBUILD_INSTALL_ROOT=/b/inst/app",
		"AUTOBUILD_PACKAGE_ROOT=/b/pkg/app", "AUTOBUILD_COUNTER=7", "AUTOBUILD_TIMESTAMP=2026-01-02T02:04:05Z",
		"AUTOBUILD_REVISION=abc", "AUTOBUILD_LEVEL=isolated", "AUTOBUILD_DEPS_FILE=/b/tmp/app/.autobuild-deps",
		"AUTOBUILD_DEP_ROOTS=/b/inst/lib-foo.x:/b/inst/z",
		"AUTOBUILD_DEP_LIB_FOO_X_ROOT=/b/inst/lib-foo.x", "AUTOBUILD_DEP_Z_ROOT=/b/inst/z",
		"CFLAGS=-O2",
	}
	for _, w := range want {
		if !slices.Contains(env, w) {
			t.Errorf("missing %s", w)
		}
	}
	for _, e := range env {
		if strings.HasPrefix(e, "PKG_CONFIG_PATH=") {
			t.Errorf("%s set although no dependency has a pkgconfig folder", e)
		}
	}
	if env[len(env)-1] != "CFLAGS=-O2" {
		t.Errorf("the module's own settings do not come last: %v", env)
	}
}
