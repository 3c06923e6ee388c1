package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/opencontainers/selinux/go-selinux"
)

// SELinux file types the engine gives a module's install root: writable
// by the module's own build while it builds (at the module's categories),
// read-only for every build once it has finished (at plain s0, so no
// category is needed to read it and none gives write access).
const (
	InstallType   = "autobuild_install_t"
	InstallROType = "autobuild_install_ro_t"
)

// SELinuxMode is this host's SELinux mode: "enforcing", "permissive" or
// "disabled" (read now, not cached). Only "enforcing" counts as SELinux
// for the sandbox: a permissive host logs what it would deny and denies
// nothing.
func SELinuxMode() string {
	return modeName(selinux.GetEnabled(), selinux.EnforceMode())
}

func modeName(enabled bool, mode int) string {
	switch {
	case !enabled:
		return "disabled"
	case mode == selinux.Enforcing:
		return "enforcing"
	case mode == selinux.Permissive:
		return "permissive"
	default:
		// Enabled, but the mode cannot be read: not enforcing, as far
		// as anyone can tell.
		return "unknown"
	}
}

// NewLabeler returns the function that makes the SELinux context a
// module's step starts in: the engine's own SELinux user and role, the
// level's type and the module's MCS level ("s0:cA,cB"). It returns "" for
// a level with no type, and always "" where SELinux is disabled. The
// engine's user and role are read once, here: an error (the engine cannot
// read its own context, or the policy has no MCS to keep modules apart)
// wraps ErrUnsupported, and the caller must refuse to run rather than
// start steps without a transition.
func NewLabeler() (func(typ, mcs string) string, error) {
	if !selinux.GetEnabled() {
		return func(string, string) string { return "" }, nil
	}
	cur, err := selinux.CurrentLabel()
	if err != nil {
		return nil, fmt.Errorf("%w: SELinux: read the engine's own context: %v", ErrUnsupported, err)
	}
	return labeler(cur)
}

// labeler makes NewLabeler's function from the engine's context cur.
func labeler(cur string) (func(typ, mcs string) string, error) {
	user, role, _, level, err := splitContext(cur)
	if err != nil {
		return nil, fmt.Errorf("%w: SELinux: the engine's own context: %v", ErrUnsupported, err)
	}
	if level == "" {
		return nil, fmt.Errorf("%w: SELinux: the engine's context %q has no MLS/MCS level: this policy cannot keep modules apart by category", ErrUnsupported, cur)
	}
	return func(typ, mcs string) string {
		if typ == "" {
			return ""
		}
		return user + ":" + role + ":" + typ + ":" + mcs
	}, nil
}

// splitContext splits "user:role:type[:level]" (the level may itself hold
// colons).
func splitContext(c string) (user, role, typ, level string, err error) {
	parts := strings.SplitN(strings.TrimRight(c, "\x00\n"), ":", 4)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", "", fmt.Errorf("malformed SELinux context %q", c)
	}
	if len(parts) == 4 {
		level = parts[3]
	}
	return parts[0], parts[1], parts[2], level, nil
}

// checkContext asks the kernel whether a context is valid in the loaded
// policy (a variable for tests).
var checkContext = selinux.SecurityCheckContext

// validLabels caches checkContext's answers: need() asks at every step.
var validLabels sync.Map // label → error (nil: valid)

func labelValid(label string) error {
	if v, ok := validLabels.Load(label); ok {
		if v == nil {
			return nil
		}
		return v.(error)
	}
	err := checkContext(label)
	if err != nil {
		validLabels.Store(label, err)
	} else {
		validLabels.Store(label, nil)
	}
	return err
}

// selinuxMechanism is the doctor's and the fail-closed check's view of
// SELinux for a profile whose steps start in label: in force only when
// the host enforces (Host.SELinux) and the loaded policy knows the
// context (the autobuild policy module is installed).
func selinuxMechanism(h Host, label string) Mechanism {
	m := Mechanism{Name: "selinux", Detail: label}
	switch {
	case !h.SELinux:
		m.Detail = fmt.Sprintf("%s (SELinux is %s here: nothing would be enforced)", label, SELinuxMode())
	default:
		if err := labelValid(label); err != nil {
			m.Detail = fmt.Sprintf("%s is not a valid context in the loaded policy (is the autobuild policy module installed? semodule -l): %v", label, err)
		} else {
			m.Available = true
		}
	}
	return m
}

// checkOwnLabel is the helper's check, before it confines and execs
// anything, that the exec transition the engine asked for happened: the
// process runs in want. It does nothing when the step has no label or the
// engine started it without one (SELinux absent: skip names "selinux").
func checkOwnLabel(want string, skip []string) error {
	if want == "" || slices.Contains(skip, "selinux") {
		return nil
	}
	b, err := os.ReadFile("/proc/thread-self/attr/current")
	if err != nil {
		return fmt.Errorf("SELinux: read the helper's own context: %w", err)
	}
	got := strings.TrimRight(string(b), "\x00\n")
	if !sameContext(got, want) {
		return fmt.Errorf("SELinux: the helper runs in %q, not in %q: the exec transition did not happen", got, want)
	}
	return nil
}

// sameContext reports whether two contexts are the same: the same user,
// role and type, and the same MLS range (categories compared as sets, so
// "s0:c1,c2,c3" is "s0:c1.c3").
func sameContext(a, b string) bool {
	ua, ra, ta, la, err := splitContext(a)
	if err != nil {
		return false
	}
	ub, rb, tb, lb, err := splitContext(b)
	if err != nil {
		return false
	}
	return ua == ub && ra == rb && ta == tb && sameRange(la, lb)
}

