package tabconf

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/scm"
	// The sources are checked by the backends, as the binary wires them.
	_ "github.com/autobuild/autobuild/scm/brz"
	_ "github.com/autobuild/autobuild/scm/cvs"
	_ "github.com/autobuild/autobuild/scm/darcs"
	_ "github.com/autobuild/autobuild/scm/dir"
	_ "github.com/autobuild/autobuild/scm/git"
	_ "github.com/autobuild/autobuild/scm/hg"
	_ "github.com/autobuild/autobuild/scm/svn"
)

// load writes the imported YAML as a file of the test's own and loads it
// with autobuild's own loader.
func load(t *testing.T, yml []byte) *config.Config {
	t.Helper()
	for _, v := range []string{"AUTOBUILD_BUILD_ROOT", "AUTOBUILD_WORKERS", "AUTOBUILD_ALLOW_WEAKER_CONFINEMENT", "AUTOBUILD_SCM_LEVEL"} {
		t.Setenv(v, "")
	}
	p := filepath.Join(t.TempDir(), "autobuild.yaml")
	if err := os.WriteFile(p, yml, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatalf("the imported configuration does not load: %v\n%s", err, yml)
	}
	return cfg
}

// importFile imports a file of testdata, or a file's text.
func importFile(t *testing.T, name string) (*Result, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Import(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return r, string(data)
}

// lineOf is the line of text that first holds s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("no line holds %q", s)
	return 0
}

// rawModule is a module as the YAML writes it (the loader drops the
// disabled ones).
type rawModule struct {
	Name    string     `yaml:"name"`
	Enabled *bool      `yaml:"enabled"`
	Source  scm.Source `yaml:"source"`
}

func rawModules(t *testing.T, yml []byte) map[string]rawModule {
	t.Helper()
	var doc struct {
		Modules []struct {
			Name    string `yaml:"name"`
			Enabled *bool  `yaml:"enabled"`
			Source  struct {
				Kind, URL, Branch, Tag, Commit string
			} `yaml:"source"`
		} `yaml:"modules"`
	}
	if err := yaml.Unmarshal(yml, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]rawModule{}
	for _, m := range doc.Modules {
		s := m.Source
		out[m.Name] = rawModule{m.Name, m.Enabled, scm.Source{Kind: s.Kind, URL: s.URL, Branch: s.Branch, Tag: s.Tag, Commit: s.Commit}}
	}
	return out
}

func notesBySetting(r *Result) map[string]Note {
	m := map[string]Note{}
	for _, n := range r.Notes {
		m[n.Setting] = n
	}
	return m
}

// checkNotes asserts each setting is named, at its line, with a reason
// that says why; and that none of the settings carried over (or matching
// what autobuild does anyway) is.
func checkNotes(t *testing.T, file, text string, r *Result, named map[string][2]string, silent []string) {
	t.Helper()
	notes := notesBySetting(r)
	for set, want := range named {
		n, ok := notes[set]
		if !ok {
			t.Errorf("%s is not named as not carried over", set)
			continue
		}
		line := 0
		if s, ok := strings.CutPrefix(want[0], "^"); ok {
			line = lineOf(t, text, s) - 1 // the line before
		} else {
			line = lineOf(t, text, want[0])
		}
		if n.Line != line {
			t.Errorf("%s is named at line %d, want %d (%q)", set, n.Line, line, want[0])
		}
		if !strings.Contains(n.Why, want[1]) {
			t.Errorf("%s: why %q does not say %q", set, n.Why, want[1])
		}
		comment := fmt.Sprintf("# %s:%d: %s: not carried over: %s\n", file, n.Line, set, n.Why)
		if !strings.Contains(string(r.YAML), comment) {
			t.Errorf("the YAML does not name %s: no line %q", set, comment)
		}
	}
	for _, set := range silent {
		if n, ok := notes[set]; ok {
			t.Errorf("%s is named: %v", set, n)
		}
	}
	if !slices.IsSortedFunc(r.Notes, func(a, b Note) int { return a.Line - b.Line }) {
		t.Error("the notes are not in file order")
	}
}

