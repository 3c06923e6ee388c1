package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// What cron mails: nothing for a good run or a run whose only failure is
// one already reported (still failing with unchanged inputs); for a new
// failure, each failed and skipped module with its reason, its log and
// the log's last lines.
func TestCronOutput(t *testing.T) {
	f := newFarm(t)
	f.repo("ok", script(`echo fine`))
	bad := f.repo("bad", script(`echo "compiling frob.c"; printf 'frob.c:3: error: \033[31mno\033[0m\n'; exit 2`))
	f.repo("app", script(`echo app`))
	f.config(`publish: {url: "https://build.example.org/ci/"}
modules:
  - {name: ok, source: {url: repos/ok}}
  - {name: bad, source: {url: repos/bad}}
  - {name: app, source: {url: repos/app}, depends: [bad]}
`)
	// ab runs the binary with pipes: no terminal, as under cron.
	r := f.run()
	if r.code != 1 {
		t.Fatalf("want exit 1\n%s", r.dump())
	}
	t.Logf("a failing run, as cron mails it:\n%s", r.stdout)
	for _, want := range []string{
		`(?m)^run 1: 1 built, 0 reused, 1 failed, 1 skipped in \S+$`,
		`(?m)^FAILED bad: build failed: exit status 2$`,
		`(?m)^  log: /\S+/log-root/1/bad\.log$`,
		`(?m)^  url: https://build\.example\.org/ci/logs/bad\.log$`,
		`(?m)^  \| compiling frob\.c$`,
		`(?m)^  \| frob\.c:3: error: \\x1b\[31mno\\x1b\[0m$`,
		`(?m)^SKIPPED app: dependency bad failed$`,
		`(?m)^site: /\S+/public_html/index\.html$`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("the report does not match %s", want)
		}
	}
	if strings.Contains(r.stdout, "\033") || r.stderr != "" {
		t.Errorf("raw escape in the report, or stderr not empty:\n%s", r.dump())
	}
	// Still failing, nothing changed: quiet, exit 1.
	if r := f.run(); r.code != 1 || r.stdout != "" || r.stderr != "" {
		t.Errorf("a run with only a known failure: want exit 1 and no output\n%s", r.dump())
	}
	// Fixed: a good run is quiet.
	testutil.Commit(t, bad, script(`echo fixed`))
	if r := f.run(); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("a good run: want exit 0 and no output\n%s", r.dump())
	}
	// --progress=plain prints the summary whatever stdout is.
	if r := f.run("--progress=plain"); r.code != 0 || !strings.Contains(r.stdout, "run 4: 0 built, 3 reused") {
		t.Errorf("--progress=plain: want the summary\n%s", r.dump())
	}
}

// public_html is a relative link: the build root moved elsewhere (or
// bind-mounted) still serves its site, and runs on from there.
func TestSiteLinkSurvivesAMove(t *testing.T) {
	f := newFarm(t)
	f.repo("mod", script(`echo built > "$AUTOBUILD_PACKAGE_ROOT/mod.bin"`))
	f.config("modules:\n  - {name: mod, source: {url: repos/mod}}\n")
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	moved := filepath.Join(testutil.Dir(t), "moved")
	if err := os.Rename(f.dir, moved); err != nil {
		t.Fatal(err)
	}
	f.dir, f.cfg, f.root = moved, filepath.Join(moved, "autobuild.yaml"), filepath.Join(moved, "build")
	if b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "mod", "mod.bin")); err != nil || string(b) != "built\n" {
		t.Fatalf("the moved site does not serve its artifact: %q, %v", b, err)
	}
	if r := f.run(); r.code != 0 {
		t.Fatalf("a run in the moved build root:\n%s", r.dump())
	}
	if st := f.status(); st.Counter != 2 {
		t.Errorf("the moved build root's run is %d, want 2", st.Counter)
	}
}

// A failed log's address: on the files origin when there is one, else on
// the site, else none.
func TestReportLogURL(t *testing.T) {
	m := report.Module{Name: "lib#1"}
	for _, tt := range []struct{ base, files, want string }{
		{"", "", ""},
		{"https://ci.example.org/", "", "https://ci.example.org/logs/lib%231.log"},
		{"https://ci.example.org", "https://files.example.org/ci/", "https://files.example.org/ci/logs/lib%231.log"},
	} {
		if got := (runReport{baseURL: tt.base, filesURL: tt.files}).logURL(m); got != tt.want {
			t.Errorf("logURL(%q, %q) = %q, want %q", tt.base, tt.files, got, tt.want)
		}
	}
}
