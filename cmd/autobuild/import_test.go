package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// farm12 is a Test-AutoBuild 1.2 configuration with every kind of
// repository Test-AutoBuild knew.
const farm12 = "../../engine/config/tabconf/testdata/farm-1.2.conf"

// The real binary imports a Test-AutoBuild configuration, names on
// stderr what it did not carry over (each also a comment of the file),
// and autobuild plan takes the result.
func TestImportThenPlan(t *testing.T) {
	dir := testutil.Dir(t)
	out := filepath.Join(dir, "autobuild.yaml")
	r := ab(t, nil, "import", "-o", out, farm12)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("import:\n%s", r.dump())
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	noteRE := regexp.MustCompile(`^autobuild import: ` + regexp.QuoteMeta(farm12) + `:(\d+): (\S+): not carried over: (.+)$`)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	named := map[string]bool{}
	for _, l := range lines[:len(lines)-1] {
		m := noteRE.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("stderr line %q is not a note", l)
			continue
		}
		named[m[2]] = true
		if c := "# " + strings.TrimPrefix(l, "autobuild import: ") + "\n"; !strings.Contains(string(written), c) {
			t.Errorf("the file does not hold %q", c)
		}
	}
	for _, s := range []string{"engine", "modules/p4mod", "modules/tlamod", "modules/app/sources/[0]", "modules/app/depends/[2]", "modules/libfoo/artifacts"} {
		if !named[s] {
			t.Errorf("%s is not named on stderr", s)
		}
	}
	// The mail alerts are carried over (and so not named): the sender,
	// the operators, the SMTP server, and each module's administrator.
	for _, s := range []string{"features/email_alerts", "alert", "alert/to", "alert/from", "alert/smtpServer", "adminEmail", "modules/libfoo/adminEmail"} {
		if named[s] {
			t.Errorf("%s is named on stderr, but carried over", s)
		}
	}
	for _, want := range []string{
		"alerts:\n  from: \"Farm Builder <builder@example.org>\"\n  to:\n    - ops@example.org\n  on: change\n  smtp:\n    host: mail.example.org\n    port: 2525\n",
		"    admins:\n      - foo-admin@example.org\n",
		"    admins:\n      - \"\\\"Farm Administrator\\\" <admin@example.org>\"\n",
	} {
		if !strings.Contains(string(written), want) {
			t.Errorf("the file does not hold %q", want)
		}
	}
	if last := lines[len(lines)-1]; last != "autobuild import: wrote "+out+": 8 modules (2 disabled), "+itoa(len(lines)-1)+" settings not carried over" {
		t.Errorf("last line %q", last)
	}

	p := ab(t, nil, "plan", "--json", "--config", out)
	if p.code != 0 {
		t.Fatalf("plan:\n%s", p.dump())
	}
	var plan struct {
		Modules []struct {
			Name    string   `json:"name"`
			Depends []string `json:"depends"`
			Source  string   `json:"source"`
			Ref     string   `json:"ref"`
		} `json:"modules"`
		Disabled []string `json:"disabled"`
	}
	if err := json.Unmarshal([]byte(p.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	for _, m := range plan.Modules {
		got[m.Name] = m.Source + " " + m.Ref + " <" + strings.Join(m.Depends, ",") + ">"
		order = append(order, m.Name)
	}
	for name, want := range map[string]string{
		"libfoo":   ":pserver:anonymous@cvs.example.org:/cvs/farm#libfoo branch RELEASE_1_0 <>",
		"libbar":   "git://git.example.org/libbar.git branch stable <libfoo>",
		"app":      "app=https://svn.example.org/repos/app/branches/release-2.0#folder extras=/srv/local-files/app-extras  <libfoo,libbar>",
		"fixtures": "/srv/local-files/fixtures default branch <>",
	} {
		if got[name] != want {
			t.Errorf("%s: %q, want %q", name, got[name], want)
		}
	}
	if i, j, k := slices.Index(order, "libfoo"), slices.Index(order, "libbar"), slices.Index(order, "app"); i < 0 || !(i < j && j < k) {
		t.Errorf("build order %v: libfoo, libbar, app expected in that order", order)
	}
	if !slices.Equal(plan.Disabled, []string{"docs", "oldlib"}) || len(plan.Modules) != 6 {
		t.Errorf("%d modules, disabled %v", len(plan.Modules), plan.Disabled)
	}

	// Without -o the same configuration goes to stdout.
	s := ab(t, nil, "import", farm12)
	if s.code != 0 || s.stdout != string(written) {
		t.Errorf("import to stdout differs from the file:\n%s", s.dump())
	}
	if want := strings.Join(lines[:len(lines)-1], "\n") + "\n"; s.stderr != want {
		t.Errorf("import to stdout names other settings:\n%s\nwant\n%s", s.stderr, want)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// An existing file is kept, unless --force; nothing else is left in its
// folder either way.
func TestImportKeepsAFile(t *testing.T) {
	dir := testutil.Dir(t)
	out := filepath.Join(dir, "autobuild.yaml")
	if err := os.WriteFile(out, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := ab(t, nil, "import", "-o", out, farm12)
	if b, _ := os.ReadFile(out); r.code != 2 || !strings.Contains(r.stderr, out+" exists: give --force to replace it") || string(b) != "precious\n" {
		t.Fatalf("import over a file without --force:\n%s\nthe file: %q", r.dump(), b)
	}
	r = ab(t, nil, "import", "--force", "-o", out, farm12)
	if b, _ := os.ReadFile(out); r.code != 0 || !strings.Contains(string(b), "  - name: libfoo\n") {
		t.Fatalf("import --force:\n%s\nthe file: %q", r.dump(), b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the folder holds %v", entries)
	}
}

// A file that cannot be imported exits 2 with file:line, and writes
// nothing.
func TestImportErrors(t *testing.T) {
	dir := testutil.Dir(t)
	out := filepath.Join(dir, "out.yaml")
	bad := filepath.Join(dir, "auto-build.conf")
	for _, tt := range []struct {
		name, body string
		args       []string
		want       string
	}{
		{"syntax", "modules = {\n  a = {\n", nil, "autobuild: " + bad + ":2: a mapping { … } opened here is never closed with }"},
		{"cycle", "repositories = {\n g = {\n  type = git\n  options = {\n   base-url = /srv/git\n  }\n }\n}\nmodules = {\n a = {\n  source = {\n   repository = g\n   path = a\n  }\n  depends = (\n   a\n  )\n }\n}\n", nil,
			"autobuild: " + bad + ":15: modules/a/depends: dependency cycle: a → a"},
		{"template", "buildRoot = [% root %]\n", nil, "autobuild: " + bad + ":1: a Template Toolkit directive"},
		{"missing", "", []string{filepath.Join(dir, "none.conf")}, "none.conf: cannot read it: no such file or directory"},
		{"not YAML", "", []string{"-o", filepath.Join(dir, "out.toml"), bad}, "-o " + filepath.Join(dir, "out.toml") + ": the configuration is YAML"},
		{"two files", "", []string{bad, bad}, "accepts 1 arg(s), received 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.body != "" {
				if err := os.WriteFile(bad, []byte(tt.body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"import", "-o", out}, tt.args...)
			if tt.args == nil {
				args = append(args, bad)
			}
			r := ab(t, nil, args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("want exit 2 and %q:\n%s", tt.want, r.dump())
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was written", out)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the folder holds %v, want only the input", entries)
	}
}