func TestImportFarm12(t *testing.T) {
	r, text := importFile(t, "farm-1.2.conf")
	cfg := load(t, r.YAML)

	if want := []string{"libfoo", "libbar", "app", "docs", "tools", "web", "fixtures", "oldlib"}; !slices.Equal(r.Modules, want) {
		t.Errorf("modules %v, want %v", r.Modules, want)
	}
	if want := []string{"docs", "oldlib"}; !slices.Equal(cfg.Disabled, want) || !slices.Equal(r.Disabled, want) {
		t.Errorf("disabled %v (result %v), want %v", cfg.Disabled, r.Disabled, want)
	}
	if cfg.BuildRoot != "/var/lib/builder" || cfg.Publish.URL != "http://builds.example.org/~builder/" || !cfg.Archive.Disabled || cfg.Publish.Title != "Nightly Farm" {
		t.Errorf("build_root %q, publish.url %q, archive disabled %v, publish.title %q", cfg.BuildRoot, cfg.Publish.URL, cfg.Archive.Disabled, cfg.Publish.Title)
	}

	if !slices.Equal(cfg.Env, []string{"USER=builder", "LANG=C"}) || cfg.Counter != config.CounterTimestamp || cfg.TimestampFormat != config.TimestampEpoch {
		t.Errorf("env %q, counter %q, timestamp_format %q", cfg.Env, cfg.Counter, cfg.TimestampFormat)
	}
	type want struct {
		src     scm.Source
		depends []string
		command string
		env     []string
		groups  []string
		label   string
	}
	base := []string{"USER=builder", "LANG=C"}
	for name, w := range map[string]want{
		"libfoo": {scm.Source{Kind: "cvs", URL: ":pserver:anonymous@cvs.example.org:/cvs/farm#libfoo", Branch: "RELEASE_1_0"}, nil, "./build.sh",
			[]string{"USER=builder", "CFLAGS=-O2 -g", "LANG=en_US.UTF-8"}, []string{"core"}, "Foo library  "},
		"libbar": {scm.Source{Kind: "git", URL: "git://git.example.org/libbar.git", Branch: "stable"}, []string{"libfoo"}, config.DefaultCommand,
			base, []string{"core"}, "Bar library"},
		"app": {scm.Source{}, []string{"libfoo", "libbar"}, `cd app && ./autobuild.sh "$@"`,
			append(slices.Clone(base), "NOTES=first line\nsecond line\n"), []string{"apps"}, "The application"},
		"tools":    {scm.Source{Kind: "brz", URL: "http://bzr.example.org/tools/trunk"}, nil, config.DefaultCommand, base, nil, ""},
		"web":      {scm.Source{Kind: "darcs", URL: "http://darcs.example.org/repos/web"}, nil, config.DefaultCommand, base, nil, ""},
		"fixtures": {scm.Source{Kind: "dir", URL: "/srv/local-files/fixtures"}, nil, config.DefaultCommand, base, nil, ""},
	} {
		m := cfg.Module(name)
		if m == nil {
			t.Errorf("module %s is missing", name)
			continue
		}
		if got := m.Source.SCM(); got != w.src && w.src.Kind != "" {
			t.Errorf("%s: source %+v, want %+v", name, got, w.src)
		}
		if !slices.Equal(m.Depends, w.depends) || m.Command != w.command || !slices.Equal(m.Env, w.env) || !slices.Equal(m.Groups, w.groups) || m.Label != w.label {
			t.Errorf("%s: depends %q command %q env %q groups %q label %q; want %q %q %q %q %q", name, m.Depends, m.Command, m.Env, m.Groups, m.Label, w.depends, w.command, w.env, w.groups, w.label)
		}
	}
	// app's two sources, each in a folder: the one Test-AutoBuild
	// checked out into the module's folder in one named after it.
	if s := cfg.Module("app").Sources; !slices.Equal(s, []config.Source{
		{Kind: "svn", URL: "https://svn.example.org/repos/app/branches/release-2.0#folder", Commit: "1234", Path: "app"},
		{Kind: "dir", URL: "/srv/local-files/app-extras", Path: "extras"},
	}) {
		t.Errorf("app's sources: %+v", s)
	}
	if l := cfg.Module("libfoo").Links; len(l) != 1 || l[0] != (config.Link{Href: "http://foo.example.org/", Label: "Home page"}) {
		t.Errorf("libfoo's links: %+v", l)
	}
	raw := rawModules(t, r.YAML)
	if m := raw["docs"]; m.Source != (scm.Source{Kind: "hg", URL: "https://hg.example.org/docs"}) || m.Enabled == nil || *m.Enabled {
		t.Errorf("docs: %+v", m)
	}
	if m := raw["oldlib"]; m.Source != (scm.Source{Kind: "svn", URL: "https://svn.example.org/repos/oldlib", Tag: "v1.0"}) || m.Enabled == nil || *m.Enabled {
		t.Errorf("oldlib: %+v", m)
	}
	if !strings.Contains(string(r.YAML), "    # disabled: its group attic is disabled (groups/attic/enabled)\n    enabled: false\n") {
		t.Error("oldlib does not say why it is disabled")
	}
	// The alerts: one mail a module when it breaks (first-fail), to the
	// operators and to the module's administrator, the farm's for a
	// module that names none.
	a := cfg.Alerts
	if a == nil || a.From != "Farm Builder <builder@example.org>" || !slices.Equal(a.To, []string{"ops@example.org"}) || a.On != "change" ||
		a.SMTP == nil || a.SMTP.Host != "mail.example.org" || a.SMTP.Port != 2525 || a.SMTP.StartTLS != "opportunistic" {
		t.Errorf("alerts: %+v (smtp %+v)", a, a.SMTP)
	}
	for _, name := range []string{"libfoo", "libbar", "app", "tools"} {
		want := []string{`"Farm Administrator" <admin@example.org>`}
		if name == "libfoo" {
			want = []string{"foo-admin@example.org"}
		}
		if got := cfg.Module(name).Admins; !slices.Equal(got, want) {
			t.Errorf("%s: admins %q, want %q", name, got, want)
		}
	}

	checkNotes(t, "farm-1.2.conf", text, r, map[string][2]string{
		"engine":                            {"engine = ", "fixed pipeline"},
		"groupEmail":                        {"groupEmail = dev", "recipients of its mail alerts"},
		"features/apt_index":                {"apt_index", "package repository index"},
		"maxCacheSize":                      {"maxCacheSize", "archive.keep"},
		"groups/core/label":                 {"label = Core libraries", "groups have no labels"},
		"repositories/anon-cvs/label":       {"label = Anonymous CVS", "no repositories"},
		"repositories/anon-cvs/env/CVS_RSH": {"CVS_RSH", "clean environment"},
		"repositories/perforce":             {"perforce = {", "no Perforce backend"},
		"repositories/arch":                 {"arch = {", "does not translate GNU Arch repositories"},
		"isos":                              {"isos = {", "ISO images"},
		"modules/libfoo/links/[1]":          {"^href = http://cvs.example.org", "query"},
		"modules/libfoo/artifacts":          {"artifacts = (", "package folder"},
		"modules/libbar/useArchive":         {"useArchive", "build one module every run"},
		"modules/app/sources/[0]":           {"^repository = svnrepo", "this one's is app/ (the build command runs there)"},
		"modules/app/depends/[2]":           {"libmissing", "libmissing is not a module of this file"},
		"modules/app/depends/[3]":           {"      oldlib", "oldlib is disabled"},
		"modules/tools/dir":                 {"dir = tools-checkout", "source-root/<its name>"},
		"modules/p4mod":                     {"^repository = perforce", "no Perforce backend"},
		"modules/tlamod":                    {"^repository = arch", "does not translate GNU Arch repositories"},
		"modules/_private":                  {"_private = {", "not a module name"},
	}, []string{
		"buildRoot", "hostname", "httpPrefix", "features", "features/cache", "features/checkout", "features/createrepo_index",
		"features/email_alerts", "alert", "alert/scope", "alert/to", "alert/trigger", "alert/from", "alert/smtpServer",
		"adminEmail", "adminName", "modules/libfoo/adminEmail", "platform", "env", "env/USER", "groups/attic/enabled",
		"repositories/gitweb/options/base-url", "repositories/anon-cvs/env/CVSROOT", "modules/libfoo/options",
		"modules/libfoo/options/control-file", "modules/docs/enabled", "modules/tlamod/depends",
	})

	// A note about a module sits in that module's entry.
	y := string(r.YAML)
	at := strings.Index(y, "modules/libfoo/artifacts")
	if at < strings.Index(y, "- name: libfoo") || at > strings.Index(y, "- name: libbar") {
		t.Error("the note on libfoo's artifacts is not in libfoo's entry")
	}
}

