// Package publishtest is the conformance suite of the publisher boundary:
// every publish.Publisher runs it, in a few lines, to show it keeps the
// contract in publish.Publisher's doc comment.
//
// The suite builds real inputs (logs and package folders on disk, and the
// report.Run describing them) in temporary folders and publishes them for
// real; it uses no mocks. What a publisher "made visible" is whatever its
// Harness.Snapshot describes, so the suite can tell whether a Publish
// changed it:
//
//	func TestConformance(t *testing.T) {
//		publishtest.Run(t, publishtest.Harness{
//			New:      func(t *testing.T, dir string) publish.Publisher { return &Mine{Dir: dir} },
//			Snapshot: func(t *testing.T, dir string) string { return describe(t, dir) },
//		})
//	}
package publishtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// Harness is one publisher under test.
type Harness struct {
	// New returns a fresh publisher whose output goes under dir.
	New func(t *testing.T, dir string) publish.Publisher
	// Snapshot describes what the publisher has made visible so far (for
	// the site: the live site's files and their contents), so the suite
	// can tell whether a failed Publish changed it. It must be the same
	// for the same visible state, and it is called before the first
	// Publish too.
	Snapshot func(t *testing.T, dir string) string
}

// Run runs the suite on the publisher h makes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Snapshot == nil {
		t.Fatal("publishtest: Harness needs New and Snapshot")
	}
	t.Run("Name", func(t *testing.T) { testName(t, h) })
	t.Run("Publish", func(t *testing.T) { testPublish(t, h) })
	t.Run("InputsUnchanged", func(t *testing.T) { testInputsUnchanged(t, h) })
	t.Run("InputsOpenForWriting", func(t *testing.T) { testInputsOpenForWriting(t, h) })
	t.Run("UnpublishableFile", func(t *testing.T) { testUnpublishableFile(t, h) })
	t.Run("NextRun", func(t *testing.T) { testNextRun(t, h) })
	t.Run("FailureKeepsPrevious", func(t *testing.T) { testFailureKeepsPrevious(t, h) })
	t.Run("GoodAfterFailure", func(t *testing.T) { testGoodAfterFailure(t, h) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelledContext(t, h) })
}

// The modules of every run the suite publishes.
const (
	builtName   = "built"
	failedName  = "failed"
	skippedName = "skipped"
)

// mtime is the fixed modification time of every input, so that a
// publisher touching one is seen whatever the clock's resolution.
var mtime = time.Date(2024, 3, 1, 4, 5, 6, 0, time.UTC)

// inputs is a run's files on disk and the Input describing them.
type inputs struct {
	// root holds logs/ and pkg/; nothing else is under it.
	root string
	// pkg is the built module's package folder.
	pkg string
	in  publish.Input
}

