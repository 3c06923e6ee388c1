package config

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxWorkers is the most modules a run builds at once: the configuration's
// workers and the command line's -j are both checked against it.
const MaxWorkers = 1024

// ValidateWorkers checks a worker count: 0 (the default) to MaxWorkers.
func ValidateWorkers(n int) error {
	if n < 0 || n > MaxWorkers {
		return fmt.Errorf("must be from 0 to %d, not %d", MaxWorkers, n)
	}
	return nil
}

// MaxNameLen is the longest module name, in bytes. Every file the engine
// names after a module must fit in a file name (255 bytes): its logs
// (<name>.log, <name>.restored.log), its state file (<name>.json) and the
// temporary file that replaces it (.<name>.json and up to 19 digits).
const MaxNameLen = 200

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

var nonIdent = regexp.MustCompile(`[^A-Z0-9_]`)

// DepEnvVar is the variable that gives a module's install root to the
// builds of its dependents: AUTOBUILD_DEP_<NAME>_ROOT, the name
// upper-cased and every other character than a letter, a digit or _
// written as _.
func DepEnvVar(module string) string {
	return "AUTOBUILD_DEP_" + nonIdent.ReplaceAllString(strings.ToUpper(module), "_") + "_ROOT"
}

// nameForm is a name the engine derives from a module's name, and what it
// names.
type nameForm struct{ what, form string }

// nameForms are the names derived from a module's name that two modules
// could share although their names differ: the variable their dependents'
// builds get, and the files of a run's log folder (also the site's logs/).
// Every other derived name (the folders source-root/<name>, …) is the
// name itself, so only two modules of one name share it.
func nameForms(module string) []nameForm {
	return []nameForm{
		{"the variable", DepEnvVar(module)},
		{"the log file", module + ".log"},
		{"the log file", module + ".restored.log"},
	}
}

// checkName checks one module name alone.
func checkName(name string) string {
	switch {
	case name == "":
		return "missing: every module needs a name"
	case len(name) > MaxNameLen:
		return fmt.Sprintf("%d bytes is too long for a module name (at most %d: files are named after it)", len(name), MaxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Sprintf("%q is not a valid module name (letters, digits and . _ + -, not first)", name)
	}
	return ""
}