func TestImportFarm10(t *testing.T) {
	r, text := importFile(t, "farm-1.0.conf")
	cfg := load(t, r.YAML)
	if want := []string{"widget-dev", "widget-stable", "website"}; !slices.Equal(r.Modules, want) {
		t.Errorf("modules %v, want %v", r.Modules, want)
	}
	if cfg.BuildRoot != filepath.Join(filepath.Dir(cfg.File), "build") || cfg.Archive.Disabled || cfg.Publish.URL != "" {
		t.Errorf("build_root %q (want the default), archive disabled %v, publish.url %q", cfg.BuildRoot, cfg.Archive.Disabled, cfg.Publish.URL)
	}
	for name, w := range map[string]struct {
		src     scm.Source
		command string
		depends []string
		groups  []string
	}{
		"widget-dev":    {scm.Source{Kind: "cvs", URL: "/srv/cvs#widget"}, "./rollingbuild.sh", nil, []string{"software"}},
		"widget-stable": {scm.Source{Kind: "cvs", URL: "/srv/cvs#widget", Branch: "STABLE_1_0"}, "./rollingbuild.sh --stable", []string{"widget-dev"}, []string{"software"}},
		"website":       {scm.Source{}, "cd website && ./rollingbuild.sh", nil, nil},
	} {
		m := cfg.Module(name)
		if m == nil {
			t.Errorf("module %s is missing", name)
			continue
		}
		if (w.src.Kind != "" && m.Source.SCM() != w.src) || m.Command != w.command || !slices.Equal(m.Depends, w.depends) || !slices.Equal(m.Groups, w.groups) || !slices.Equal(m.Env, []string{"USER=builder"}) {
			t.Errorf("%s: %+v %q %q %q %q", name, m.Source, m.Command, m.Depends, m.Groups, m.Env)
		}
	}
	if s := cfg.Module("website").Sources; !slices.Equal(s, []config.Source{
		{Kind: "svn", URL: "file:///srv/svn/website", Path: "website"},
		{Kind: "svn", URL: "file:///srv/svn/website-images/trunk#folder", Commit: "1234", Path: "images"},
	}) {
		t.Errorf("website's sources: %+v", s)
	}
	if cfg.Counter != config.CounterTime || cfg.TimestampFormat != config.TimestampRFC3339 {
		t.Errorf("counter %q, timestamp_format %q", cfg.Counter, cfg.TimestampFormat)
	}
	if l := cfg.Module("widget-dev").Links; len(l) != 1 || l[0].Href != "http://widget.example.org/" {
		t.Errorf("links %+v", l)
	}
	// The EmailAlert output: a mail on every run in which a module fails.
	if a := cfg.Alerts; a == nil || a.From != "builder@example.org" || !slices.Equal(a.To, []string{"widget-dev@example.org", "ops@example.org"}) ||
		a.On != "failure" || a.SMTP == nil || a.SMTP.Host != "localhost" || a.SMTP.Port != 25 || a.SMTP.StartTLS != "opportunistic" {
		t.Errorf("alerts: %+v", a)
	}
	checkNotes(t, "farm-1.0.conf", text, r, map[string][2]string{
		"nice-level":                   {"nice-level", "resource limits"},
		"tmp-dir":                      {"tmp-dir", "TMPDIR"},
		"lock":                         {"lock = {", "locks its build root"},
		"build/home":                   {"home = ", "under build_root"},
		"build/cache-timestamp":        {"cache-timestamp", "no such build setting"},
		"package-types":                {"package-types", "whatever its type"},
		"output/status":                {"status = {", "one status site"},
		"output/email/options/url":     {"url = http://build.example.org/widget", "publish.url"},
		"groups/software/label":        {"label = Software", "no labels"},
		"repositories/cvs/label":       {"label = CVS server", "no repositories"},
		"repositories/p4":              {"p4 = {", "no Perforce backend"},
		"modules/website/paths/[0]":    {"website/trunk", "this one's is website/"},
		"modules/widget-dev/paths/[1]": {"widget-extras", "only the first path of a cvs repository too"},
		"modules/website/cache":        {"cache = 0", "build one module every run"},
		"modules/core":                 {"//depot/core", "no Perforce backend"},
	}, []string{"debug", "checkout-source", "abort-on-fail", "control-file", "build/cache", "env/USER", "output", "output/email",
		"output/email/options/addresses", "output/email/options/sender", "output/email/options/send-on-success",
		"modules/widget-dev/paths", "modules/widget-dev/group", "modules/widget-stable/controlfile"})
}

// TestImportExamples imports every *.conf of the folder named by
// AUTOBUILD_TABCONF_EXAMPLES (Test-AutoBuild's own example files, as its
// releases shipped them: testdata/README.md), loads each result with
// autobuild's loader, and checks what all of them hold.
func TestImportExamples(t *testing.T) {
	dir := os.Getenv("AUTOBUILD_TABCONF_EXAMPLES")
	if dir == "" {
		t.Skip("AUTOBUILD_TABCONF_EXAMPLES names no folder of Test-AutoBuild configurations")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.conf in %s (%v)", dir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Import(filepath.Base(f), data)
			if err != nil {
				t.Fatal(err)
			}
			cfg := load(t, r.YAML)
			t.Logf("%d modules (%s), %d settings not carried over", len(cfg.Modules), strings.Join(r.Modules, ", "), len(r.Notes))
			// Each of them builds Test-AutoBuild itself from its CVS
			// repository at gna.org.
			m := cfg.Module("autobuild-dev")
			if want := (scm.Source{Kind: "cvs", URL: ":pserver:anonymous@cvs.gna.org:/cvs/testautobuild#testautobuild"}); m == nil || m.Source.SCM() != want {
				t.Fatalf("autobuild-dev: %+v, want its source %+v", m, want)
			}
			notes := notesBySetting(r)
			root, err := Parse(f, data)
			if err != nil {
				t.Fatal(err)
			}
			if e := root.Get("engine"); e != nil {
				// 1.2: the engine file named; the stock one's counter.
				counter := config.CounterRun
				if strings.HasPrefix(e.Text, "/etc/auto-build.d/engine/host-build") {
					counter = config.CounterTimestamp
				}
				if _, ok := notes["engine"]; !ok || cfg.Counter != counter || cfg.TimestampFormat != config.TimestampEpoch {
					t.Errorf("1.2: engine named %v, counter %q (want %q), timestamp_format %q", ok, cfg.Counter, counter, cfg.TimestampFormat)
				}
			} else if _, ok := notes["nice-level"]; !ok || cfg.Counter != config.CounterTime || m.Command != "./rollingbuild.sh" {
				t.Errorf("1.0: nice-level named %v, counter %q, command %q", ok, cfg.Counter, m.Command)
			}
			if root.Get("modules").Get("autobuild-dev").Get("artifacts") != nil {
				if _, ok := notes["modules/autobuild-dev/artifacts"]; !ok {
					t.Error("the artifacts are not named")
				}
			}
		})
	}
}

