package main

import (
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
)

// Scripts written for Test-AutoBuild find the results file in $1, the
// others in $AUTOBUILD_RESULTS_FILE (the same path); a command string
// finds it in its own $1.
const (
	// junitScript writes JUnit XML to $1, as a Test-AutoBuild script
	// did, after checking that $1 and the variable agree.
	junitScript = `TEST_RESULTS=${1:-results.log}
test "$TEST_RESULTS" = "$AUTOBUILD_RESULTS_FILE" || { echo "\$1 is '$TEST_RESULTS', AUTOBUILD_RESULTS_FILE '$AUTOBUILD_RESULTS_FILE'"; exit 1; }
cat > "$TEST_RESULTS" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="calc">
    <testcase classname="calc.Add" name="small"/>
    <testcase classname="calc.Add" name="overflow"><failure message="want 0, got 1">add_test.c:12</failure></testcase>
    <testcase classname="calc.Div" name="slow"><skipped/></testcase>
    <testsuite name="nested"><testcase classname="calc.Mul" name="big"/></testsuite>
  </testsuite>
</testsuites>
EOF`
	// tapScript writes TAP as Test::More does, with no version line; the
	// failing test's name says which build wrote it ($FLAVOUR).
	tapScript = `cat > "$AUTOBUILD_RESULTS_FILE" <<EOF
1..4
ok 1 - parses
not ok 2 - renders ${FLAVOUR:-plain}
#   Failed test 'renders'
ok 3 - skips # SKIP no display
not ok 4 - later # TODO not written
EOF`
)

type resultsFarm struct {
	*farm
}

func newResultsFarm(t *testing.T) resultsFarm {
	f := newFarm(t)
	f.repo("junit", script(junitScript))
	f.repo("tap", script(tapScript))
	f.repo("inline", script(`echo "the command string writes the results"`))
	f.repo("garbage", script(`printf 'PASS: a\nFAIL: b\n' > "$1"`))
	f.repo("symlink", script(`ln -s /etc/passwd "$1"`))
	f.repo("fifo", script(`mkfifo "$1"`))
	f.repo("broken", script(`printf '1..2\nok 1 - builds\nnot ok 2 - links\n' > "$1"; exit 3`))
	f.repo("none", script(`echo no tests here`))
	f.repo("scripted", map[string]string{"scripts/tests.sh": "#!/bin/sh\nprintf '1..1\\nok 1 - %s\\n' \"$#\" > \"$1\"\n"})
	return resultsFarm{f}
}

func (f resultsFarm) configure(tapEnv string) {
	f.config(`modules:
  - {name: junit, source: {url: repos/junit}}
  - {name: tap, source: {url: repos/tap}` + tapEnv + `}
  - {name: inline, source: {url: repos/inline}, command: 'printf "1..1\nnot ok 1 - inline\n" > "$1"'}
  - {name: garbage, source: {url: repos/garbage}}
  - {name: symlink, source: {url: repos/symlink}}
  - {name: fifo, source: {url: repos/fifo}}
  - {name: broken, source: {url: repos/broken}}
  - {name: none, source: {url: repos/none}}
  - {name: scripted, source: {url: repos/scripted}, command: scripts/tests.sh}
`)
}

