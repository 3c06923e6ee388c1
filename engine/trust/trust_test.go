package trust

import (
	"errors"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/sandbox"
)

func testConfig() *config.Config {
	return &config.Config{
		File: "/etc/autobuild/autobuild.yaml", SCMLevel: sandbox.SCMLevel,
		Levels: map[string]config.Level{
			"proxy": {Base: "isolated", Network: "outgoing", Read: []string{"/srv/mirror"},
				Limits: config.Limits{Processes: 9, FileSizeMB: 2}},
		},
		Modules: []config.Module{
			{Name: "lib", Trust: "isolated"},
			{Name: "app", Trust: "proxy", Depends: []string{"lib"}},
			{Name: "all", Trust: "trusted"},
			{Name: "raw", Trust: "unconfined"},
		},
	}
}

func TestCustomLevelOverItsBase(t *testing.T) {
	ls := NewLevels(testConfig().Levels)
	lv, ok := ls.Get("proxy")
	if !ok {
		t.Fatal("proxy is unknown")
	}
	base := sandbox.Builtin()["isolated"]
	if lv.Name != "proxy" || lv.Network != sandbox.NetOutgoing || lv.SELinuxType != base.SELinuxType {
		t.Errorf("proxy = %+v", lv)
	}
	if lv.Limits.Processes != 9 || lv.Limits.FileSize != 2<<20 || lv.Limits.Memory != base.Limits.Memory {
		t.Errorf("limits = %+v, want processes and file size set, the rest from isolated", lv.Limits)
	}
	if _, ok := ls.Get("nope"); ok {
		t.Error("an unknown level resolves")
	}
	names := strings.Join(ls.Names(), " ")
	if names != "isolated network proxy scm trusted unconfined" {
		t.Errorf("Names() = %s", names)
	}
}

func TestRulesChangeWithTheLevel(t *testing.T) {
	cfg := testConfig()
	before := NewLevels(cfg.Levels).Rules("proxy")
	lv := cfg.Levels["proxy"]
	lv.Read = []string{"/srv/other"}
	cfg.Levels["proxy"] = lv
	if NewLevels(cfg.Levels).Rules("proxy") == before {
		t.Error("a changed read rule leaves the rules line as it was")
	}
	if NewLevels(nil).Rules("isolated") == NewLevels(nil).Rules("network") {
		t.Error("isolated and network have one rules line")
	}
}

func TestProfiles(t *testing.T) {
	cfg := testConfig()
	labels := map[string]string{}
	p := mustPolicy(t, cfg, true)
	p.Label = func(typ, mcs string) string { labels[typ] = mcs; return "u:r:" + typ + ":" + mcs }

	app := p.Profile("proxy", "app", []string{"lib"}, []string{"/b/install-root/lib"})
	id := p.IDs["app"]
	if app.UID != id.UID || app.GID != id.UID || !app.Confined || app.Network != sandbox.NetOutgoing {
		t.Errorf("app profile %+v", app)
	}
	// Its own pair only: a dependency's categories would give it write
	// access to the dependency's folders. It reads lib's install root by
	// type, once the engine has sealed it (sandbox.SealInstallRoot).
	if want := id.MCS(); labels["autobuild_build_isolated_t"] != want {
		t.Errorf("app runs at %q, want its own categories %q", labels["autobuild_build_isolated_t"], want)
	}
	if app.SELinuxLabel != "u:r:autobuild_build_isolated_t:"+id.MCS() {
		t.Errorf("app's label %q", app.SELinuxLabel)
	}
	if strings.Join(app.Read, " ") != "/b/install-root/lib /srv/mirror" {
		t.Errorf("app reads %v", app.Read)
	}
	if all := p.Profile("trusted", "all", nil, nil); strings.Join(all.Read, " ") != "/b/install-root" {
		t.Errorf("trusted reads %v, want every install root", all.Read)
	}
	if want := p.IDs["all"].MCS(); labels["autobuild_build_trusted_t"] != want {
		t.Errorf("trusted runs at %q, want its own categories %q (never every category)", labels["autobuild_build_trusted_t"], want)
	}
	scm := p.Profile(sandbox.SCMLevel, "app", nil, nil)
	if labels["autobuild_scm_t"] != id.MCS() || scm.SELinuxLabel == "" {
		t.Errorf("app's checkout runs at %q, want %q", labels["autobuild_scm_t"], id.MCS())
	}
	if raw := p.Profile("unconfined", "raw", nil, nil); raw.UID != -1 || raw.Confined || raw.SELinuxLabel != "" {
		t.Errorf("unconfined profile %+v", raw)
	}
	p.SeparateUIDs = false
	if lib := p.Profile("isolated", "lib", nil, nil); lib.UID != -1 {
		t.Errorf("without separate uids, lib runs as %d", lib.UID)
	}
	if m := p.Module("app", "proxy"); m.ID != id || m.StepMCS != id.MCS() || m.Level.Name != "proxy" {
		t.Errorf("Module = %+v", m)
	}
}