// conf is a small Test-AutoBuild file: repositories, then modules.
func conf(top, repos, mods string) string {
	return top + "\nrepositories = {\n" + repos + "\n}\nmodules = {\n" + mods + "\n}\n"
}

const gitRepo = "g = {\n type = git\n options = {\n  base-url = /srv/git\n }\n}"

func mod(name, body string) string {
	return name + " = {\n source = {\n  repository = g\n  path = " + name + "\n }\n" + body + "\n}\n"
}

// Small files, each one rule of the translation.
func TestImportRules(t *testing.T) {
	type check func(t *testing.T, cfg *config.Config, r *Result)
	source := func(name string, want scm.Source) check {
		return func(t *testing.T, cfg *config.Config, r *Result) {
			if m := rawModules(t, r.YAML)[name]; m.Source != want {
				t.Errorf("%s: source %+v, want %+v", name, m.Source, want)
			}
		}
	}
	noted := func(setting, why string) check {
		return func(t *testing.T, cfg *config.Config, r *Result) {
			n, ok := notesBySetting(r)[setting]
			if !ok || !strings.Contains(n.Why, why) {
				t.Errorf("%s: %+v, want it named with %q (notes %v)", setting, n, why, r.Notes)
			}
		}
	}
	notNoted := func(setting string) check {
		return func(t *testing.T, cfg *config.Config, r *Result) {
			if n, ok := notesBySetting(r)[setting]; ok {
				t.Errorf("%s is named: %v", setting, n)
			}
		}
	}
	field := func(what string, get func(*config.Config) any, want any) check {
		return func(t *testing.T, cfg *config.Config, r *Result) {
			if got := get(cfg); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %v, want %v", what, got, want)
			}
		}
	}
	modules := func(want ...string) check {
		return func(t *testing.T, cfg *config.Config, r *Result) {
			if !slices.Equal(r.Modules, want) {
				t.Errorf("modules %v, want %v", r.Modules, want)
			}
		}
	}
	repo := func(body string) string { return "r = {\n" + body + "\n}" }
	// The alerts as "from [to] on host:port".
	alerts := func(want string) check {
		return func(t *testing.T, cfg *config.Config, r *Result) {
			a := cfg.Alerts
			if a == nil || a.SMTP == nil {
				t.Errorf("no alerts: %+v, want %s", a, want)
				return
			}
			got := fmt.Sprintf("%s [%s] %s %s:%d", a.From, strings.Join(a.To, " "), a.On, a.SMTP.Host, a.SMTP.Port)
			if got != want || a.SMTP.StartTLS != "opportunistic" {
				t.Errorf("alerts %s (starttls %s), want %s", got, a.SMTP.StartTLS, want)
			}
		}
	}
	noAlerts := func(t *testing.T, cfg *config.Config, r *Result) {
		if cfg.Alerts != nil || strings.Contains(string(r.YAML), "\n    admins:\n") {
			t.Errorf("alerts carried over: %+v", cfg.Alerts)
		}
	}
	admins := func(name string, want ...string) check {
		return func(t *testing.T, cfg *config.Config, r *Result) {
			if m := cfg.Module(name); m == nil || !slices.Equal(m.Admins, want) {
				t.Errorf("%s: admins %q, want %q", name, m.Admins, want)
			}
		}
	}
	const people = "adminEmail = ann@example.org\nadminName = Ann\ngroupEmail = dev@example.org\ngroupName = Dev list\n"
	rmod := func(name, path, body string) string {
		return name + " = {\n source = {\n  repository = r\n  path = " + path + "\n }\n" + body + "\n}\n"
	}
	for _, tt := range []struct {
		name, in string
		checks   []check
	}{
		{"git without a branch is master", conf("", gitRepo, mod("a", "")),
			[]check{source("a", scm.Source{Kind: "git", URL: "/srv/git/a", Branch: "master"})}},
		{"svn trunk", conf("", repo("type = svn\noptions = {\n url = svn://svn.example.org/r\n}"), rmod("a", "proj/trunk", "")),
			[]check{source("a", scm.Source{Kind: "svn", URL: "svn://svn.example.org/r/proj"})}},
		{"svn tag", conf("", repo("type = svn\noptions = {\n url = svn://svn.example.org/r\n}"), rmod("a", "proj/tags/v1/", "")),
			[]check{source("a", scm.Source{Kind: "svn", URL: "svn://svn.example.org/r/proj", Tag: "v1"})}},
		{"svn folder", conf("", repo("type = svn\noptions = {\n url = file:///srv/svn/\n}"), rmod("a", "/proj/sub", "")),
			[]check{source("a", scm.Source{Kind: "svn", URL: "file:///srv/svn/proj/sub#folder"})}},
		{"cvs local root and HEAD", conf("", repo("type = cvs\nenv = {\n CVSROOT = :local:/srv/cvs\n}"), rmod("a", "proj/sub:HEAD", "")),
			[]check{source("a", scm.Source{Kind: "cvs", URL: "/srv/cvs#proj/sub"})}},
		{"cvs root from the global env", conf("env = {\n CVSROOT = /srv/cvs\n}", repo("type = cvs"), rmod("a", "proj", "")),
			[]check{source("a", scm.Source{Kind: "cvs", URL: "/srv/cvs#proj"}), field("env", func(c *config.Config) any { return c.Modules[0].Env }, []string{"CVSROOT=/srv/cvs"})}},
		{"cvs without a root", conf("", repo("type = cvs")+"\n"+gitRepo, rmod("a", "proj", "")+mod("b", "")),
			[]check{modules("b"), noted("modules/a", "sets no CVSROOT")}},
		{"disk without a directory", conf("", repo("type = disk"), rmod("a", "/srv/files/a", "")+rmod("b", "files/b", "")+mod("c", "")),
			[]check{modules("a"), source("a", scm.Source{Kind: "dir", URL: "/srv/files/a"}), noted("modules/b", "not an absolute path"), noted("modules/c", `"g" is not defined`)}},
		{"relative base-url", conf("", repo("type = hg\noptions = {\n base-url = repos\n}")+"\n"+gitRepo, rmod("a", "a", "")+mod("b", "")),
			[]check{modules("b"), noted("modules/a", "neither a URL nor an absolute path")}},
		{"no base-url", conf("", repo("type = git")+"\n"+gitRepo, rmod("a", "a", "")+mod("b", "")),
			[]check{modules("b"), noted("modules/a", "has no options/base-url")}},
		{"unknown type", conf("", repo("type = clearcase")+"\n"+gitRepo, rmod("a", "a", "")+mod("b", "")),
			[]check{modules("b"), noted("modules/a", `type "clearcase"`), noted("repositories/r", `type "clearcase"`)}},
		{"a backend refuses the source", conf("", repo("type = hg\noptions = {\n base-url = ftp://hg.example.org\n}")+"\n"+gitRepo, rmod("a", "a", "")+mod("b", "")),
			[]check{modules("b"), noted("modules/a", "its hg source's url")}},
		{"module before type", conf("", repo("type = cvs\nmodule = Test::AutoBuild::Repository::Git\noptions = {\n base-url = /srv/git\n}"), rmod("a", "a", "")),
			[]check{source("a", scm.Source{Kind: "git", URL: "/srv/git/a", Branch: "master"})}},
		{"source and sources", conf("", gitRepo, mod("a", "sources = (\n {\n  repository = g\n  path = x\n }\n)")),
			[]check{source("a", scm.Source{Kind: "git", URL: "/srv/git/a", Branch: "master"}), noted("modules/a/sources", "ignored it too")}},
		{"names sharing a variable", conf("", gitRepo, mod("a-b", "")+mod("a_b", "")+mod("x", "")+mod("x.restored", "")),
			[]check{modules("a-b", "x"), noted("modules/a_b", "AUTOBUILD_DEP_A_B_ROOT with module a-b"), noted("modules/x.restored", "the log file x.restored.log with module x")}},
		{"a name too long", conf("", gitRepo, mod(strings.Repeat("n", config.MaxNameLen+1), "")+mod("b", "")),
			[]check{modules("b"), noted("modules/"+strings.Repeat("n", config.MaxNameLen+1), "at most 200")}},
		{"AUTOBUILD_ variables", conf("env = {\n AUTOBUILD_X = 1\n}", gitRepo, mod("a", "env = {\n AUTOBUILD_COUNTER = 7\n K = v\n}")),
			[]check{noted("env/AUTOBUILD_X", "sets the AUTOBUILD_"), noted("modules/a/env/AUTOBUILD_COUNTER", "sets the AUTOBUILD_"),
				field("env", func(c *config.Config) any { return c.Modules[0].Env }, []string{"K=v"})}},
		{"a link that is not http", conf("", gitRepo, mod("a", "links = (\n {\n  href = ftp://x.example.org/\n }\n {\n  href = https://x.example.org/a\n }\n)")),
			[]check{noted("modules/a/links/[0]", "not an http"), field("links", func(c *config.Config) any { return c.Modules[0].Links }, []config.Link{{Href: "https://x.example.org/a"}})}},
		{"control file with a blank", conf("", gitRepo, mod("a", "options = {\n control-file = build it.sh\n other = 1\n}")),
			[]check{field("command", func(c *config.Config) any { return c.Modules[0].Command }, `'./build it.sh' "$@"`), noted("modules/a/options/other", "no module options")}},
		{"absolute control file", conf("", gitRepo, mod("a", "options = {\n control-file = /usr/bin/make\n}")),
			[]check{field("command", func(c *config.Config) any { return c.Modules[0].Command }, "/usr/bin/make")}},
		{"autobuild.sh is the default", conf("", gitRepo, mod("a", "options = {\n control-file = autobuild.sh\n}")),
			[]check{field("command", func(c *config.Config) any { return c.Modules[0].Command }, config.DefaultCommand), notNoted("modules/a/options/control-file")}},
		{"hostname alone", conf("hostname = build.example.org", gitRepo, mod("a", "")),
			[]check{field("publish.url", func(c *config.Config) any { return c.Publish.URL }, "http://build.example.org/~builder/")}},
		{"hostname and an empty prefix", conf("hostname = build.example.org\nhttpPrefix =", gitRepo, mod("a", "")),
			[]check{field("publish.url", func(c *config.Config) any { return c.Publish.URL }, "http://build.example.org/")}},
		{"a hostname that is no host", conf("hostname = build example", gitRepo, mod("a", "")),
			[]check{noted("hostname", "not a URL"), field("publish.url", func(c *config.Config) any { return c.Publish.URL }, "")}},
		{"label is the site's title", conf(`label = Café "Nightly" <b>builds</b>: 1`, gitRepo, mod("a", "")),
			[]check{field("publish.title", func(c *config.Config) any { return c.Publish.Title }, `Café "Nightly" <b>builds</b>: 1`), notNoted("label")}},
		{"a label no title can be", conf("label = "+strings.Repeat("x", 200), gitRepo, mod("a", "")),
			[]check{noted("label", "not a title"), field("publish.title", func(c *config.Config) any { return c.Publish.Title }, "")}},
		{"relative buildRoot", conf("buildRoot = builder", gitRepo, mod("a", "")),
			[]check{noted("buildRoot", "not an absolute path")}},
		{"cache on", conf("features = {\n cache = 1\n}", gitRepo, mod("a", "")),
			[]check{field("archive", func(c *config.Config) any { return c.Archive.Disabled }, false), notNoted("features/cache")}},
		{"enableCache off", conf("enableCache = 0", gitRepo, mod("a", "")),
			[]check{field("archive", func(c *config.Config) any { return c.Archive.Disabled }, true), notNoted("enableCache")}},
		{"alerts on without a sender", conf("features = {\n email_alerts = 1\n}\nalert = {\n to = group\n}", gitRepo, mod("a", "")),
			[]check{noted("features/email_alerts", "sender's address"), noted("alert", "sender's address"), noAlerts}},
		{"alerts off", conf("adminEmail = a@example.org\nfeatures = {\n email_alerts = 0\n}\nalert = {\n to = admin\n from = b@example.org\n}", gitRepo, mod("a", "")),
			[]check{notNoted("alert"), notNoted("features/email_alerts"), noted("adminEmail", "recipients of its mail alerts"), noAlerts}},
		{"alerts not switched on", conf("alert = {\n from = b@example.org\n}", gitRepo, mod("a", "")),
			[]check{noted("alert", "not on (features/email_alerts = 1)"), noAlerts}},
		{"one mail a run to the admin, the group and an address", conf(people+"features = {\n email_alerts = 1\n}\nalert = {\n to = admin, group,ops@example.org , admin\n from = Builder <b@example.org>\n}", gitRepo, mod("a", "adminEmail = a-admin@example.org")),
			[]check{alerts(`Builder <b@example.org> ["Ann" <ann@example.org> "Dev list" <dev@example.org> ops@example.org] digest localhost:25`),
				admins("a"), notNoted("adminEmail"), notNoted("groupName"), noted("modules/a/adminEmail", "do not mail them")}},
		{"one mail a module on every failure, to its group", conf(people+"features = {\n email_alerts = 1\n}\nalert = {\n scope = module\n trigger = fail\n to = group\n from = b@example.org\n smtpServer = mail.example.org:587\n}", gitRepo,
			mod("a", "groupEmail = a-dev@example.org\ngroupName = A team")+mod("b", "")),
			[]check{alerts("b@example.org [] failure mail.example.org:587"), admins("a", `"A team" <a-dev@example.org>`), admins("b", `"Dev list" <dev@example.org>`),
				notNoted("groupEmail"), notNoted("modules/a/groupEmail"), noted("adminEmail", "do not mail them")}},
		{"1.2.0's switch, the engine file's names", conf("admin-email = a@example.org\nenableAlerts = 1\nalert = {\n from = b@example.org\n}", gitRepo, mod("a", "")),
			[]check{alerts("b@example.org [a@example.org] digest localhost:25"), notNoted("admin-email"), notNoted("enableAlerts")}},
		{"trigger always", conf(people+"features = {\n email_alerts = 1\n}\nalert = {\n trigger = always\n from = b@example.org\n}", gitRepo, mod("a", "")),
			[]check{alerts(`b@example.org ["Ann" <ann@example.org>] digest localhost:25`), noted("alert/trigger", "never for a run in which nothing failed")}},
		{"one mail a run on every failure", conf(people+"features = {\n email_alerts = 1\n}\nalert = {\n scope = builder\n trigger = fail\n from = b@example.org\n}", gitRepo, mod("a", "")),
			[]check{alerts(`b@example.org ["Ann" <ann@example.org>] failure localhost:25`), noted("alert/scope", "each failing module on its own")}},
		{"an unknown trigger and setting", conf(people+"features = {\n email_alerts = 1\n}\nalert = {\n trigger = sometimes\n from = b@example.org\n subject = x\n}", gitRepo, mod("a", "")),
			[]check{alerts(`b@example.org ["Ann" <ann@example.org>] digest localhost:25`), noted("alert/trigger", `not "sometimes"`), noted("alert/subject", "no such setting")}},
		{"an address that is none", conf(people+"features = {\n email_alerts = 1\n}\nalert = {\n to = ops@example.org, ops at example\n from = b@example.org\n}", gitRepo, mod("a", "")),
			[]check{alerts("b@example.org [ops@example.org] digest localhost:25"), noted("alert/to", `left out: "ops at example" is not a mail address`)}},
		{"nobody to mail", conf("features = {\n email_alerts = 1\n}\nalert = {\n to = admin\n from = b@example.org\n}", gitRepo, mod("a", "")),
			[]check{noted("alert", "nobody autobuild can mail: admin: adminEmail is not set"), noted("features/email_alerts", "nobody"), noAlerts}},
		{"a port that is none", conf(people+"features = {\n email_alerts = 1\n}\nalert = {\n from = b@example.org\n smtpServer = mail.example.org:99999\n}", gitRepo, mod("a", "")),
			[]check{noted("alert", "the port must be from 1 to 65535"), noted("adminEmail", "do not mail them"), noAlerts}},
		{"a sender that is none", conf(people+"features = {\n email_alerts = 1\n}\nalert = {\n from = builder\n}", gitRepo, mod("a", "")),
			[]check{noted("alert", `alert/from: "builder" is not a mail address`), noAlerts}},
		{"1.0 EmailAlert without a sender", conf("output = {\n mail = {\n  module = Test::AutoBuild::Output::EmailAlert\n  options = {\n   addresses = a@example.org\n   smtp_server = localhost\n  }\n }\n}", gitRepo, mod("a", "")),
			[]check{noted("output/mail", "no options/sender"), noAlerts}},
		{"1.0 EmailAlert", conf("output = {\n mail = {\n  module = Test::AutoBuild::Output::EmailAlert\n  options = {\n   addresses = a@example.org,b@example.org\n   smtp_server = mail:26\n   sender = s@example.org\n   send-on-success = true\n   ignore-modules = a\n  }\n }\n}", gitRepo, mod("a", "")),
			[]check{alerts("s@example.org [a@example.org b@example.org] failure mail:26"), noted("output/mail/options/send-on-success", "never for a run"),
				noted("output/mail/options/ignore-modules", "every module"), notNoted("output/mail")}},
		{"checkout off", conf("features = {\n checkout = 0\n}", gitRepo, mod("a", "")),
			[]check{noted("features/checkout", "checks every module out")}},
		{"Perl truth", conf("", gitRepo, mod("a", "enabled = 0.0")+mod("b", "enabled = 00")+mod("c", "enabled =")+mod("d", "")),
			[]check{field("disabled", func(c *config.Config) any { return c.Disabled }, []string{"c"})}},
		{"a disabled module may depend on a disabled one", conf("", gitRepo, mod("a", "enabled = 0")+mod("b", "enabled = 0\ndepends = (\n a\n)")+mod("c", "")),
			[]check{notNoted("modules/b/depends/[0]")}},
		{"a dependency left out", conf("", repo("type = svk")+"\n"+gitRepo, rmod("a", "//x", "")+mod("b", "depends = (\n a\n)")),
			[]check{noted("modules/a", "no SVK backend"), noted("modules/b/depends/[0]", "module a is not carried over")}},
		{"an empty block sets nothing", conf("platform = {\n}\nisos = {\n}", gitRepo, mod("a", "groups = (\n)")),
			[]check{notNoted("platform"), notNoted("isos")}},
		{"one source into a folder", conf("", gitRepo, "a = {\n sources = (\n  {\n   repository = g\n   path = x -> sub\n  }\n )\n}"),
			[]check{field("sources", func(c *config.Config) any { return c.Modules[0].Sources }, []config.Source{{Kind: "git", URL: "/srv/git/x", Branch: "master", Path: "sub"}}),
				field("command", func(c *config.Config) any { return c.Modules[0].Command }, `./autobuild.sh "$@"`)}},
		{"the module's own source second", conf("", gitRepo, "a = {\n sources = (\n  {\n   repository = g\n   path = x -> sub\n  }\n  {\n   repository = g\n   path = y:dev\n  }\n )\n options = {\n  control-file = build\n }\n}"),
			[]check{field("sources", func(c *config.Config) any { return c.Modules[0].Sources }, []config.Source{{Kind: "git", URL: "/srv/git/x", Branch: "master", Path: "sub"}, {Kind: "git", URL: "/srv/git/y", Branch: "dev", Path: "a"}}),
				field("command", func(c *config.Config) any { return c.Modules[0].Command }, `cd a && ./build "$@"`), noted("modules/a/sources/[1]", "this one's is a/")}},
		{"two into the module's folder", conf("", gitRepo, "ab = {\n sources = (\n  {\n   repository = g\n   path = x\n  }\n  {\n   repository = g\n   path = y\n  }\n  {\n   repository = g\n   path = z -> ab-2\n  }\n )\n}"),
			[]check{field("paths", func(c *config.Config) any {
				var p []string
				for _, s := range c.Modules[0].Sources {
					p = append(p, s.Path)
				}
				return p
			}, []string{"ab", "ab-3", "ab-2"}), field("command", func(c *config.Config) any { return c.Modules[0].Command }, `cd ab && ./autobuild.sh "$@"`),
				noted("modules/ab/sources/[0]", "this one's is ab/"), noted("modules/ab/sources/[1]", "this one's is ab-3/")}},
		{"a folder of a folder", conf("", gitRepo, "a = {\n sources = (\n  {\n   repository = g\n   path = x\n  }\n  {\n   repository = g\n   path = y -> sub/dir\n  }\n  {\n   repository = g\n   path = z -> ok\n  }\n  {\n   repository = g\n   path = w -> ok\n  }\n )\n}\n"+mod("b", "")),
			[]check{noted("modules/a/sources/[1]", `"sub/dir" is not one folder name`), noted("modules/a/sources/[3]", "it goes into ok/, as modules/a/sources/[2] does"),
				field("sources", func(c *config.Config) any { return len(c.Modules[0].Sources) }, 2)}},
		{"the first source into a folder of a folder", conf("", gitRepo, "a = {\n source = {\n  repository = g\n  path = y -> sub/dir\n }\n}\n"+mod("b", "")),
			[]check{modules("b"), noted("modules/a", "one folder")}},
		{"1.0 svn revision and folder", conf("", "s = {\n module = Test::AutoBuild::Repository::Subversion\n options = {\n  url = svn://svn.example.org/r\n }\n}", "a = {\n repository = s\n paths = (\n  proj/trunk:42 -> code\n )\n controlfile = make all\n}"),
			[]check{field("sources", func(c *config.Config) any { return c.Modules[0].Sources }, []config.Source{{Kind: "svn", URL: "svn://svn.example.org/r/proj/trunk#folder", Commit: "42", Path: "code"}}),
				field("command", func(c *config.Config) any { return c.Modules[0].Command }, "make all")}},
		{"1.2 svn revision", conf("engine = /etc/auto-build.d/engine/host-build.conf", "s = {\n type = svn\n options = {\n  url = svn://svn.example.org/r\n }\n}", "a = {\n source = {\n  repository = s\n  path = proj/tags/v2@42\n }\n}"),
			[]check{source("a", scm.Source{Kind: "svn", URL: "svn://svn.example.org/r/proj/tags/v2#folder", Commit: "42"}),
				field("counter", func(c *config.Config) any { return c.Counter + " " + c.TimestampFormat }, "timestamp epoch")}},
		{"an engine of one's own", conf("engine = /etc/mine.conf", gitRepo, mod("a", "")),
			[]check{noted("engine", "what its counter was is not known"), field("counter", func(c *config.Config) any { return c.Counter + " " + c.TimestampFormat }, "run epoch")}},
		{"a counter block", conf("counter = {\n module = Test::AutoBuild::Counter::ChangeList\n options = {\n  repository = x\n }\n}", gitRepo, mod("a", "")),
			[]check{field("counter", func(c *config.Config) any { return c.Counter }, "changelist"), noted("counter/options", "take no options"), notNoted("counter/module")}},
		{"an unknown counter", conf("counter = {\n module = My::Counter\n}", gitRepo, mod("a", "")),
			[]check{field("counter", func(c *config.Config) any { return c.Counter }, "time"), noted("counter/module", `no counter "My::Counter"`)}},
		{"AUTO_BUILD_ variables", conf("env = {\n AUTO_BUILD_ROOT = /x\n}", gitRepo, mod("a", "")),
			[]check{noted("env/AUTO_BUILD_ROOT", "AUTO_BUILD_"), field("env", func(c *config.Config) any { return c.Env }, []string(nil))}},
		{"unknown settings", conf("colour = blue", gitRepo, mod("a", "flavour = mild")),
			[]check{noted("colour", "no such setting"), noted("modules/a/flavour", "no such setting")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Import("a.conf", []byte(tt.in))
			if err != nil {
				t.Fatalf("%v\n%s", err, tt.in)
			}
			cfg := load(t, r.YAML)
			for _, c := range tt.checks {
				c(t, cfg, r)
			}
			if t.Failed() {
				t.Logf("in:\n%s\nout:\n%s", tt.in, r.YAML)
			}
		})
	}
}

