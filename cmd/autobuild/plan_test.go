package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// writeConfig writes body as name in a folder of the test's own.
func writeConfig(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(testutil.Dir(t), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// plan prints the workers a run uses: the configuration's, or one per CPU.
func TestPlanPrintsWorkers(t *testing.T) {
	mods := "modules:\n  - {name: a, source: {url: /x}}\n"
	for _, tt := range []struct {
		body, env string
		want      int
		line      string
	}{
		{"workers: 3\n" + mods, "", 3, "3 workers\n"},
		{mods, "", runtime.NumCPU(), strconv.Itoa(runtime.NumCPU()) + " workers (one per CPU)\n"},
		{"workers: 3\n" + mods, "AUTOBUILD_WORKERS=5", 5, "5 workers\n"},
	} {
		cfg := writeConfig(t, "autobuild.yaml", tt.body)
		var env []string
		if tt.env != "" {
			env = []string{tt.env}
		}
		if r := ab(t, env, "plan", "--config", cfg); r.code != 0 || !strings.Contains(strings.SplitN(r.stdout, "\n", 2)[0]+"\n", tt.line) {
			t.Errorf("plan does not say %q:\n%s", tt.line, r.dump())
		}
		r := ab(t, env, "plan", "--json", "--config", cfg)
		var plan struct {
			Workers int `json:"workers"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || plan.Workers != tt.want {
			t.Errorf("plan --json: workers %d, want %d (%v)\n%s", plan.Workers, tt.want, err, r.dump())
		}
	}
}

// The rules of the configuration, as the binary applies them: each bad
// file or variable exits 2 with a message naming it, and nothing is run.
func TestConfigRules(t *testing.T) {
	mod := "modules:\n  - name: a\n    source: {url: /x}\n"
	tests := []struct {
		name, file, body string
		env              []string
		want             string
	}{
		{"bare timeout", "a.yaml", mod + "    timeout: 5\n", nil, ":4: modules[0].timeout: 5 has no unit; write e.g. timeout: 5m (90s, 5m or 1h30m)"},
		{"worded timeout", "a.yaml", mod + "    timeout: 5 minutes\n", nil, `:4: modules[0].timeout: "5 minutes" is not a duration; write e.g. 90s, 5m or 1h30m`},
		{"numeric commit", "a.yaml", "modules:\n  - name: a\n    source: {url: /x, commit: 1234567}\n", nil, `:3: modules[0].source.commit: must be a string, not the number 1234567: quote it: commit: "1234567"`},
		{"names share a variable", "a.yaml", mod + "  - name: a_b\n    source: {url: /y}\n  - name: a-b\n    source: {url: /z}\n", nil, `:6: modules[2].name: "a-b" and "a_b" (modules[1], line 4) would share the variable AUTOBUILD_DEP_A_B_ROOT`},
		{"names share a log", "a.yaml", mod + "  - name: a.restored\n    source: {url: /y}\n", nil, `:4: modules[1].name: "a.restored" and "a" (modules[0], line 2) would share the log file a.restored.log`},
		{"publish inside the build root", "a.yaml", "build_root: /srv/ab\npublish: {dir: /srv/ab/sites}\n" + mod, nil, ":2: publish.dir: /srv/ab/sites is inside the build root /srv/ab"},
		{"too many workers", "a.yaml", "workers: 1e10\n" + mod, nil, ":1: workers: must be a whole number, not the number 1e10"},
		{"workers beyond the cap", "a.yaml", "workers: 100000\n" + mod, nil, ":1: workers: must be from 0 to 1024, not 100000"},
		{"bad variable", "a.yaml", mod, []string{"AUTOBUILD_WORKERS=many"}, `AUTOBUILD_WORKERS (environment, overriding workers of `},
		{"toml line", "a.toml", "[[modules]]\nname = \"a\"\nsource = {url = \"/x\"}\ntimeout = 5\n", nil, `a.toml:4: modules[0].timeout: 5 has no unit; write e.g. timeout = "5m"`},
		{"json line", "a.json", "{\"modules\": [\n  {\"name\": \"a\",\n   \"source\": {\"url\": \"/x\"},\n   \"trust\": \"root\"}]}\n", nil, `a.json:4: modules[0].trust: unknown trust level "root"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, tt.file, tt.body)
			for _, cmd := range []string{"plan", "run"} {
				r := ab(t, tt.env, cmd, "--config", cfg)
				if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
					t.Errorf("%s: want exit 2 and %q:\n%s", cmd, tt.want, r.dump())
				}
			}
			if tt.env != nil && strings.Contains(ab(t, tt.env, "plan", "--config", cfg).stderr, cfg+":") {
				t.Error("an error of the environment names a line of the file")
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "build")); err == nil {
				t.Errorf("a config error touched the disk")
			}
		})
	}
}

