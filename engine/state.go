package engine

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

func itoa(i int) string { return strconv.Itoa(i) }

// moduleState is what the engine remembers of a module between runs.
type moduleState struct {
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

// state is the engine's memory, in state/ of the build root.
type state struct {
	dir     string
	Modules map[string]moduleState `json:"modules"`
}

func loadState(dir string) (*state, error) {
	s := &state{dir: dir, Modules: map[string]moduleState{}}
	b, err := os.ReadFile(filepath.Join(dir, "modules.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, s); err != nil {
		// A damaged state file costs a rebuild, never a wrong reuse.
		return &state{dir: dir, Modules: map[string]moduleState{}}, nil
	}
	if s.Modules == nil {
		s.Modules = map[string]moduleState{}
	}
	return s, nil
}

func (s *state) save() error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(filepath.Join(s.dir, "modules.json"), b, 0o644)
}

// nextCounter increments and returns the run counter.
func nextCounter(dir string) (int, error) {
	p := filepath.Join(dir, "counter")
	n := 0
	if b, err := os.ReadFile(p); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n++
	return n, renameio.WriteFile(p, []byte(strconv.Itoa(n)+"\n"), 0o644)
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

func appendHistory(stateDir string, s report.Summary) ([]report.Summary, error) {
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
	return h, renameio.WriteFile(filepath.Join(stateDir, "history.json"), b, 0o644)
}