func TestImportErrors(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		line     int
		want     string
	}{
		{"parse error", "a = {\n", 1, "never closed"},
		{"no modules", "buildRoot = /x\n", 1, "nothing to import"},
		{"a cycle", conf("", gitRepo, mod("a", "depends = (\n b\n)")+mod("b", "depends = (\n a\n)")), 16, "modules/a/depends: dependency cycle: a → b → a"},
		{"a module of itself", conf("", gitRepo, mod("a", "depends = (\n a\n)")), 16, "dependency cycle: a → a"},
		{"nothing carried", conf("", "p = {\n type = p4\n}", "a = {\n source = {\n  repository = p\n  path = x\n }\n}"), 7, "no module can be carried over: a (line 8): repository p is of type p4"},
		{"everything disabled", conf("", gitRepo, mod("a", "enabled = 0")), 10, "every module that can be carried over is disabled"},
		{"a text for a list", conf("", gitRepo, mod("a", "groups = ( x y )")), 16, `modules/a/groups: must be a list: key = ( on its own line, one value a line, ) alone; not the text "( x y )"`},
		{"a list for a text", conf("", gitRepo, mod("a", "label = (\n x\n)")), 16, "modules/a/label: must be a text value, not a list"},
		{"a source without a path", conf("", gitRepo, "a = {\n source = {\n  repository = g\n }\n}"), 12, "modules/a/source: names no path"},
		{"modules not a mapping", "modules = x\n", 1, "modules: must be a mapping"},
		{"no module", "modules = {\n}\n", 1, "modules: defines no module"},
		{"1.0 module without paths", conf("", gitRepo, "a = {\n repository = g\n}"), 11, "need both repository and paths"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Import("dir/a.conf", []byte(tt.in))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if want := fmt.Sprintf("dir/a.conf:%d: ", tt.line); !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want %q…%q\n%s", err, want, tt.want, tt.in)
			}
		})
	}
}