func testsJSON(t *testing.T, m report.Module) string {
	b, err := json.Marshal(m.Tests)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A build leaves its test results in the file named by $1 and
// $AUTOBUILD_RESULTS_FILE; the engine reports them in status.json, on
// the site and in the log, reports a file it cannot read without
// failing the module (the exit status decides), and a reused module
// keeps the results of the build it reuses.
func TestResultsFile(t *testing.T) {
	f := newResultsFarm(t)
	f.configure("")
	if r := f.run(); r.code != 1 {
		t.Fatalf("run 1: want exit 1 (broken fails)\n%s", r.dump())
	}
	st := f.status()
	want := map[string]struct {
		state                   report.State
		format                  string
		passed, failed, skipped int
		failures                []report.TestFailure
		unreadable              string
	}{
		"junit":   {report.Built, "junit", 2, 1, 1, []report.TestFailure{{Name: "calc.Add.overflow", Message: "want 0, got 1"}}, ""},
		"tap":     {report.Built, "tap", 1, 1, 2, []report.TestFailure{{Name: "2 - renders plain", Message: "Failed test 'renders'"}}, ""},
		"inline":  {report.Built, "tap", 0, 1, 0, []report.TestFailure{{Name: "1 - inline"}}, ""},
		"garbage": {state: report.Built, unreadable: "neither JUnit XML"},
		"symlink": {state: report.Built, unreadable: "it is a symbolic link, not a regular file"},
		"fifo":    {state: report.Built, unreadable: "it is a named pipe (FIFO), not a regular file"},
		"broken":  {report.Failed, "tap", 1, 1, 0, []report.TestFailure{{Name: "2 - links"}}, ""},
	}
	for name, w := range want {
		m := module(st, name)
		if m.State != w.state {
			t.Errorf("%s: %s (%s), want %s", name, m.State, m.Reason, w.state)
		}
		got := m.Tests
		if got == nil {
			t.Errorf("%s: no tests in status.json", name)
			continue
		}
		if w.unreadable != "" {
			if !strings.Contains(got.Unreadable, w.unreadable) || got.Format != "" {
				t.Errorf("%s: %+v, want unreadable: %s", name, got, w.unreadable)
			}
			if strings.Contains(got.Unreadable, "root:") {
				t.Errorf("%s: the report shows what the link points to: %s", name, got.Unreadable)
			}
			continue
		}
		if got.Format != w.format || got.Passed != w.passed || got.Failed != w.failed || got.Skipped != w.skipped || got.Unreadable != "" {
			t.Errorf("%s: %+v, want %s %d passed, %d failed, %d skipped", name, got, w.format, w.passed, w.failed, w.skipped)
		}
		if b, _ := json.Marshal(got.Failures); string(b) != func() string { b, _ := json.Marshal(w.failures); return string(b) }() {
			t.Errorf("%s: failing cases %s, want %+v", name, b, w.failures)
		}
	}
	// A command that is a path to a script in a folder gets the file as
	// its one argument.
	if m := module(st, "scripted"); m.State != report.Built || m.Tests == nil || m.Tests.Passed != 1 {
		t.Errorf("scripted: %s (%s), tests %+v", m.State, m.Reason, m.Tests)
	}
	if m := module(st, "none"); m.State != report.Built || m.Tests != nil {
		t.Errorf("none: %s, tests %+v: want built and no tests", m.State, m.Tests)
	}

	// The log says what was read.
	for name, line := range map[string]string{
		"junit":   "results: JUnit XML: 2 passed, 1 failed, 1 skipped\n  failed: calc.Add.overflow",
		"tap":     "results: TAP: 1 passed, 1 failed, 2 skipped\n  failed: 2 - renders plain",
		"symlink": "results: the results file could not be read: it is a symbolic link",
	} {
		log, err := os.ReadFile(filepath.Join(f.root, "public_html", module(st, name).Log))
		if err != nil || !strings.Contains(string(log), line) {
			t.Errorf("%s's log lacks %q (%v):\n%s", name, line, err, log)
		}
	}

	// The site shows the counts, the failing cases and why a file was
	// not read.
	page, _ := os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
	for _, s := range []string{
		"tests (JUnit): 2 passed, 1 failed, 1 skipped", "<code>calc.Add.overflow</code>", "want 0, got 1",
		"tests (TAP): 1 passed, 1 failed, 2 skipped", "<code>2 - renders plain</code>",
		"results file not read: it is a named pipe (FIFO), not a regular file",
	} {
		if !strings.Contains(html.UnescapeString(string(page)), s) {
			t.Errorf("index.html lacks %q", s)
		}
	}

	// Run 2 changes nothing: every good module is reused with the same
	// results; the failed one is still failing, with its results.
	before := map[string]string{}
	for _, m := range st.Modules {
		before[m.Name] = testsJSON(t, m)
	}
	if r := f.run(); r.code != 1 {
		t.Fatalf("run 2\n%s", r.dump())
	}
	st = f.status()
	for _, m := range st.Modules {
		wantState := report.Reused
		if m.Name == "broken" {
			wantState = report.Failed
		}
		if m.State != wantState {
			t.Errorf("run 2: %s is %s (%s), want %s", m.Name, m.State, m.Reason, wantState)
		}
		if got := testsJSON(t, m); got != before[m.Name] {
			t.Errorf("run 2: %s reports %s, run 1 %s", m.Name, got, before[m.Name])
		}
	}
	page, _ = os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
	if !strings.Contains(html.UnescapeString(string(page)), "tests (JUnit): 2 passed, 1 failed, 1 skipped") {
		t.Errorf("run 2's site lacks the reused module's results")
	}

	// Run 3 builds tap with another setting, run 4 goes back: its build
	// of run 1 is restored from the archive, with run 1's results.
	f.configure(`, env: ["FLAVOUR=other"]`)
	f.run()
	if m := module(f.status(), "tap"); m.State != report.Built || len(m.Tests.Failures) != 1 || m.Tests.Failures[0].Name != "2 - renders other" {
		t.Fatalf("run 3: tap is %s with %+v", m.State, m.Tests)
	}
	f.configure("")
	f.run()
	m := module(f.status(), "tap")
	if m.State != report.Reused || !strings.Contains(m.Reason, "restored from the build archive (built in run 1)") {
		t.Fatalf("run 4: tap is %s (%s), want restored", m.State, m.Reason)
	}
	if got := testsJSON(t, m); got != before["tap"] {
		t.Errorf("run 4: restored tap reports %s, run 1 %s", got, before["tap"])
	}
}