func TestPreflight(t *testing.T) {
	full := sandbox.Host{LandlockABI: 7, NetNS: true, PidNS: true, MountNS: true}
	tests := []struct {
		name  string
		host  sandbox.Host
		weak  bool
		fails string
	}{
		{"everything here", full, false, ""},
		{"no Landlock", sandbox.Host{NetNS: true, PidNS: true, MountNS: true}, false, `trust level "scm" needs landlock-fs`},
		{"no network namespace", sandbox.Host{LandlockABI: 7, PidNS: true, MountNS: true}, false, `trust level "isolated" needs network-namespace`},
		{"no Landlock, weaker allowed", sandbox.Host{}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.AllowWeakerConfinement = tt.weak
			p := mustPolicy(t, cfg, false)
			p.Label = func(string, string) string { return "" }
			err := p.Preflight(cfg, tt.host)
			if tt.fails == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrUnenforceable) || !strings.Contains(err.Error(), tt.fails) || !strings.Contains(err.Error(), cfg.File) {
				t.Errorf("err = %v, want ErrUnenforceable saying %q and naming the file", err, tt.fails)
			}
		})
	}
	if got := strings.Join(Used(testConfig()), " "); got != "scm isolated proxy trusted unconfined" {
		t.Errorf("Used = %s", got)
	}
}

func mustPolicy(t *testing.T, cfg *config.Config, separate bool) *Policy {
	t.Helper()
	p, err := NewPolicy(cfg, separate, "/b/install-root", nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Module uids come from the configured range, never from what the host
// reserves; a range the host takes whole is a configuration error.
func TestUIDsAvoidTheHost(t *testing.T) {
	cfg := testConfig()
	cfg.BuildUIDs = config.UIDRange{First: 500000, Count: 10}
	reserved := []sandbox.IDRange{{First: 500000, Count: 6, Why: "/etc/subuid: builder"}}
	p, err := NewPolicy(cfg, true, "", reserved)
	if err != nil {
		t.Fatal(err)
	}
	for n, id := range p.IDs {
		if id.UID < 500006 || id.UID >= 500010 {
			t.Errorf("%s runs as %d, want 500006–500009", n, id.UID)
		}
	}
	reserved[0].Count = 8
	_, err = NewPolicy(cfg, true, "", reserved)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "build_uids" || !errors.Is(err, sandbox.ErrNoIDs) {
		t.Errorf("4 modules, 2 free uids: %v", err)
	}
}

// Every step of a module runs at the module's own pair of categories,
// whatever its level and dependencies.
func TestStepMCSIsTheModulesOwn(t *testing.T) {
	cfg := testConfig()
	p := mustPolicy(t, cfg, true)
	for _, level := range []string{"isolated", "network", "trusted", "proxy", sandbox.SCMLevel} {
		lv := p.Levels.Level(level)
		for _, deps := range [][]string{nil, {"lib"}, {"lib", "all", "raw"}} {
			if got, want := StepMCS(lv, p.IDs, "app", deps), p.IDs["app"].MCS(); got != want {
				t.Errorf("%s with deps %v: %s, want %s", level, deps, got, want)
			}
		}
	}
}

// Where SELinux is off, NewPolicy's labels are all "" and no level needs
// SELinux; the preflight names SELinux's requirement when it is missing.
func TestPolicyLabelsAndSELinuxPreflight(t *testing.T) {
	cfg := testConfig()
	p := mustPolicy(t, cfg, true)
	if sandbox.SELinuxMode() == "disabled" {
		if l := p.Profile("isolated", "lib", nil, nil).SELinuxLabel; l != "" {
			t.Errorf("label %q without SELinux", l)
		}
	}
	p.Label = func(typ, mcs string) string {
		if typ == "" {
			return ""
		}
		return "u:r:" + typ + ":" + mcs
	}
	host := sandbox.Host{LandlockABI: 7, NetNS: true, PidNS: true, MountNS: true, SELinux: false}
	err := p.Preflight(cfg, host)
	if !errors.Is(err, ErrUnenforceable) || !strings.Contains(err.Error(), "needs selinux (SELinux must be enforcing") {
		t.Errorf("labels but no enforcing SELinux: err = %v", err)
	}
}
