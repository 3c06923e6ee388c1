// Package state is the engine's memory between runs, in state/ of the
// build root: the run counter, the run history, and per module what its
// folders hold (the cache key of its install and package roots, the
// revision its source folder holds). Every file is replaced atomically.
package state

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/autobuild/autobuild/engine/report"
)

// Module is what the engine remembers of a module between runs.
type Module struct {
	// Key is the cache key of what install-root/ and package-root/ hold
	// now; empty when they hold nothing usable.
	Key      string        `json:"key,omitempty"`
	Revision string        `json:"revision,omitempty"`
	Run      int           `json:"run,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Log is the absolute path of the log of the build that produced Key.
	Log string `json:"log,omitempty"`
	// Checkout is the revision the source folder holds.
	Checkout string `json:"checkout,omitempty"`
	// Pristine is the fingerprint of the work tree as checked out: when
	// the tree still has it, no build has changed it.
	Pristine string `json:"pristine,omitempty"`
}

// Modules is what the engine remembers of every module.
type Modules struct {
	dir     string
	Modules map[string]Module `json:"modules"`
}

// Load reads the module state in dir. A damaged file costs a rebuild,
// never a wrong reuse: it reads as empty.
func Load(dir string) (*Modules, error) {
	s := &Modules{dir: dir, Modules: map[string]Module{}}
	b, err := os.ReadFile(filepath.Join(dir, "modules.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, s); err != nil {
		// A damaged state file costs a rebuild, never a wrong reuse.
		return &Modules{dir: dir, Modules: map[string]Module{}}, nil
	}
	if s.Modules == nil {
		s.Modules = map[string]Module{}
	}
	return s, nil
}

// Save replaces the module state file atomically.
func (s *Modules) Save() error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(filepath.Join(s.dir, "modules.json"), b, 0o644, renameio.WithTempDir(s.dir))
}

// NextCounter increments and returns the run counter.
func NextCounter(dir string) (int, error) {
	p := filepath.Join(dir, "counter")
	n := 0
	if b, err := os.ReadFile(p); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n++
	return n, renameio.WriteFile(p, []byte(strconv.Itoa(n)+"\n"), 0o644, renameio.WithTempDir(filepath.Dir(p)))
}

// History reads the run history, newest first.
func History(stateDir string) ([]report.Summary, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, "history.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var h []report.Summary
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, nil
	}
	return h, nil
}

const historyKeep = 100

// AppendHistory adds s to the run history and returns it, newest first.
func AppendHistory(stateDir string, s report.Summary) ([]report.Summary, error) {
	h, err := History(stateDir)
	if err != nil {
		return nil, err
	}
	h = append([]report.Summary{s}, h...)
	if len(h) > historyKeep {
		h = h[:historyKeep]
	}
	b, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return nil, err
	}
	return h, renameio.WriteFile(filepath.Join(stateDir, "history.json"), b, 0o644, renameio.WithTempDir(stateDir))
}
