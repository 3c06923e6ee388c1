package sandbox

import (
	"github.com/opencontainers/selinux/go-selinux"
)

// ExecLabel is the full SELinux context a module's step starts in: the
// engine's own user and role, the level's type and the module's MCS
// categories (mcs, from ID.MCS). It is "" when SELinux is off or the level
// names no type.
func ExecLabel(typ, mcs string) string {
	if typ == "" || !selinux.GetEnabled() {
		return ""
	}
	cur, err := selinux.CurrentLabel()
	if err != nil {
		return ""
	}
	ctx, err := selinux.NewContext(cur)
	if err != nil {
		return ""
	}
	ctx["type"] = typ
	ctx["level"] = mcs
	return ctx.Get()
}

// LabelModuleDir labels a module's folder with the given file type and the
// module's MCS categories, so only that module's steps may use it. Files
// created below inherit the type and get the creating step's categories.
// It does nothing when SELinux is off.
func LabelModuleDir(dir, fileType, mcs string) error {
	if !selinux.GetEnabled() {
		return nil
	}
	return selinux.Chcon(dir, "system_u:object_r:"+fileType+":"+mcs, true)
}

// LabelDir labels one folder (not its contents) with a file type at level
// s0; files created in it inherit the type. It does nothing when SELinux
// is off.
func LabelDir(dir, fileType string) error {
	if !selinux.GetEnabled() {
		return nil
	}
	return selinux.Chcon(dir, "system_u:object_r:"+fileType+":s0", false)
}
