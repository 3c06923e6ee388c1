// Package state is the engine's memory between runs, in state/ of the
// build root: the run counter, the run history, and per module what its
// folders hold (the cache key of its install and package roots, the
// revision its source folder holds).
//
// The state is written ahead, so that a run killed at any instruction
// leaves nothing that the next run could take for a good result:
//
//   - Each module has a file of its own (modules/<name>.json), replaced
//     atomically and synced (file and folder) on every change. The engine
//     marks a module as in progress, and forgets its key, before any of
//     its folders change, and records the new key only after the folders
//     are complete and synced. A module found in progress is rebuilt.
//   - The run counter is replaced atomically; a value that is not a
//     positive number is never silently restarted: the next counter is
//     recovered from what is on disk (the log folders and the history).
//   - The history lists the runs that were published, written after they
//     were; a damaged history file is kept aside and reported.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	// Artifacts is the fingerprint of the package root when Key was
	// recorded (see collect.Fingerprint): a reuse checks it.
	Artifacts string `json:"artifacts,omitempty"`
	// Tests are what the results file of the build that produced Key
	// reported: a reuse reports them again.
	Tests *report.Tests `json:"tests,omitempty"`
	// InProgress names what was changing the module's install and package
	// folders ("build", "restore") when that began; it is cleared when
	// they are complete. A run that finds it set rebuilds the module.
	InProgress string `json:"in_progress,omitempty"`
	// Failed remembers the last build that failed: with the same key, the
	// module fails again without running, until its inputs change (or a
	// retry is asked for).
	Failed *Failure `json:"failed,omitempty"`
	// Checkout is the revision the source folder holds.
	Checkout string `json:"checkout,omitempty"`
	// Pristine is the fingerprint of the work tree as checked out: when
	// the tree still has it, no build has changed it.
	Pristine string `json:"pristine,omitempty"`
	// LastGood is the revision of the module's last good build, kept
	// when a later build begins or fails: the changes a run lists are
	// those since.
	LastGood string `json:"last_good,omitempty"`
}

// Failure is a build that failed, as remembered.
type Failure struct {
	Key    string `json:"key"`
	Run    int    `json:"run"`
	Reason string `json:"reason"`
	// Log is the absolute path of that build's log.
	Log string `json:"log,omitempty"`
	// Tests are what its results file reported.
	Tests *report.Tests `json:"tests,omitempty"`
}

// Modules is what the engine remembers of every module. It is safe for
// concurrent use; every Put is on disk when it returns.
type Modules struct {
	dir string
	mu  sync.Mutex
	m   map[string]Module
	// Damaged names the module files that could not be read (they read
	// as empty: a rebuild, never a wrong reuse).
	Damaged []string
}

const modulesDir = "modules"

// legacyFile is the single state file of earlier versions; Load moves
// its entries into the per-module files.
const legacyFile = "modules.json"

// Load reads the module state in dir. A damaged file costs a rebuild,
// never a wrong reuse: it reads as empty, and is named in Damaged.
func Load(dir string) (*Modules, error) {
	s := &Modules{dir: dir, m: map[string]Module{}}
	if err := os.MkdirAll(filepath.Join(dir, modulesDir), 0o755); err != nil {
		return nil, err
	}
	if err := s.migrate(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(dir, modulesDir))
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() {
			continue // renameio's temporary files, or not ours
		}
		b, err := os.ReadFile(filepath.Join(dir, modulesDir, e.Name()))
		if err != nil {
			return nil, err
		}
		var m Module
		if err := json.Unmarshal(b, &m); err != nil {
			s.Damaged = append(s.Damaged, name)
			continue
		}
		s.m[name] = m
	}
	return s, nil
}

