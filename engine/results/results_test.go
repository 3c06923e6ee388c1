package results

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/autobuild/autobuild/engine/report"
)

// write puts content at a fresh results path and returns it.
func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), ".autobuild-results")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func names(fs []report.TestFailure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

const junitMixed = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="calc" tests="5" failures="1" errors="1" skipped="1">
    <testcase classname="calc.Add" name="small" time="0.1"/>
    <testcase classname="calc.Add" name="overflow"><failure message="want 0, got 1">add_test.go:12: want 0, got 1</failure></testcase>
    <testcase classname="calc.Div" name="by zero"><error type="Panic"><![CDATA[panic: division by zero
goroutine 1]]></error></testcase>
    <testcase classname="calc.Div" name="slow"><skipped message="too slow"/></testcase>
    <testcase name="calc.Sub negative"/>
  </testsuite>
</testsuites>
`

const junitNested = `<testsuites>
  <testsuite name="outer">
    <testcase name="a"/>
    <testsuite name="inner">
      <testcase name="b"><failure message="b broke"/></testcase>
      <testsuite name="innermost"><testcase name="c"/><testcase name="d"><skipped/></testcase></testsuite>
    </testsuite>
  </testsuite>
</testsuites>`

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    report.Tests
		fails   []string
		message map[string]string // failing case → message
		bad     string            // Unreadable contains this
	}{
		{name: "junit failures skips errors", in: junitMixed,
			want:    report.Tests{Format: JUnit, Passed: 2, Failed: 2, Skipped: 1},
			fails:   []string{"calc.Add.overflow", "calc.Div.by zero"},
			message: map[string]string{"calc.Add.overflow": "want 0, got 1", "calc.Div.by zero": "panic: division by zero\ngoroutine 1"}},
		{name: "junit nested testsuites", in: junitNested,
			want: report.Tests{Format: JUnit, Passed: 2, Failed: 1, Skipped: 1}, fails: []string{"b"}},
		{name: "junit single testsuite, no declaration", in: `<testsuite name="s"><testcase name="x"/><testcase name="y"><failure>boom</failure></testcase></testsuite>`,
			want: report.Tests{Format: JUnit, Passed: 1, Failed: 1}, fails: []string{"y"}, message: map[string]string{"y": "boom"}},
		{name: "junit after a byte order mark and blanks", in: "\xef\xbb\xbf\n  <testsuite><testcase name=\"x\"/></testsuite>",
			want: report.Tests{Format: JUnit, Passed: 1}},
		{name: "junit malformed", in: "<testsuite><testcase name=\"x\">\n</testsuite>", bad: "JUnit XML: XML syntax error on line 2"},
		{name: "junit without testsuite", in: "<html><body>no tests</body></html>", bad: "no <testsuite> element"},
		{name: "junit in an encoding it cannot read", in: `<?xml version="1.0" encoding="ISO-8859-1"?><testsuite/>`, bad: "ISO-8859-1"},
		{name: "junit nested too deep", in: strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1), bad: "nested deeper than 64"},
		{name: "junit with too many attributes", in: func() string {
			var b strings.Builder
			b.WriteString(`<testsuite><testcase name="x" `)
			for i := 0; i < MaxNodes; i++ {
				fmt.Fprintf(&b, `a%d="" `, i)
			}
			return b.String() + "/></testsuite>"
		}(), bad: "more than 400000 elements and attributes"},
		{name: "junit within the depth", in: "<testsuites>" + strings.Repeat("<testsuite>", MaxDepth-2) + `<testcase name="deep"/>` + strings.Repeat("</testsuite>", MaxDepth-2) + "</testsuites>",
			want: report.Tests{Format: JUnit, Passed: 1}},

		{name: "tap plan skip todo not ok", in: `TAP version 13
1..6
ok 1 - adds
not ok 2 - subtracts
# got: 1
# expected: 2
ok 3 - divides # SKIP no-float hardware
not ok 4 - multiplies # TODO not written yet
ok 5 # skip
not ok 6 - rounds
  ---
  message: off by one
  ...
`, want: report.Tests{Format: TAP, Passed: 1, Failed: 2, Skipped: 3}, fails: []string{"2 - subtracts", "6 - rounds"},
			message: map[string]string{"2 - subtracts": "got: 1\nexpected: 2", "6 - rounds": "message: off by one"}},
		{name: "tap without a version line (Test::More)", in: "1..3\nok 1 - a\nnot ok 2 - b\n#   Failed test 'b'\nok 3 - c # TODO later\n",
			want: report.Tests{Format: TAP, Passed: 1, Failed: 1, Skipped: 1}, fails: []string{"2 - b"}},
		{name: "tap several programs in a row (Test::Harness, verbose)", in: `t/00-load.t ..
1..2
ok 1 - use Foo
ok 2 - use Foo::Bar
ok
t/10-calc.t ...
1..3
ok 1 - add
not ok 2 - sub
ok 3 - mul
Failed 1/3 subtests
`, // The harness's own "ok" after a program is a valid test line: it
			// counts as one more passed test.
			want: report.Tests{Format: TAP, Passed: 5, Failed: 1}, fails: []string{"2 - sub"}},
		{name: "tap 14 with a subtest", in: `TAP version 14
# Subtest: parser
    # Subtest: nested
        ok 1 - deep
    ok 1 - nested
    not ok 2 - inner failure
    1..2
not ok 1 - parser
z
ok 2 - last
1..2
`, want: report.Tests{Format: TAP, Passed: 1, Failed: 1}, fails: []string{"1 - parser"}},
		{name: "tap without numbers", in: "ok - first\nnot ok - second\nnot ok\n",
			want: report.Tests{Format: TAP, Passed: 1, Failed: 2}, fails: []string{"2 - second", "3"}},
		{name: "tap bail out", in: "1..3\nok 1\nBail out! database gone\n",
			want: report.Tests{Format: TAP, Passed: 1, Failed: 1}, fails: []string{"Bail out!"}, message: map[string]string{"Bail out!": "database gone"}},
		{name: "tap skip all", in: "1..0 # SKIP no database here\n", want: report.Tests{Format: TAP}},
		{name: "tap with CRLF", in: "1..2\r\nok 1 - a\r\nnot ok 2 - b\r\n", want: report.Tests{Format: TAP, Passed: 1, Failed: 1}, fails: []string{"2 - b"}},
		{name: "tap with a line over 64 KiB", in: "ok 1 - " + strings.Repeat("x", 100<<10) + "\nnot ok 2 - after\n",
			want: report.Tests{Format: TAP, Passed: 1, Failed: 1}, fails: []string{"2 - after"}},

		{name: "garbage", in: "PASS: test-foo\nFAIL: test-bar\n============\n", bad: "neither JUnit XML"},
		{name: "binary garbage", in: "\x00\x01\x02\xff\xfe", bad: "neither JUnit XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Read(write(t, tt.in))
			if got == nil {
				t.Fatal("nil: the file was not taken as results")
			}
			if tt.bad != "" {
				if !strings.Contains(got.Unreadable, tt.bad) || got.Format != "" || got.Passed+got.Failed+got.Skipped != 0 {
					t.Fatalf("got %+v, want unreadable with %q", got, tt.bad)
				}
				return
			}
			if got.Unreadable != "" {
				t.Fatalf("unreadable: %s", got.Unreadable)
			}
			if got.Format != tt.want.Format || got.Passed != tt.want.Passed || got.Failed != tt.want.Failed || got.Skipped != tt.want.Skipped {
				t.Errorf("got %s %d passed, %d failed, %d skipped; want %s %d, %d, %d", got.Format, got.Passed, got.Failed, got.Skipped,
					tt.want.Format, tt.want.Passed, tt.want.Failed, tt.want.Skipped)
			}
			if fmt.Sprint(names(got.Failures)) != fmt.Sprint(tt.fails) {
				t.Errorf("failing cases %q, want %q", names(got.Failures), tt.fails)
			}
			for _, f := range got.Failures {
				if want, ok := tt.message[f.Name]; ok && f.Message != want {
					t.Errorf("%s: message %q, want %q", f.Name, f.Message, want)
				}
			}
		})
	}
}

// No file, or an empty one, is no results: nothing to report.
func TestNoResults(t *testing.T) {
	if got := Read(filepath.Join(t.TempDir(), "absent")); got != nil {
		t.Errorf("absent file: %+v", got)
	}
	if got := Read(filepath.Join(t.TempDir(), "no-such-folder", "absent")); got != nil {
		t.Errorf("absent folder: %+v", got)
	}
	for _, in := range []string{"", " \n\t\r\n", "\xef\xbb\xbf"} {
		if got := Read(write(t, in)); got != nil {
			t.Errorf("%q: %+v", in, got)
		}
	}
}

// Only the first MaxFailures failing cases are named; the rest counted.
func TestFailuresBounded(t *testing.T) {
	var tapIn, junitIn strings.Builder
	junitIn.WriteString("<testsuite>")
	for i := 1; i <= 130; i++ {
		fmt.Fprintf(&tapIn, "not ok %d - case %d\n", i, i)
		fmt.Fprintf(&junitIn, `<testcase name="case %d"><failure/></testcase>`, i)
	}
	junitIn.WriteString("</testsuite>")
	for _, in := range []string{tapIn.String(), junitIn.String()} {
		got := Read(write(t, in))
		if got.Failed != 130 || len(got.Failures) != MaxFailures || got.FailuresOmitted != 130-MaxFailures {
			t.Fatalf("failed %d, named %d, omitted %d", got.Failed, len(got.Failures), got.FailuresOmitted)
		}
		if !strings.HasSuffix(got.Failures[0].Name, "case 1") || !strings.HasSuffix(got.Failures[MaxFailures-1].Name, fmt.Sprintf("case %d", MaxFailures)) {
			t.Errorf("not the first ones, in order: %q", names(got.Failures))
		}
	}
}

// A name or message the build chose reaches the report printable and
// bounded: control characters, bidirectional overrides and bytes that
// are not UTF-8 are replaced, and a long one is cut.
func TestNamesAndMessagesArePrintable(t *testing.T) {
	hostile := "a\x1b[31mred\x07\u202eevil\xff\xfe" + strings.Repeat("é", 4000)
	in := "not ok 1 - " + hostile + "\n# " + hostile + "\n# second line\n"
	got := Read(write(t, in))
	if len(got.Failures) != 1 {
		t.Fatalf("%+v", got)
	}
	f := got.Failures[0]
	for what, s := range map[string]string{"name": f.Name, "message": f.Message} {
		if !utf8.ValidString(s) {
			t.Errorf("%s is not UTF-8: %q", what, s)
		}
		for _, r := range s {
			if r != '\n' && !unicode.IsPrint(r) {
				t.Errorf("%s holds %U: %q", what, r, s)
				break
			}
		}
		if !strings.HasSuffix(s, "…") {
			t.Errorf("%s was not cut: %d bytes", what, len(s))
		}
		if !strings.Contains(s, "red") || !strings.Contains(s, "evil") {
			t.Errorf("%s lost its printable text: %q", what, s)
		}
	}
	if len(f.Name) > MaxName || len(f.Message) > MaxMessage {
		t.Errorf("name %d bytes (max %d), message %d bytes (max %d)", len(f.Name), MaxName, len(f.Message), MaxMessage)
	}
	if strings.Contains(f.Name, "\n") {
		t.Errorf("name holds a line break: %q", f.Name)
	}
	// Short ones are kept whole.
	if c := clean("exactly", len("exactly"), false); c != "exactly" {
		t.Errorf("clean cut a string that fits: %q", c)
	}
}

// The file is the build's: whatever it made of it, the engine reads only
// a regular file of bounded size, and does not block on it. Each attack
// has its control: the same content as a plain file is read.
func TestHostileFiles(t *testing.T) {
	const tapIn = "1..2\nok 1 - a\nnot ok 2 - b\n"
	control := func(t *testing.T) {
		t.Helper()
		if got := Read(write(t, tapIn)); got == nil || got.Unreadable != "" || got.Passed != 1 || got.Failed != 1 {
			t.Fatalf("control: %+v", got)
		}
	}
	refused := func(t *testing.T, p, want string) {
		t.Helper()
		got := Read(p)
		if got == nil || !strings.Contains(got.Unreadable, want) || got.Passed+got.Failed+got.Skipped != 0 {
			t.Fatalf("got %+v, want unreadable with %q", got, want)
		}
	}
	t.Run("symlink to /etc/passwd", func(t *testing.T) {
		control(t)
		p := filepath.Join(t.TempDir(), ".autobuild-results")
		if err := os.Symlink("/etc/passwd", p); err != nil {
			t.Fatal(err)
		}
		refused(t, p, "a symbolic link")
		if got := Read(p); strings.Contains(got.Unreadable, "root") {
			t.Errorf("the message shows the target's content: %s", got.Unreadable)
		}
	})
	t.Run("symlink to a results file", func(t *testing.T) {
		target := write(t, tapIn)
		p := filepath.Join(t.TempDir(), ".autobuild-results")
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		refused(t, p, "a symbolic link")
	})
	t.Run("hard link", func(t *testing.T) {
		control(t)
		dir := t.TempDir()
		other := filepath.Join(dir, "someone-elses")
		if err := os.WriteFile(other, []byte(tapIn), 0o600); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, ".autobuild-results")
		if err := os.Link(other, p); err != nil {
			t.Fatal(err)
		}
		refused(t, p, "2 links")
	})
	t.Run("FIFO without a writer", func(t *testing.T) {
		control(t)
		p := filepath.Join(t.TempDir(), ".autobuild-results")
		if err := syscall.Mkfifo(p, 0o666); err != nil {
			t.Fatal(err)
		}
		// An open for reading would block until a writer comes: none
		// will. The test returns only if Read does not open it.
		refused(t, p, "a named pipe (FIFO)")
	})
	t.Run("folder", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), ".autobuild-results")
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		refused(t, p, "a folder")
	})
	t.Run("over the size limit", func(t *testing.T) {
		control(t)
		p := write(t, tapIn+strings.Repeat("# padding\n", MaxSize/10+1))
		refused(t, p, "over the limit of 8.0 MiB")
		// At the limit, it is read.
		p = write(t, tapIn+strings.Repeat("#", MaxSize-len(tapIn)-1)+"\n")
		if got := Read(p); got.Unreadable != "" || got.Failed != 1 {
			t.Errorf("a file of exactly %d bytes: %+v", MaxSize, got)
		}
	})
	t.Run("sparse 1 TiB file", func(t *testing.T) {
		p := write(t, tapIn)
		if err := os.Truncate(p, 1<<40); err != nil {
			t.Skipf("this file system cannot hold a sparse file of 1 TiB: %v", err)
		}
		refused(t, p, "over the limit")
	})
	t.Run("XML whose content multiplies with its depth", func(t *testing.T) {
		// Within the size and depth limits, but each of the 60 nested
		// elements holds the 2 MiB of text below it: go-junit would keep
		// 120 MiB.
		in := strings.Repeat("<testsuite>", 60) + strings.Repeat("x", 2<<20) + strings.Repeat("</testsuite>", 60)
		refused(t, write(t, in), "adds up to more than")
		// The same content, not nested, is read.
		flat := "<testsuites><testsuite><testcase name=\"a\"/></testsuite>" + strings.Repeat("<testsuite/>", 58) + "<x>" + strings.Repeat("x", 2<<20) + "</x></testsuites>"
		if got := Read(write(t, flat)); got.Unreadable != "" || got.Passed != 1 {
			t.Errorf("flat: %+v", got)
		}
	})
}

func TestDescribe(t *testing.T) {
	for _, c := range []struct {
		in   *report.Tests
		want string
	}{
		{nil, "no results file"},
		{&report.Tests{Unreadable: "it is a folder"}, "the results file could not be read: it is a folder"},
		{&report.Tests{Format: JUnit, Passed: 3, Failed: 1, Failures: []report.TestFailure{{Name: "x"}}, FailuresOmitted: 2},
			"JUnit XML: 3 passed, 1 failed, 0 skipped\n  failed: x\n  and 2 more failed"},
		{&report.Tests{Format: TAP, Skipped: 1}, "TAP: 0 passed, 0 failed, 1 skipped"},
	} {
		if got := Describe(c.in); got != c.want {
			t.Errorf("Describe(%+v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// BenchmarkLargestJUnit reads the costliest JUnit file within the
// limits: 8 MiB of test cases with three attributes each, near MaxNodes.
// It reports the engine's peak heap while reading it (sampled).
func BenchmarkLargestJUnit(b *testing.B) {
	var in strings.Builder
	in.WriteString("<testsuites><testsuite>")
	for n := 0; n < 88_000; n++ {
		in.WriteString(`<testcase classname="org.example.pkg.SomeClass" name="testSomethingQuiteLong" time="0.001"/>`)
	}
	in.WriteString("</testsuite></testsuites>")
	p := filepath.Join(b.TempDir(), ".autobuild-results")
	if err := os.WriteFile(p, []byte(in.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	in.Reset()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		if got := Read(p); got.Passed != 88_000 {
			b.Fatalf("%+v", got)
		}
	}
	close(stop)
	<-sampled
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}
