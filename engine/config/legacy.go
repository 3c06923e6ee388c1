package config

import (
	"fmt"
	"strings"
)

// The settings that let Test-AutoBuild's build scripts run unchanged
// (README, "Running Test-AutoBuild scripts unchanged"): a global env for
// every build, which counter AUTOBUILD_COUNTER holds and how
// AUTOBUILD_TIMESTAMP is written, and whether a build sees its
// dependencies' installed files in its own install root.

// The counters AUTOBUILD_COUNTER (and AUTO_BUILD_COUNTER) may hold: the
// counter: key.
const (
	// CounterRun is the engine's run counter (the default).
	CounterRun = "run"
	// CounterTime is Test-AutoBuild's Counter::Time: the run's start, in
	// seconds since the epoch.
	CounterTime = "time"
	// CounterTimestamp is Test-AutoBuild's Counter::Timestamp: the time
	// the run's sources are as of (timestamp:, else the run's start), in
	// seconds since the epoch.
	CounterTimestamp = "timestamp"
	// CounterChangelist is Test-AutoBuild's Counter::ChangeList: the
	// newest revision number among the modules' revisions that are one
	// (Subversion's); the run counter when none is.
	CounterChangelist = "changelist"
)

// Counters are the values of counter:, the default first.
var Counters = []string{CounterRun, CounterTime, CounterTimestamp, CounterChangelist}

// How AUTOBUILD_TIMESTAMP is written: the timestamp_format: key.
const (
	// TimestampRFC3339 is the run's start in RFC 3339, UTC (the default).
	TimestampRFC3339 = "rfc3339"
	// TimestampEpoch is Test-AutoBuild's: the time the run's sources are
	// as of (timestamp:, else the run's start), in seconds since the
	// epoch.
	TimestampEpoch = "epoch"
)

// What a build sees at its install root: the install_root: key.
const (
	// InstallRootMerged: its dependencies' install roots beneath its
	// own, read-only, as in Test-AutoBuild's shared install root (the
	// default). A module without dependencies sees its own.
	InstallRootMerged = "merged"
	// InstallRootOwn: its own install root only.
	InstallRootOwn = "own"
)

// MergedInstallRoot reports whether m's build sees its dependencies'
// install roots beneath its own (after Load).
func (m *Module) MergedInstallRoot() bool { return m.InstallRoot != InstallRootOwn }

// legacy checks and completes those settings: the global env is merged
// into every module's (the module's own value wins for a key both set),
// and every module gets its install_root.
func (l *loader) legacy(c *Config) error {
	if c.Counter == "" {
		c.Counter = CounterRun
	}
	if !isOneOf(c.Counter, Counters...) {
		return l.err("counter", "must be %s, not %q", quotedList(Counters), c.Counter)
	}
	if c.TimestampFormat == "" {
		c.TimestampFormat = TimestampRFC3339
	}
	if !isOneOf(c.TimestampFormat, TimestampRFC3339, TimestampEpoch) {
		return l.err("timestamp_format", "must be %s, not %q", quotedList([]string{TimestampRFC3339, TimestampEpoch}), c.TimestampFormat)
	}
	roots := []string{InstallRootMerged, InstallRootOwn}
	if c.InstallRoot == "" {
		c.InstallRoot = InstallRootMerged
	}
	if !isOneOf(c.InstallRoot, roots...) {
		return l.err("install_root", "must be %s, not %q", quotedList(roots), c.InstallRoot)
	}
	global := map[string]int{}
	for j, e := range c.Env {
		k, err := l.envEntry(fmt.Sprintf("env[%d]", j), e)
		if err != nil {
			return err
		}
		if i, dup := global[k]; dup {
			return l.err(fmt.Sprintf("env[%d]", j), "%s is set twice (first in env[%d])", k, i)
		}
		global[k] = j
	}
	for i := range c.Modules {
		m := &c.Modules[i]
		key := fmt.Sprintf("modules[%d]", i)
		if m.InstallRoot == "" {
			m.InstallRoot = c.InstallRoot
		}
		if !isOneOf(m.InstallRoot, roots...) {
			return l.err(key+".install_root", "must be %s, not %q", quotedList(roots), m.InstallRoot)
		}
		own := map[string]bool{}
		for j, e := range m.Env {
			k, err := l.envEntry(fmt.Sprintf("%s.env[%d]", key, j), e)
			if err != nil {
				return err
			}
			own[k] = true
		}
		if len(c.Env) == 0 {
			continue
		}
		merged := make([]string, 0, len(c.Env)+len(m.Env))
		for _, e := range c.Env {
			if k, _, _ := strings.Cut(e, "="); !own[k] {
				merged = append(merged, e)
			}
		}
		m.Env = append(merged, m.Env...)
	}
	return nil
}

// envEntry checks one KEY=VALUE of an env list and returns its key.
func (l *loader) envEntry(key, e string) (string, error) {
	k, _, ok := strings.Cut(e, "=")
	switch {
	case !ok || k == "":
		return "", l.err(key, "must be KEY=VALUE, not %q", e)
	case strings.HasPrefix(k, "AUTOBUILD_") || strings.HasPrefix(k, "AUTO_BUILD_"):
		return "", l.err(key, "%s is set by the engine and cannot be overridden", k)
	}
	return k, nil
}

func isOneOf(s string, list ...string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// orList writes values as "a, b or c", each quoted.
func quotedList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
