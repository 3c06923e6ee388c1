package layers

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/autobuild/autobuild/"

// rule forbids packages matching from to import packages matching to,
// unless allowed says the pair is an exception.
type rule struct {
	why string
	// prodOnly: tests may cross this line (a test may wire a concrete
	// implementation in, as cmd does).
	prodOnly bool
	from     func(pkg string) bool
	to       func(imp string) bool
	allowed  func(pkg, imp string) bool
}

func under(prefix string) func(string) bool {
	return func(p string) bool { return p == mod+prefix || strings.HasPrefix(p, mod+prefix+"/") }
}

func is(names ...string) func(string) bool {
	return func(p string) bool {
		for _, n := range names {
			if p == mod+n {
				return true
			}
		}
		return false
	}
}

func anyOf(fs ...func(string) bool) func(string) bool {
	return func(p string) bool {
		for _, f := range fs {
			if f(p) {
				return true
			}
		}
		return false
	}
}

func inModule(p string) bool { return strings.HasPrefix(p, mod) }

// scmBackend is a concrete SCM: a package under scm/ but scm itself and
// its conformance suite.
func scmBackend(p string) bool {
	return under("scm")(p) && p != mod+"scm" && p != mod+"scm/scmtest"
}

var rules = []rule{
	{why: "the library never imports the CLI", from: anyOf(under("engine"), under("scm"), under("sandbox"), under("publish")), to: under("cmd")},
	{why: "boundary packages never import the engine (publishers see only engine/report)",
		from: anyOf(under("scm"), under("sandbox"), under("publish")), to: under("engine"),
		allowed: func(_, imp string) bool { return imp == mod+"engine/report" }},
	{why: "only cmd wires concrete SCMs in (the engine uses the registry)", prodOnly: true,
		from: func(p string) bool { return inModule(p) && !under("cmd")(p) && !scmBackend(p) }, to: scmBackend},
	{why: "only cmd/autobuild and engine/config use viper",
		from: func(p string) bool { return inModule(p) && !is("cmd/autobuild", "engine/config")(p) },
		to:   func(p string) bool { return strings.HasPrefix(p, "github.com/spf13/viper") }},
	{why: "engine/report is a leaf of plain data", from: is("engine/report"), to: inModule},
	{why: "the pure planning packages do no I/O through the project",
		from: is("engine/graph", "engine/schedule", "engine/cachekey"), to: inModule,
		allowed: func(_, imp string) bool { return imp == mod+"engine/graph" }},
	{why: "stages never reach back into the orchestration",
		from: func(p string) bool { return under("engine")(p) && p != mod+"engine" }, to: is("engine")},
	{why: "the sandbox is below everything else in the project",
		from: under("sandbox"), to: func(p string) bool { return inModule(p) && !under("sandbox")(p) },
		allowed: func(_, imp string) bool { return imp == mod+"internal/testutil" }},
}

// pkgImports are a package's imports: of its code, and of its tests.
type pkgImports struct{ prod, test []string }

// imports lists every package of the module with its imports (a test may
// not break most layers either).
func imports(t *testing.T) map[string]pkgImports {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} | {{join .TestImports " "}} {{join .XTestImports " "}}`, mod+"...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	all := map[string]pkgImports{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		prod, test, _ := strings.Cut(sc.Text(), "|")
		f := strings.Fields(prod)
		if len(f) > 0 {
			all[f[0]] = pkgImports{prod: f[1:], test: strings.Fields(test)}
		}
	}
	return all
}

func TestLayers(t *testing.T) {
	all := imports(t)
	if len(all) < 10 {
		t.Fatalf("go list found only %d packages: %v", len(all), all)
	}
	for pkg, imps := range all {
		check := func(imp string, test bool) {
			if imp == pkg {
				return // an external test package imports its own
			}
			for _, r := range rules {
				if test && r.prodOnly {
					continue
				}
				if r.from(pkg) && r.to(imp) && (r.allowed == nil || !r.allowed(pkg, imp)) {
					t.Errorf("%s imports %s: %s", strings.TrimPrefix(pkg, mod), strings.TrimPrefix(imp, mod), r.why)
				}
			}
		}
		for _, imp := range imps.prod {
			check(imp, false)
		}
		for _, imp := range imps.test {
			check(imp, true)
		}
	}
}

// The rules must catch what they are for: each is shown a violation.
func TestRulesCatchViolations(t *testing.T) {
	bad := map[string]string{
		"engine":              "cmd/autobuild",
		"publish":             "engine",
		"engine/checkout":     "scm/git",
		"engine/trust":        "github.com/spf13/viper",
		"engine/report":       "sandbox",
		"engine/graph":        "engine/config",
		"engine/build":        "engine",
		"sandbox":             "engine/config",
		"scm/git":             "engine/executor",
		"sandbox/sandboxtest": "engine/report",
		"engine/schedule":     "sandbox",
		"publish/publishtest": "engine/state",
		"engine/executor":     "cmd/autobuild",
		"internal/testutil":   "scm/git",
		"engine/workspace":    "github.com/spf13/viper/v2",
	}
	for pkg, imp := range bad {
		p := mod + pkg
		i := imp
		if !strings.Contains(imp, ".") {
			i = mod + imp
		}
		caught := false
		for _, r := range rules {
			if r.from(p) && r.to(i) && (r.allowed == nil || !r.allowed(p, i)) {
				caught = true
			}
		}
		if !caught {
			t.Errorf("%s importing %s is not caught", pkg, imp)
		}
	}
}