// sameRange compares two MLS ranges "low[-high]".
func sameRange(a, b string) bool {
	la, ha, _ := strings.Cut(a, "-")
	lb, hb, _ := strings.Cut(b, "-")
	if ha == "" {
		ha = la
	}
	if hb == "" {
		hb = lb
	}
	return sameLevel(la, lb) && sameLevel(ha, hb)
}

// sameLevel compares two MLS levels "sN[:cats]".
func sameLevel(a, b string) bool {
	sa, ca, _ := strings.Cut(a, ":")
	sb, cb, _ := strings.Cut(b, ":")
	if sa != sb {
		return false
	}
	xa, ok := categories(ca)
	if !ok {
		return false
	}
	xb, ok := categories(cb)
	return ok && slices.Equal(xa, xb)
}

// categories expands "c1,c3.c5" into [1 3 4 5].
func categories(s string) ([]int, bool) {
	var out []int
	if s == "" {
		return out, true
	}
	num := func(c string) (int, bool) {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "c"))
		return n, err == nil && strings.HasPrefix(c, "c") && n >= 0
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ".")
		a, ok := num(lo)
		if !ok {
			return nil, false
		}
		b := a
		if isRange {
			if b, ok = num(hi); !ok || b < a {
				return nil, false
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), true
}

// ownUser is the engine's SELinux user: the user of every label it sets.
// Labelling with its own user (not system_u) means relabelling a file it
// or its steps made never changes the file's SELinux user, which would
// need an identity-change exemption.
var ownUser = sync.OnceValues(func() (string, error) {
	cur, err := selinux.CurrentLabel()
	if err != nil {
		return "", err
	}
	user, _, _, _, err := splitContext(cur)
	return user, err
})

// fileLabel is the label the engine gives its files: its own user, role
// object_r, the type and the level.
func fileLabel(fileType, level string) (string, error) {
	user, err := ownUser()
	if err != nil {
		return "", fmt.Errorf("%w: SELinux: read the engine's own context: %v", ErrUnsupported, err)
	}
	return user + ":object_r:" + fileType + ":" + level, nil
}

// systemPaths are folders the engine never relabels, whatever a
// configuration names as its build root.
var systemPaths = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/home": true,
	"/lib": true, "/lib64": true, "/media": true, "/mnt": true, "/opt": true, "/proc": true,
	"/root": true, "/run": true, "/sbin": true, "/srv": true, "/sys": true, "/tmp": true,
	"/usr": true, "/var": true, "/var/lib": true, "/var/log": true, "/var/tmp": true,
}

// relabel gives path the type and level of label unless it has them
// already (whatever its user), not following symlinks. Errors wrap
// ErrUnsupported: a folder that cannot carry its label is a confinement
// that cannot be applied.
func relabel(path, label string) error {
	if systemPaths[filepath.Clean(path)] {
		return fmt.Errorf("%w: SELinux: refusing to relabel %s (a system folder) %s", ErrUnsupported, path, label)
	}
	if cur, err := selinux.LfileLabel(path); err == nil {
		_, _, ct, cl, e1 := splitContext(cur)
		_, _, wt, wl, e2 := splitContext(label)
		if e1 == nil && e2 == nil && ct == wt && sameRange(cl, wl) {
			return nil
		}
	}
	if err := selinux.LsetFileLabel(path, label); err != nil {
		hint := ""
		if errors.Is(err, syscall.EINVAL) {
			hint = " (not a context of the loaded policy: is the autobuild policy module installed? semodule -l)"
		}
		return fmt.Errorf("%w: SELinux: label %s %s: %v%s", ErrUnsupported, path, label, err, hint)
	}
	return nil
}

// relabelTree labels every file below dir, then dir itself: a tree whose
// top carries the label is labelled whole, even if an earlier relabel was
// cut short.
func relabelTree(dir, label string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p == dir {
			return nil
		}
		return relabel(p, label)
	})
	if err != nil {
		return err
	}
	return relabel(dir, label)
}

// LabelModuleDir labels a module's folder, and everything in it, with the
// given file type and the module's MCS categories, so only that module's
// steps may use it. Files created below inherit the type and get the
// creating step's categories. It does nothing when SELinux is off.
func LabelModuleDir(dir, fileType, mcs string) error {
	if !selinux.GetEnabled() {
		return nil
	}
	label, err := fileLabel(fileType, mcs)
	if err != nil {
		return err
	}
	return relabelTree(dir, label)
}

// LabelDir labels one folder (not its contents) with a file type at level
// s0; files created in it inherit the type. It does nothing when SELinux
// is off.
func LabelDir(dir, fileType string) error {
	if !selinux.GetEnabled() {
		return nil
	}
	label, err := fileLabel(fileType, "s0")
	if err != nil {
		return err
	}
	return relabel(dir, label)
}

// SealInstallRoot makes a module's finished install root read-only for
// every build: the whole tree becomes InstallROType at level s0, which
// every build domain may read and none may write, whatever its
// categories. The engine calls it once the module's build has succeeded
// (or its install root was restored from the archive), before any
// dependent starts. Before the module builds again, PrepareDir wipes the
// folder and LabelModuleDir gives it InstallType at the module's
// categories. It does nothing when SELinux is off.
func SealInstallRoot(dir string) error {
	if !selinux.GetEnabled() {
		return nil
	}
	label, err := fileLabel(InstallROType, "s0")
	if err != nil {
		return err
	}
	// The top is labelled last: a top that is sealed has a sealed tree
	// (an unchanged module's install root costs one getxattr per run).
	if cur, err := selinux.LfileLabel(dir); err == nil {
		if _, _, t, l, err := splitContext(cur); err == nil && t == InstallROType && sameRange(l, "s0") {
			return nil
		}
	}
	return relabelTree(dir, label)
}