// hostile are values that YAML would read as something else, or that
// would write more YAML, were they written as they are.
var hostile = []string{
	"x\n  - name: evil\n    source: {url: /srv/evil}\n",
	"- item", ": colon", "key: value", "# not a comment", "a #b", "&anchor", "*alias", "!!binary aGk=", "!tag x",
	"{a: b}", "[x, y]", "%TAG ! x", "@at", "`tick`", "'single'", `"double"`, `back\slash`, `\n`,
	"true", "False", "yes", "off", "null", "~", "", "123", "0x1F", "1e10", "1_000", ".inf", "2024-01-01",
	" leading", "trailing ", "\ttab", "line\r\nbreak", "nul\x00byte", "esc\x1b[31m", "bell\a", "del\x7f",
	"next\u0085line", "sep\u2028arator", "bom\ufeff", "é", "☕ \U0001F600", "---", "...", "? q", "|", ">",
}

// Every value a Test-AutoBuild file can hold reaches autobuild's loader
// as itself: a label, an env value and a link label, one module each,
// and nothing more.
func TestImportHostileValues(t *testing.T) {
	for i, v := range hostile {
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			// A here-document carries any text but for a trailing
			// newline of its own, blank and # lines.
			body := "label = <<END\n" + v + "\nEND\nenv = {\n V = <<END\n" + v + "\nEND\n}\nlinks = (\n {\n  href = http://x.example.org/\n  label = <<END\n" + v + "\nEND\n }\n)"
			in := conf("", gitRepo, mod("a", body))
			root, err := Parse("a.conf", []byte(in))
			if err != nil {
				t.Skipf("not a value a here-document holds: %v", err)
			}
			want := root.Get("modules").Get("a").Get("label").Text
			r, err := Import("a.conf", []byte(in))
			if err != nil {
				t.Fatal(err)
			}
			cfg := load(t, r.YAML)
			if len(cfg.Modules) != 1 {
				t.Fatalf("%d modules:\n%s", len(cfg.Modules), r.YAML)
			}
			m := cfg.Modules[0]
			if m.Label != want || !slices.Equal(m.Env, []string{"V=" + want}) || len(m.Links) != 1 || m.Links[0].Label != want {
				t.Errorf("label %q, env %q, links %+v; want %q\n%s", m.Label, m.Env, m.Links, want, r.YAML)
			}
		})
	}
	// The control: written as it is, the first value makes a module of
	// its own, so the test above can see one.
	naive := "modules:\n  - name: a\n    source: {url: /srv/a}\n    label: " + hostile[0]
	if cfg := load(t, []byte(naive)); len(cfg.Modules) != 2 {
		t.Fatalf("the control run has %d modules, want the injected one too", len(cfg.Modules))
	}
}

