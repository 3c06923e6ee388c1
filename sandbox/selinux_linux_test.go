package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/selinux/go-selinux"
)

// Only enforcing counts: a permissive host denies nothing.
func TestSELinuxModeNames(t *testing.T) {
	for _, tt := range []struct {
		enabled bool
		mode    int
		want    string
	}{
		{false, selinux.Enforcing, "disabled"},
		{false, selinux.Disabled, "disabled"},
		{true, selinux.Enforcing, "enforcing"},
		{true, selinux.Permissive, "permissive"},
		{true, selinux.Disabled, "unknown"},
	} {
		if got := modeName(tt.enabled, tt.mode); got != tt.want {
			t.Errorf("modeName(%v, %d) = %q, want %q", tt.enabled, tt.mode, got, tt.want)
		}
	}
	if m := SELinuxMode(); m != "enforcing" && m != "permissive" && m != "disabled" && m != "unknown" {
		t.Errorf("SELinuxMode() = %q", m)
	}
}

// A step's context is the engine's user and role, the level's type and
// the module's categories; an engine context that cannot give them is an
// error (never a silent "": that would start the step untransitioned).
func TestLabelComposition(t *testing.T) {
	label, err := labeler("unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := label("autobuild_build_isolated_t", "s0:c1,c2"), "unconfined_u:unconfined_r:autobuild_build_isolated_t:s0:c1,c2"; got != want {
		t.Errorf("label = %q, want %q", got, want)
	}
	if got := label("", "s0:c1,c2"); got != "" {
		t.Errorf("a level without a type gets %q, want none", got)
	}
	cron, err := labeler("system_u:system_r:autobuild_t:s0")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cron("autobuild_scm_t", "s0:c7,c900"), "system_u:system_r:autobuild_scm_t:s0:c7,c900"; got != want {
		t.Errorf("label = %q, want %q", got, want)
	}
	for _, bad := range []string{"", "unconfined", "u:r", "u::t:s0", "u:r:t"} {
		if _, err := labeler(bad); !errors.Is(err, ErrUnsupported) {
			t.Errorf("labeler(%q): err = %v, want ErrUnsupported", bad, err)
		}
	}
	// Where SELinux is off, NewLabeler's contexts are all "", without error.
	if !selinux.GetEnabled() {
		l, err := NewLabeler()
		if err != nil || l("autobuild_build_isolated_t", "s0:c1,c2") != "" {
			t.Errorf("NewLabeler without SELinux: %v", err)
		}
	}
}