// newInputs builds, in a fresh folder, run counter: a built module with a
// log and two artifacts (one in a subfolder), a failed module with a log
// only and a skipped module with no log.
func newInputs(t *testing.T, counter int) *inputs {
	t.Helper()
	root := t.TempDir()
	logs := filepath.Join(root, "logs")
	pkg := filepath.Join(root, "pkg", builtName)
	files := []struct {
		path string
		body string
		mode fs.FileMode
	}{
		{filepath.Join(logs, builtName+".log"), fmt.Sprintf("run %d: compiling\nok\n", counter), 0o644},
		{filepath.Join(logs, failedName+".log"), fmt.Sprintf("run %d: error: no such file\n", counter), 0o600},
		{filepath.Join(pkg, "built_1.0_amd64.deb"), fmt.Sprintf("DEB of run %d", counter), 0o644},
		{filepath.Join(pkg, "src", "built-1.0.tar.gz"), strings.Repeat(fmt.Sprintf("tar %d ", counter), 500), 0o640},
	}
	for _, f := range files {
		writeFile(t, f.path, f.body, f.mode)
	}
	// Folders last, deepest first: writing their files set their mtimes.
	for _, d := range []string{filepath.Join(pkg, "src"), pkg, filepath.Join(root, "pkg"), logs} {
		if err := os.Chtimes(d, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	start := mtime.Add(time.Duration(counter) * time.Hour)
	run := &report.Run{
		Counter:  counter,
		Start:    start,
		Duration: 95 * time.Second,
		Modules: []report.Module{
			{Name: builtName, State: report.Built, Revision: "0123456789abcdef", Key: fmt.Sprintf("k-%d", counter),
				Level: "isolated", Start: start, Duration: 90 * time.Second,
				Artifacts: []report.Artifact{artifact(t, pkg, "built_1.0_amd64.deb"), artifact(t, pkg, "src/built-1.0.tar.gz")}},
			{Name: failedName, State: report.Failed, Reason: "build exited with status 2", Revision: "77aa",
				Level: "isolated", Start: start.Add(time.Second), Duration: 3 * time.Second},
			{Name: skippedName, State: report.Skipped, Reason: "dependency failed failed", Depends: []string{failedName},
				Level: "isolated", Start: start.Add(5 * time.Second)},
		},
	}
	if counter > 1 {
		run.History = []report.Summary{{Counter: counter - 1, Start: start.Add(-time.Hour), Duration: time.Minute, Built: 1, Failed: 1, Skipped: 1}}
	}
	return &inputs{root: root, pkg: pkg, in: publish.Input{
		Run: run,
		Files: map[string]publish.ModuleFiles{
			builtName:   {Log: filepath.Join(logs, builtName+".log"), Packages: pkg},
			failedName:  {Log: filepath.Join(logs, failedName+".log")},
			skippedName: {}, // never ran: no log, no packages
		},
	}}
}

func writeFile(t *testing.T, p, body string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// artifact describes the file rel of a package folder, as the engine does.
func artifact(t *testing.T, pkg, rel string) report.Artifact {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pkg, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return report.Artifact{Path: rel, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
}

// publish runs one Publish that must succeed.
func publishOK(t *testing.T, p publish.Publisher, in publish.Input) {
	t.Helper()
	if err := p.Publish(context.Background(), in); err != nil {
		t.Fatalf("%s: Publish of run %d: %v", p.Name(), in.Run.Counter, err)
	}
}

// snapshot calls h.Snapshot twice and checks it describes the same state
// the same way: the suite's comparisons mean nothing otherwise.
func snapshot(t *testing.T, h Harness, dir string) string {
	t.Helper()
	s := h.Snapshot(t, dir)
	if again := h.Snapshot(t, dir); again != s {
		t.Fatalf("Snapshot is not stable: two calls on the same state differ:\n%.500s\n---\n%.500s", s, again)
	}
	return s
}

func sameSnapshot(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s changed what is visible:\n got %.1000s\nwant %.1000s", what, got, want)
	}
}

func testName(t *testing.T, h Harness) {
	p := h.New(t, t.TempDir())
	name := p.Name()
	if name == "" {
		t.Fatal("Name() is empty")
	}
	if strings.TrimSpace(name) != name || strings.ContainsAny(name, " \t\n") {
		t.Errorf("Name() = %q: a name in logs and errors has no spaces", name)
	}
	if again := p.Name(); again != name {
		t.Errorf("Name() = %q, then %q", name, again)
	}
	publishOK(t, p, newInputs(t, 1).in)
	if after := p.Name(); after != name {
		t.Errorf("Name() = %q before Publish, %q after", name, after)
	}
	if other := h.New(t, t.TempDir()).Name(); other != name {
		t.Errorf("Name() = %q, but %q for another instance", name, other)
	}
}

func testPublish(t *testing.T, h Harness) {
	dir := t.TempDir()
	p := h.New(t, dir)
	empty := snapshot(t, h, dir)
	publishOK(t, p, newInputs(t, 1).in)
	if got := snapshot(t, h, dir); got == empty {
		t.Errorf("Snapshot after a successful Publish is still its empty state %q", empty)
	}
}

// fileState is what the suite records of one input.
type fileState struct {
	dir     bool
	mode    fs.FileMode
	size    int64
	mtime   time.Time
	nlink   uint64
	sha256  string
	entries string // a folder's listing
}

// state records every file and folder under root, by relative path.
func state(t *testing.T, root string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no syscall.Stat_t", p)
		}
		s := fileState{dir: info.IsDir(), mode: info.Mode(), size: info.Size(), mtime: info.ModTime(), nlink: uint64(st.Nlink)}
		if info.IsDir() {
			ents, err := os.ReadDir(p)
			if err != nil {
				return err
			}
			var names []string
			for _, e := range ents {
				names = append(names, e.Name()+" "+e.Type().String())
			}
			s.entries = strings.Join(names, ", ")
		} else if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			s.sha256 = hex.EncodeToString(sum[:])
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sortedKeys(m map[string]fileState) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func testInputsUnchanged(t *testing.T, h Harness) {
	dir := t.TempDir()
	p := h.New(t, dir)
	ins := newInputs(t, 1)
	before := state(t, ins.root)
	inJSON, _ := json.Marshal(ins.in)
	publishOK(t, p, ins.in)
	after := state(t, ins.root)

	checkInputsUnchanged(t, before, after)
	t.Run("Report", func(t *testing.T) {
		if got, _ := json.Marshal(ins.in); string(got) != string(inJSON) {
			t.Errorf("Publish changed its Input (run report or file map):\n got %s\nwant %s", got, inJSON)
		}
	})
}

// isLog reports whether the input at rel (below the inputs' root) is a
// log: the engine's, which a publisher may link (see publish.Publisher).
func isLog(rel string) bool { return strings.HasPrefix(rel, "logs/") }

// sealed reports whether a log went from b to a as publish.LinkLog may
// take it: its write bits cleared, when it was readable by all and had
// no other link.
func sealed(b, a fileState) bool {
	return b.nlink == 1 && b.mode.Perm()&^0o222 == 0o444 && a.mode == b.mode&^0o222
}

// checkInputsUnchanged compares the inputs' states before and after a
// Publish: contents, sizes, mtimes, modes, folder listings, link counts.
// A log may gain links and lose its write bits (see publish.Publisher);
// testInputsOpenForWriting shows such a link cannot change the site.
func checkInputsUnchanged(t *testing.T, before, after map[string]fileState) {
	t.Helper()
	// linked lists the inputs that gained a hard link.
	var linked []string
	for _, k := range sortedKeys(before) {
		if a, ok := after[k]; ok && !before[k].dir && a.nlink != before[k].nlink && !isLog(k) {
			linked = append(linked, fmt.Sprintf("%s (Nlink %d -> %d)", k, before[k].nlink, a.nlink))
		}
	}

	t.Run("ContentSizeMtime", func(t *testing.T) {
		for _, k := range sortedKeys(before) {
			b, a := before[k], after[k]
			if b.dir {
				continue
			}
			if _, ok := after[k]; !ok {
				t.Errorf("input %s disappeared", k)
				continue
			}
			if a.sha256 != b.sha256 {
				t.Errorf("input %s: content changed", k)
			}
			if a.size != b.size {
				t.Errorf("input %s: size %d, was %d", k, a.size, b.size)
			}
			if !a.mtime.Equal(b.mtime) {
				t.Errorf("input %s: mtime %v, was %v", k, a.mtime, b.mtime)
			}
		}
	})
	t.Run("Listing", func(t *testing.T) {
		// Every folder of the inputs, the package folder included, lists
		// the same entries, with the same mode and mtime (a file made
		// and removed there changes its mtime).
		for _, k := range sortedKeys(before) {
			if _, ok := after[k]; !ok && before[k].dir {
				t.Errorf("input folder %s disappeared", k)
			}
		}
		for _, k := range sortedKeys(after) {
			if _, ok := before[k]; !ok {
				t.Errorf("%s appeared among the inputs", k)
			}
		}
		for _, k := range sortedKeys(before) {
			b, a := before[k], after[k]
			if !b.dir || !a.dir {
				continue
			}
			if a.entries != b.entries {
				t.Errorf("folder %s lists %q, listed %q", k, a.entries, b.entries)
			}
			if a.mode != b.mode || !a.mtime.Equal(b.mtime) {
				t.Errorf("folder %s: mode %v mtime %v, was %v %v", k, a.mode, a.mtime, b.mode, b.mtime)
			}
		}
	})
	t.Run("Mode", func(t *testing.T) {
		for _, k := range sortedKeys(before) {
			b, a := before[k], after[k]
			if b.dir {
				continue
			}
			if _, ok := after[k]; !ok {
				continue // reported by ContentSizeMtime
			}
			if a.mode != b.mode && !(isLog(k) && sealed(b, a)) {
				t.Errorf("input %s: mode %v, was %v", k, a.mode, b.mode)
			}
		}
	})
	t.Run("NoHardLink", func(t *testing.T) {
		if len(linked) > 0 {
			t.Errorf("Publish hard-linked its inputs, which then change with every change to the published file (mode included): %s",
				strings.Join(linked, ", "))
		}
	})
}

// testInputsOpenForWriting: a process of a build step that outlived its
// step still holds its log (and an artifact) open for writing, and writes
// through it after the Publish. What the publisher made visible does not
// change: it linked no file that can still be written.
func testInputsOpenForWriting(t *testing.T, h Harness) {
	dir := t.TempDir()
	p := h.New(t, dir)
	ins := newInputs(t, 1)
	var writers []*writer
	for _, rel := range []string{"logs/" + builtName + ".log", "logs/" + failedName + ".log", "pkg/" + builtName + "/built_1.0_amd64.deb"} {
		writers = append(writers, startWriter(t, filepath.Join(ins.root, filepath.FromSlash(rel))))
	}
	// The artifact's entry must still match: the late write comes after.
	publishOK(t, p, ins.in)
	published := snapshot(t, h, dir)
	for _, w := range writers {
		w.write(t, "WRITTEN AFTER THE RUN")
	}
	// Control: the writes reached the inputs.
	for _, w := range writers {
		if b, err := os.ReadFile(w.path); err != nil || !strings.Contains(string(b), "WRITTEN AFTER THE RUN") {
			t.Fatalf("control: the late write did not reach %s (%v)", w.path, err)
		}
	}
	sameSnapshot(t, "a write to an input after Publish", snapshot(t, h, dir), published)
}

// writer is a real process that holds a file open for writing (its
// stdout, opened O_APPEND as a step's log is), and writes one line to it
// when told.
type writer struct {
	path  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startWriter(t *testing.T, path string) *writer {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child keeps its own descriptor
	cmd := exec.Command("/bin/sh", "-c", `IFS= read -r line; printf '%s\n' "$line"`)
	cmd.Stdout = f
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &writer{path: path, cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return w
}

func (w *writer) write(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(w.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
	w.stdin.Close()
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("the writer of %s: %v", w.path, err)
	}
}

func testNextRun(t *testing.T, h Harness) {
	dir := t.TempDir()
	p := h.New(t, dir)
	publishOK(t, p, newInputs(t, 1).in)
	first := snapshot(t, h, dir)
	publishOK(t, p, newInputs(t, 2).in)
	if second := snapshot(t, h, dir); second == first {
		t.Error("Snapshot did not change when the next run was published")
	}
}

// failing returns inputs of run counter that are malformed, last: a
// module, after the others, whose name is not a path element. Publish
// must fail on it (see publish.Publisher).
func failing(t *testing.T, counter int) *inputs {
	t.Helper()
	ins := newInputs(t, counter)
	ins.in.Run.Modules = append(ins.in.Run.Modules, report.Module{
		Name: "../escape", State: report.Failed, Reason: "a name no module can have", Level: "isolated",
	})
	return ins
}

// unpublishable are the ways a built module's file may not be what the
// report lists. Each costs that module its artifacts; the run is
// published.
var unpublishable = []struct {
	name  string
	setup func(t *testing.T, ins *inputs)
}{
	{"missing", func(t *testing.T, ins *inputs) {
		m := &ins.in.Run.Modules[0]
		m.Artifacts = append(m.Artifacts, report.Artifact{
			Path: "missing/built_1.0_arm64.deb", Size: 4,
			SHA256: "dae45e9c4c5641b0e8a58b6c3f0de0dd946b9ac47502cc45ef451f3119ebacd7", // of "deb\n"
		})
	}},
	{"changed since listed", func(t *testing.T, ins *inputs) {
		// Same size, other content: only the checksum tells.
		p := filepath.Join(ins.pkg, "built_1.0_amd64.deb")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		writeFile(t, p, string(b), 0o644)
		os.Chtimes(ins.pkg, mtime, mtime)
	}},
	{"symlink", func(t *testing.T, ins *inputs) {
		target := filepath.Join(ins.pkg, "built_1.0_amd64.deb")
		a := artifact(t, ins.pkg, "built_1.0_amd64.deb")
		if err := os.Symlink(target, filepath.Join(ins.pkg, "link.deb")); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(ins.pkg, mtime, mtime)
		a.Path = "link.deb"
		m := &ins.in.Run.Modules[0]
		m.Artifacts = append(m.Artifacts, a)
	}},
	{"FIFO", func(t *testing.T, ins *inputs) {
		// Opening a FIFO for reading blocks until a writer comes.
		if err := syscall.Mkfifo(filepath.Join(ins.pkg, "pipe.deb"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(ins.pkg, mtime, mtime)
		m := &ins.in.Run.Modules[0]
		m.Artifacts = append(m.Artifacts, report.Artifact{
			Path: "pipe.deb", Size: 0,
			SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", // of ""
		})
	}},
}

// testUnpublishableFile: a module's file that is not as the report lists
// it is the module's problem, not the run's: Publish succeeds (without
// blocking), publishes, and leaves the inputs as they were.
func testUnpublishableFile(t *testing.T, h Harness) {
	for _, tc := range unpublishable {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := h.New(t, dir)
			publishOK(t, p, newInputs(t, 1).in)
			prev := snapshot(t, h, dir)
			ins := newInputs(t, 2)
			tc.setup(t, ins)
			before := state(t, ins.root)
			inJSON, _ := json.Marshal(ins.in)
			done := make(chan error, 1)
			go func() { done <- p.Publish(context.Background(), ins.in) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Publish failed on one module's file (%s): %v", tc.name, err)
				}
			case <-time.After(30 * time.Second):
				// Unblock it (a FIFO's writer), so the test can end.
				if w, err := os.OpenFile(filepath.Join(ins.pkg, "pipe.deb"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				t.Fatalf("Publish still runs after 30 s (%s): it blocked", tc.name)
			}
			if got := snapshot(t, h, dir); got == prev {
				t.Error("Snapshot did not change: the run was not published")
			}
			checkInputsUnchanged(t, before, state(t, ins.root))
			if got, _ := json.Marshal(ins.in); string(got) != string(inJSON) {
				t.Errorf("Publish changed its Input (run report or file map):\n got %s\nwant %s", got, inJSON)
			}
		})
	}
}

func testFailureKeepsPrevious(t *testing.T, h Harness) {
	dir := t.TempDir()
	p := h.New(t, dir)
	publishOK(t, p, newInputs(t, 1).in)
	prev := snapshot(t, h, dir)
	if err := p.Publish(context.Background(), failing(t, 2).in); err == nil {
		t.Fatal("Publish succeeded with a malformed run (a module named ../escape)")
	} else {
		t.Logf("Publish failed as it must: %v", err)
	}
	sameSnapshot(t, "a failed Publish", snapshot(t, h, dir), prev)
}

func testGoodAfterFailure(t *testing.T, h Harness) {
	dir := t.TempDir()
	p := h.New(t, dir)
	publishOK(t, p, newInputs(t, 1).in)
	prev := snapshot(t, h, dir)
	if err := p.Publish(context.Background(), failing(t, 2).in); err == nil {
		t.Fatal("Publish succeeded with a malformed run (a module named ../escape)")
	}
	// The same run again, well-formed: nothing the failure left behind
	// may get in the way.
	publishOK(t, p, newInputs(t, 2).in)
	if got := snapshot(t, h, dir); got == prev {
		t.Error("Snapshot did not change when a good run was published after a failed one")
	}
}

func testCancelledContext(t *testing.T, h Harness) {
	dir := t.TempDir()
	p := h.New(t, dir)
	publishOK(t, p, newInputs(t, 1).in)
	prev := snapshot(t, h, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Publish(ctx, newInputs(t, 2).in); err != nil {
		t.Logf("the cancelled context was honoured: %v", err)
		sameSnapshot(t, "a Publish that failed on a cancelled context", snapshot(t, h, dir), prev)
	} else {
		t.Log("the cancelled context was ignored")
		if got := snapshot(t, h, dir); got == prev {
			t.Error("Publish succeeded on a cancelled context but Snapshot did not change: it must publish or fail")
		}
	}
	// Either way the publisher is usable on.
	publishOK(t, p, newInputs(t, 3).in)
}