// migrate moves the entries of the single state file of earlier versions
// into per-module files, then removes it.
func (s *Modules) migrate() error {
	p := filepath.Join(s.dir, legacyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var old struct {
		Modules map[string]Module `json:"modules"`
	}
	if json.Unmarshal(b, &old) == nil {
		for name, m := range old.Modules {
			if _, err := os.Stat(s.file(name)); err == nil {
				continue
			}
			if err := s.write(name, m); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(p); err != nil {
		return err
	}
	return syncDir(s.dir)
}

func (s *Modules) file(name string) string {
	return filepath.Join(s.dir, modulesDir, name+".json")
}

// Get returns what is remembered of module name.
func (s *Modules) Get(name string) Module {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[name]
}

// All returns a copy of every module's state.
func (s *Modules) All() map[string]Module {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make(map[string]Module, len(s.m))
	for k, v := range s.m {
		all[k] = v
	}
	return all
}

// Update changes module name's state with f and writes it through: when
// Update returns nil, the new state is on disk. On error the state in
// memory is unchanged.
func (s *Modules) Update(name string, f func(*Module)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m[name]
	if m.Failed != nil {
		c := *m.Failed
		m.Failed = &c
	}
	f(&m)
	if equal(m, s.m[name]) {
		if _, err := os.Stat(s.file(name)); err == nil {
			return nil
		}
	}
	if err := s.write(name, m); err != nil {
		return fmt.Errorf("state of %s: %w", name, err)
	}
	s.m[name] = m
	return nil
}

func equal(a, b Module) bool {
	fa, fb := a.Failed, b.Failed
	a.Failed, b.Failed = nil, nil
	return a == b && (fa == nil) == (fb == nil) && (fa == nil || *fa == *fb)
}

// write replaces module name's file atomically and syncs it and its
// folder.
func (s *Modules) write(name string, m Module) error {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return writeFile(s.file(name), b)
}

// writeFile replaces p with b atomically: the file is synced before the
// rename, the folder after it.
func writeFile(p string, b []byte) error {
	dir := filepath.Dir(p)
	if err := renameio.WriteFile(p, b, 0o644, renameio.WithTempDir(dir)); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// MaxCounter is the largest run number; a counter beyond it is refused
// rather than overflowed.
const MaxCounter = math.MaxInt32

// CounterError is a run counter that cannot go on.
type CounterError struct {
	File string
	Msg  string
}

func (e *CounterError) Error() string { return e.File + ": " + e.Msg }

// NextCounter increments and returns the run counter. The number it
// returns is larger than every run that left a trace (evidence: the run
// numbers of log folders and of the history), so a damaged, reverted or
// missing counter file never makes a run reuse an earlier run's number;
// recovered says when the file's own value was not usable.
func NextCounter(dir string, evidence ...int) (n int, recovered string, err error) {
	p := filepath.Join(dir, "counter")
	b, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if len(evidence) > 0 {
			recovered = "the counter file is missing"
		}
	case err != nil:
		return 0, "", err
	default:
		text := strings.TrimSpace(string(b))
		v, perr := strconv.ParseInt(text, 10, 64)
		switch {
		case perr != nil && errors.Is(perr, strconv.ErrRange):
			return 0, "", &CounterError{File: p, Msg: fmt.Sprintf("run counter %q is out of range (at most %d)", text, MaxCounter)}
		case perr != nil:
			recovered = fmt.Sprintf("the counter file holds %q, not a run number", text)
		case v < 0:
			recovered = fmt.Sprintf("the counter file holds %d, a negative run number", v)
		case v >= MaxCounter:
			return 0, "", &CounterError{File: p, Msg: fmt.Sprintf("run counter %d has reached its maximum %d: move the build root's state aside to start over", v, MaxCounter)}
		default:
			n = int(v)
		}
	}
	for _, e := range evidence {
		if e > n {
			if recovered == "" {
				recovered = fmt.Sprintf("the counter file holds %d, but run %d left logs", n, e)
			}
			n = e
		}
	}
	if n >= MaxCounter {
		return 0, "", &CounterError{File: p, Msg: fmt.Sprintf("run counter has reached its maximum %d", MaxCounter)}
	}
	n++
	return n, recovered, writeFile(p, []byte(strconv.Itoa(n)+"\n"))
}

// Runs returns the run numbers that left a folder in root (a log root):
// evidence for NextCounter.
func Runs(root string) []int {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var runs []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > 0 && n < MaxCounter {
			runs = append(runs, n)
		}
	}
	sort.Ints(runs)
	return runs
}

const historyFile = "history.json"

// History reads the run history, newest first. A damaged file is moved
// aside (to history.json.damaged) and reported in the error's place as
// aside: the history starts again, and nothing is lost.
func History(stateDir string) (h []report.Summary, aside string, err error) {
	p := filepath.Join(stateDir, historyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		aside = p + ".damaged"
		if rerr := os.Rename(p, aside); rerr != nil {
			return nil, "", fmt.Errorf("%s is damaged (%v) and cannot be moved aside: %w", p, err, rerr)
		}
		return nil, aside, nil
	}
	return h, "", nil
}

const historyKeep = 100

// WithRun returns h with s in front, as the history will read once s is
// recorded.
func WithRun(h []report.Summary, s report.Summary) []report.Summary {
	h = append([]report.Summary{s}, h...)
	if len(h) > historyKeep {
		h = h[:historyKeep]
	}
	return h
}

// SaveHistory replaces the run history with h, newest first.
func SaveHistory(stateDir string, h []report.Summary) error {
	b, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(stateDir, historyFile), b)
}