// A hostile administrator's name (quotes, angle brackets, commas, line
// breaks) stays the name of the one address it belongs to: the loaded
// alerts mail exactly the administrator. The control: joined as
// Test-AutoBuild joined them ("name <email>"), the first name adds a
// recipient of its own.
func TestImportAlertNamesStayNames(t *testing.T) {
	const evil = `Evil <evil@attacker.example>, x`
	if list, err := mail.ParseAddressList(evil + " <admin@example.org>"); err != nil || len(list) != 2 {
		t.Fatalf("control: the naive join gives %v (%v), want two recipients", list, err)
	}
	for i, name := range []string{evil, "Ops\nBcc: evil@attacker.example", "<evil@attacker.example>", "Ünïcode, Team"} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			top := "adminEmail = admin@example.org\nadminName = <<END\n" + name + "\nEND\nfeatures = {\n email_alerts = 1\n}\nalert = {\n from = b@example.org\n}"
			r, err := Import("a.conf", []byte(conf(top, gitRepo, mod("a", ""))))
			if err != nil {
				t.Fatal(err)
			}
			cfg := load(t, r.YAML)
			if cfg.Alerts == nil || len(cfg.Alerts.To) != 1 {
				t.Fatalf("alerts %+v:\n%s", cfg.Alerts, r.YAML)
			}
			list, err := mail.ParseAddressList(cfg.Alerts.To[0])
			if err != nil || len(list) != 1 || list[0].Address != "admin@example.org" || list[0].Name != name {
				t.Errorf("to %q is %v (%v), want the one address admin@example.org named %q", cfg.Alerts.To[0], list, err, name)
			}
		})
	}
}