// Only the documented variables change the configuration: plan shows the
// build root and site of the file, whatever else AUTOBUILD_* says.
func TestUndocumentedVariablesAreIgnored(t *testing.T) {
	cfg := writeConfig(t, "autobuild.yaml", "modules:\n  - {name: a, source: {url: /x}}\n")
	env := []string{"AUTOBUILD_PUBLISH_DIR=/nonexistent/site", "AUTOBUILD_MODULES=", "AUTOBUILD_ARCHIVE_KEEP=0", "AUTOBUILD_BUILD_UIDS_COUNT=0"}
	r := ab(t, env, "plan", "--json", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, filepath.Join(filepath.Dir(cfg), "build")) {
		t.Errorf("undocumented variables changed the configuration:\n%s", r.dump())
	}
	r = ab(t, []string{"AUTOBUILD_BUILD_ROOT=/srv/elsewhere"}, "plan", "--json", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, `"build_root": "/srv/elsewhere"`) {
		t.Errorf("AUTOBUILD_BUILD_ROOT was not applied:\n%s", r.dump())
	}
}

// -j is checked like workers:, before anything runs.
func TestJobsFlagIsCapped(t *testing.T) {
	cfg := writeConfig(t, "autobuild.yaml", "modules:\n  - {name: a, source: {url: /x}}\n")
	for _, j := range []string{"1025", "-1", "10000000000"} {
		r := ab(t, nil, "run", "--jobs="+j, "--config", cfg)
		if r.code != 2 || !strings.Contains(r.stderr, "--jobs: must be from 0 to 1024, not "+j) {
			t.Errorf("-j %s: %s", j, r.dump())
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "build")); err == nil {
			t.Errorf("-j %s touched the disk", j)
		}
	}
}

// Plain plan shows each module's uid and MCS categories, as --json does.
func TestPlanPrintsIdentities(t *testing.T) {
	f := newFarm(t)
	f.config("modules:\n  - {name: one, source: {url: /nowhere/one}}\n  - {name: two, source: {url: /nowhere/two}, depends: [one]}\n")
	plain := ab(t, nil, "plan", "--config", f.cfg)
	js := ab(t, nil, "plan", "--json", "--config", f.cfg)
	var plan struct {
		Modules []struct {
			Name string
			MCS  string
			UID  int
		}
	}
	if err := json.Unmarshal([]byte(js.stdout), &plan); err != nil || len(plan.Modules) != 2 {
		t.Fatalf("plan --json: %v\n%s", err, js.dump())
	}
	for _, m := range plan.Modules {
		line := regexp.MustCompile(`(?m)^ *\d+\. ` + m.Name + ` .*$`).FindString(plain.stdout)
		if !strings.Contains(line, fmt.Sprintf("uid %d ", m.UID)) || m.MCS == "" || !strings.Contains(line, m.MCS) {
			t.Errorf("plan's line for %s does not show uid %d and %s: %q", m.Name, m.UID, m.MCS, line)
		}
	}
}
