package tabconf

import "strings"

// reasons say why a Test-AutoBuild setting has no autobuild equivalent,
// by the setting's path: a * stands for any one name, and a pattern
// also covers what is below it. The first that matches is the reason.
var reasons = []struct{ pattern, why string }{
	// Test-AutoBuild 1.2's auto-build.conf
	{"engine", "autobuild's run is one fixed pipeline (checkout, build, archive, publish), with no engine file"},
	{"templateDir", "autobuild's page templates (publish.templates) are Go html/template files, not Template Toolkit ones: write them anew"},
	{"adminEmail", whyPeople}, {"adminName", whyPeople}, {"groupEmail", whyPeople}, {"groupName", whyPeople},
	{"admin-email", whyPeople}, {"admin-name", whyPeople}, {"group-email", whyPeople}, {"group-name", whyPeople},
	{"rsyncURI", "autobuild publishes into a local folder (publish.dir): copy it elsewhere yourself"},
	{"engineLogFile", "autobuild logs to stderr (--log-level, --log-format), and to the journal under systemd"},
	{"lockMethod", "autobuild locks its build root itself (state/lock)"},
	{"lock", "autobuild locks its build root itself (state/lock)"},
	{"platform", "autobuild records no description of the build host"},
	{"platforms", "autobuild records no description of the build host"},
	{"alert/*", "autobuild's alerts (alerts:) have no such setting"},
	{"alert", "the mail alerts are not on (features/email_alerts = 1): nothing mails"},
	{"maxCacheSize", whyArchive}, {"maxCacheAge", whyArchive},
	{"groups/*/label", "autobuild's groups have no labels (each module's groups are carried over)"},
	{"groups/*", "autobuild's groups have no settings (each module's groups are carried over)"},
	{"isos", "autobuild makes no ISO images"},
	{"features", "autobuild has no such feature switch"},
	{"repositories/*/label", "autobuild has no repositories: each module names its own source"},
	{"repositories/*/env", "autobuild runs the SCM tools with a clean environment of its own"},
	{"repositories/*/options", "no autobuild source kind takes this option"},
	{"repositories/*/enabled", "Test-AutoBuild did not look at it: disable the modules instead"},
	{"repositories/*", "autobuild has no repositories: each module names its own source"},
	{"modules/*/artifacts", "autobuild publishes each module's package folder ($AUTOBUILD_PACKAGE_ROOT): have the build script copy these files there"},
	{"modules/*/useArchive", whyRebuild}, {"modules/*/cache", whyRebuild},
	{"modules/*/adminEmail", whyPeople}, {"modules/*/adminName", whyPeople},
	{"modules/*/groupEmail", whyPeople}, {"modules/*/groupName", whyPeople},
	{"modules/*/admin-email", whyPeople}, {"modules/*/admin-name", whyPeople},
	{"modules/*/group-email", whyPeople}, {"modules/*/group-name", whyPeople},
	{"modules/*/admin_email", whyPeople}, {"modules/*/admin_name", whyPeople},
	{"modules/*/group_email", whyPeople}, {"modules/*/group_name", whyPeople},
	{"modules/*/dir", "autobuild checks a module out into source-root/<its name>"},
	{"modules/*/options", "autobuild has no module options (the build command is command:)"},
	{"modules/*/module", "autobuild has no module classes"},
	{"modules/*/buildroot", "every autobuild module installs into an install root of its own"},
	// Test-AutoBuild 1.0's, and the engine's own settings
	{"nice-level", "autobuild bounds each step with the resource limits of its trust level (levels:), not a nice level"},
	{"tmp-dir", "each autobuild step gets a private TMPDIR"},
	{"build/home", whyLayout}, {"build/root", whyLayout}, {"build/cache-dir", whyLayout}, {"root", whyLayout},
	{"build", "autobuild has no such build setting"},
	{"package-types", "autobuild publishes every file a build leaves in its package folder, whatever its type"},
	{"output/*/options/url", "autobuild's alerts link the module's log and the site from publish.url"},
	{"output/*/options/ignore-modules", "autobuild's alerts.to get the alerts of every module"},
	{"output/*/options/template-dir", "autobuild's alert mails are plain text of its own, from no template"},
	{"publishers", "autobuild publishes one status site, with logs and packages (publish:)"},
	{"output", "autobuild publishes one status site, with logs and packages (publish:)"},
	{"stages", "autobuild's run is one fixed pipeline (checkout, build, archive, publish)"},
	{"counter/options", "autobuild's counters take no options (counter: changelist takes the newest Subversion revision of the run)"},
	{"counter", "autobuild numbers its runs itself (AUTOBUILD_COUNTER)"},
	{"log4perl", "autobuild logs to stderr (--log-level, --log-format)"},
	{"monitors", "autobuild shows its progress with run --progress"},
	{"archive", "the build archive is archive: {keep, disabled}"},
}

const (
	whyPeople  = "autobuild names people only as the recipients of its mail alerts (alerts.to, a module's admins:), and the alerts here do not mail them"
	whyArchive = "autobuild's build archive keeps a number of entries per module (archive.keep), not a size or an age"
	whyRebuild = "autobuild reuses a module's build whenever none of its inputs changed; it has no switch to build one module every run"
	whyLayout  = "autobuild lays out source-root/, install-root/, package-root/ and the build archive under build_root itself"
)

// reason is why setting p is not carried over.
func reason(p string) string {
	parts := strings.Split(p, "/")
	for _, r := range reasons {
		pat := strings.Split(r.pattern, "/")
		if len(pat) > len(parts) {
			continue
		}
		ok := true
		for i, s := range pat {
			if s != "*" && s != parts[i] {
				ok = false
				break
			}
		}
		if ok {
			return r.why
		}
	}
	if strings.HasPrefix(p, "modules/") {
		return "autobuild modules have no such setting"
	}
	return "autobuild has no such setting"
}
