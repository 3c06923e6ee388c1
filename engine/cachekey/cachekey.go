// Package cachekey computes the content key of a module build.
package cachekey

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
)

// Inputs is everything a build's result depends on.
type Inputs struct {
	Module string
	// SourceKind and SourceURL say where the revision comes from: the same
	// revision id from another repository (or another kind of SCM) is
	// another input.
	SourceKind string
	SourceURL  string
	// Sources are a module's several sources (SourceKind and SourceURL
	// are then empty): each one's folder, kind and URL.
	Sources  []Source
	Revision string
	// DepKeys are the keys of the module's direct dependencies, by name.
	DepKeys map[string]string
	Command string
	Env     []string
	Level   string
	// LevelRules is the resolved trust level (network, paths, limits).
	LevelRules string
	Version    string
	// InstallRoot is "merged" when the build sees its dependencies'
	// install roots beneath its own, "" when it sees its own only.
	InstallRoot string
}

// Source is one of a module's several sources.
type Source struct {
	Path, Kind, URL string
}

// Key returns the cache key of a build: one hashed line per input.
//
// Any new input to a build must be added here, and to the test that
// changes each input in turn.
func Key(in Inputs) string {
	h := sha256.New()
	line := func(k, v string) { fmt.Fprintf(h, "%s %q\n", k, v) }
	line("module", in.Module)
	line("source-kind", in.SourceKind)
	line("source-url", in.SourceURL)
	for _, s := range in.Sources {
		line("source "+s.Path, s.Kind+" "+s.URL)
	}
	line("revision", in.Revision)
	deps := make([]string, 0, len(in.DepKeys))
	for d := range in.DepKeys {
		deps = append(deps, d)
	}
	sort.Strings(deps)
	for _, d := range deps {
		line("dep "+d, in.DepKeys[d])
	}
	line("command", in.Command)
	for _, e := range in.Env {
		line("env", e)
	}
	line("level", in.Level)
	line("level-rules", in.LevelRules)
	line("version", in.Version)
	if in.InstallRoot != "" {
		line("install-root", in.InstallRoot) // absent: the keys of builds that saw their own only
	}
	_, _ = io.WriteString(h, "end\n")
	return hex.EncodeToString(h.Sum(nil))
}