// A value in a note (a host name, a link) stays on its comment's line.
func TestImportNotesStayComments(t *testing.T) {
	v := "h\nmodules:\n  - name: evil\n    source: {url: /srv/evil}"
	in := conf("hostname = <<END\n"+v+"\nEND", gitRepo, mod("a", "links = (\n {\n  href = <<END\n"+v+"\nEND\n }\n)"))
	r, err := Import("a.conf", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	cfg := load(t, r.YAML)
	if len(cfg.Modules) != 1 || cfg.Publish.URL != "" || len(cfg.Modules[0].Links) != 0 {
		t.Fatalf("%d modules, publish.url %q, links %v:\n%s", len(cfg.Modules), cfg.Publish.URL, cfg.Modules[0].Links, r.YAML)
	}
	n := notesBySetting(r)
	if !strings.Contains(n["hostname"].Why, `\nmodules:`) || !strings.Contains(n["modules/a/links/[0]"].Why, `\nmodules:`) {
		t.Errorf("the notes do not show the values escaped: %v", r.Notes)
	}
}

// yamlString round-trips through yaml.v3 (the parser the loader uses).
func FuzzYAMLString(f *testing.F) {
	for _, v := range hostile {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // the parser refuses a file that is not UTF-8
		}
		var got any
		if err := yaml.Unmarshal([]byte("k: "+yamlString(s)+"\n"), &got); err != nil {
			t.Fatalf("%q as %s: %v", s, yamlString(s), err)
		}
		if v := got.(map[string]any)["k"]; v != s {
			t.Fatalf("%q as %s reads back as %#v", s, yamlString(s), v)
		}
	})
}

// Whatever the text, Import returns a result or an *Error, never a
// panic, and a result loads.
func FuzzImport(f *testing.F) {
	for _, name := range []string{"farm-1.2.conf", "farm-1.0.conf"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(conf("", gitRepo, mod("a", "label = x \\\n y"))))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Import("f.conf", data)
		var e *Error
		if err != nil {
			if !errors.As(err, &e) || e.Line < 1 {
				t.Fatalf("%v is not an *Error with a line", err)
			}
			return
		}
		load(t, r.YAML)
	})
}
