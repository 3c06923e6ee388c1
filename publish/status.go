package publish

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/autobuild/autobuild/engine/report"
)

// status.json is the run's report as the site published it. Its fields
// and their order are report.Run's; an artifact whose name is not UTF-8
// has its readable form as "path" and its exact bytes as "path_bytes"
// (base64), which JSON strings cannot hold.

type siteRun struct {
	report.Run
	Modules []siteModule     `json:"modules"`
	History []report.Summary `json:"history,omitempty"`
}

type siteModule struct {
	report.Module
	Artifacts   []siteArtifact `json:"artifacts,omitempty"`
	Unpublished string         `json:"unpublished,omitempty"`
}

type siteArtifact struct {
	report.Artifact
	// PathBytes is the exact name when Path is only its readable form.
	PathBytes []byte `json:"path_bytes,omitempty"`
}

// statusOf is what status.json holds of run.
func statusOf(run *report.Run) *siteRun {
	s := &siteRun{Run: *run, History: run.History}
	s.Run.Modules, s.Run.History = nil, nil
	for _, m := range run.Modules {
		sm := siteModule{Module: m, Unpublished: m.Unpublished}
		sm.Module.Artifacts, sm.Module.Unpublished = nil, ""
		for _, a := range m.Artifacts {
			sa := siteArtifact{Artifact: a}
			if r := readable(a.Path); r != a.Path {
				sa.Path, sa.PathBytes = r, []byte(a.Path)
			}
			sm.Artifacts = append(sm.Artifacts, sa)
		}
		s.Modules = append(s.Modules, sm)
	}
	return s
}

// readable is name as the site shows it: name itself when it is UTF-8,
// else name with each byte that is not UTF-8 written \xNN.
func readable(name string) string {
	if utf8.ValidString(name) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		r, n := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, `\x%02x`, name[i])
		} else {
			b.WriteString(name[i : i+n])
		}
		i += n
	}
	return b.String()
}