func TestSameContext(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"u:r:t:s0:c1,c2", "u:r:t:s0:c1,c2", true},
		{"u:r:t:s0:c1,c2", "u:r:t:s0:c1.c2", true},
		{"u:r:t:s0:c1,c2,c3,c9", "u:r:t:s0:c1.c3,c9", true},
		{"u:r:t:s0:c1,c2\x00\n", "u:r:t:s0:c1,c2", true},
		{"u:r:t:s0-s0:c0.c1023", "u:r:t:s0-s0:c0.c1023", true},
		{"u:r:t:s0", "u:r:t:s0-s0", true},
		{"u:r:t:s0:c1,c2", "u:r:t:s0:c1,c3", false},
		{"u:r:t:s0:c1,c2", "u:r:t:s0:c1,c2,c3", false},
		{"u:r:t:s0:c1,c2", "u:r:other_t:s0:c1,c2", false},
		{"u:r:t:s0:c1,c2", "v:r:t:s0:c1,c2", false},
		{"u:r:t:s0:c1,c2", "u:r:t:s0-s0:c0.c1023", false},
		{"u:r:t:s0:cx", "u:r:t:s0:cx", false},
		{"garbage", "garbage", false},
	} {
		if got := sameContext(tt.a, tt.b); got != tt.same {
			t.Errorf("sameContext(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

// The helper refuses to go on unless it runs in the context the engine
// asked for; with no label, or SELinux absent, there is nothing to check.
func TestCheckOwnLabel(t *testing.T) {
	if err := checkOwnLabel("", nil); err != nil {
		t.Errorf("no label: %v", err)
	}
	want := "autobuild_u:bogus_r:autobuild_build_isolated_t:s0:c1,c2"
	if err := checkOwnLabel(want, []string{"landlock-fs", "selinux"}); err != nil {
		t.Errorf("started without SELinux (skip): %v", err)
	}
	if err := checkOwnLabel(want, []string{"landlock-fs"}); err == nil {
		t.Errorf("this test runs in %q, and the check says it runs in %q", currentOrErr(), want)
	}
	if cur, err := selinux.CurrentLabel(); err == nil && selinux.GetEnabled() {
		if err := checkOwnLabel(cur, nil); err != nil {
			t.Errorf("own context %q: %v", cur, err)
		}
	}
}

func currentOrErr() string {
	b, err := os.ReadFile("/proc/thread-self/attr/current")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// A labelled start that cannot set its context refuses the step with
// ErrUnsupported, starts nothing, and leaves no label behind.
func TestStartLabelledRefuses(t *testing.T) {
	cmd := exec.Command("/bin/true")
	err := startLabelled(cmd, "autobuild_u:bogus_r:bogus_t:s0:c1,c2", true)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if cmd.Process != nil {
		t.Errorf("the command started (pid %d)", cmd.Process.Pid)
	}
	// An unlabelled start still works.
	cmd = exec.Command("/bin/true")
	if err := startLabelled(cmd, "", true); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// SELinux counts only where the host enforces and the loaded policy knows
// the step's context.
func TestSELinuxMechanism(t *testing.T) {
	defer func(f func(string) error) { checkContext = f }(checkContext)
	label := "u:r:autobuild_build_isolated_t:s0"
	if m := selinuxMechanism(Host{SELinux: false}, label); m.Available || m.Name != "selinux" || !strings.Contains(m.Detail, "SELinux is ") {
		t.Errorf("without enforcing SELinux: %+v", m)
	}
	checkContext = func(string) error { return nil }
	if m := selinuxMechanism(Host{SELinux: true}, label); !m.Available || m.Detail != label {
		t.Errorf("enforcing, valid context: %+v", m)
	}
	other := "u:r:autobuild_missing_t:s0"
	checkContext = func(string) error { return errors.New("invalid argument") }
	if m := selinuxMechanism(Host{SELinux: true}, other); m.Available || !strings.Contains(m.Detail, "policy module") {
		t.Errorf("enforcing, a type the policy lacks: %+v", m)
	}
	// need() says the same, and Check counts it missing.
	p := Profile{Level: "isolated", Confined: true, Network: NetNone, SELinuxLabel: other}
	if _, missing := (Host{SELinux: true, LandlockABI: 7, PidNS: true, NetNS: true, MountNS: true}).Check(p); !strings.Contains(strings.Join(missing, ","), "selinux") {
		t.Errorf("missing = %v, want selinux in it", missing)
	}
}

func TestCategories(t *testing.T) {
	got, ok := categories("c3,c1.c2,c3")
	if !ok || len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Errorf("categories = %v %v", got, ok)
	}
	for _, bad := range []string{"c2.c1", "x1", "c", "c1,"} {
		if _, ok := categories(bad); ok {
			t.Errorf("categories(%q) accepted", bad)
		}
	}
}

// Without SELinux the labelling functions change nothing and fail nothing.
func TestLabelsWithoutSELinux(t *testing.T) {
	if selinux.GetEnabled() {
		t.Log("SELinux is enabled here: the labels are proven in test/vm")
		return
	}
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"SealInstallRoot": SealInstallRoot(d),
		"LabelModuleDir":  LabelModuleDir(d, InstallType, "s0:c1,c2"),
		"LabelDir":        LabelDir(d, "autobuild_state_t"),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The engine never relabels a system folder, whatever the configuration
// names as its build root.
func TestNoRelabelOfSystemFolders(t *testing.T) {
	for _, p := range []string{"/", "/var/lib", "/tmp/", "/usr"} {
		if err := relabel(p, "u:object_r:autobuild_var_lib_t:s0"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("relabel(%s): %v", p, err)
		}
	}
}
