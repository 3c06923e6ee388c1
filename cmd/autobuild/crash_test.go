package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"html"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// The crash test: the engine is killed with SIGKILL at random moments of
// real runs (resolve, checkout, build, seal, collect, archive, state save,
// publish), and the run after each kill must publish, for every module,
// exactly what its commit builds to.

// crashCount is how many times TestCrashConsistency kills the engine:
// AUTOBUILD_CRASH_TEST_COUNT, 100 by default, 10 with -short.
func crashCount(t *testing.T) int {
	if v := os.Getenv("AUTOBUILD_CRASH_TEST_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("AUTOBUILD_CRASH_TEST_COUNT=%q: want a count", v)
		}
		return n
	}
	if testing.Short() {
		return 10
	}
	return 100
}

// crashSeed is the seed of the test's choices: AUTOBUILD_CRASH_TEST_SEED
// to replay the same commits, forces and kill moments (fractions of a
// full run), else the clock.
func crashSeed(t *testing.T) uint64 {
	if v := os.Getenv("AUTOBUILD_CRASH_TEST_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("AUTOBUILD_CRASH_TEST_SEED=%q: want an unsigned integer", v)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// crashModule is one module of the crash farm and the truth about it: the
// token its repository's HEAD holds in the file version.
type crashModule struct {
	name    string
	deps    []string // direct dependencies
	closure []string // every dependency, transitively, sorted
	repo    string
	parts   int // files its build writes, one pause before each
	token   string
	head    string
	failing bool // its file mode says fail: its build exits 7
}

// crashScript is a module's build: it records its own token (read from
// the checked-out source), the revision the engine says it builds, and
// each dependency's recorded token, in its install root and in an
// artifact, with pauses between the files so a kill finds it half done.
func crashScript(m *crashModule, pause string) map[string]string {
	var b strings.Builder
	fmt.Fprintf(&b, `tok=$(cat version)
if [ -f mode ] && [ "$(cat mode)" = fail ]; then echo "failing deliberately at $tok" >&2; exit 7; fi
d="$AUTOBUILD_INSTALL_ROOT/share/%[1]s"
art="$AUTOBUILD_PACKAGE_ROOT/%[1]s.txt"
mkdir -p "$d"
echo "$tok" > "$d/token"
echo "$AUTOBUILD_REVISION" > "$d/revision"
echo "token $tok" > "$art"
`, m.name)
	for i := 1; i <= m.parts; i++ {
		fmt.Fprintf(&b, "sleep %s\necho \"$tok\" > \"$d/part-%d\"\necho \"part %d $tok\" >> \"$art\"\n", pause, i, i)
	}
	for _, dep := range m.closure {
		fmt.Fprintf(&b, "t=$(cat \"$AUTOBUILD_DEP_%s_ROOT/share/%s/token\")\necho \"$t\" > \"$d/dep-%s\"\necho \"dep %s $t\" >> \"$art\"\n",
			strings.ToUpper(dep), dep, dep, dep)
	}
	return script(b.String())
}

// commit gives m a new token (and mode, for the failing module).
func (m *crashModule) commit(t *testing.T, token string, failing bool) {
	t.Helper()
	files := map[string]string{"version": token + "\n"}
	if m.name == "flaky" {
		mode := "ok\n"
		if failing {
			mode = "fail\n"
		}
		files["mode"] = mode
	}
	m.head = testutil.Commit(t, m.repo, files)
	m.token, m.failing = token, failing
}

// wantInstall is every file m's install root must hold, with its content.
func (m *crashModule) wantInstall(mods map[string]*crashModule) map[string]string {
	d := "share/" + m.name + "/"
	w := map[string]string{d + "token": m.token + "\n", d + "revision": m.head + "\n"}
	for i := 1; i <= m.parts; i++ {
		w[fmt.Sprintf("%spart-%d", d, i)] = m.token + "\n"
	}
	for _, dep := range m.closure {
		w[d+"dep-"+dep] = mods[dep].token + "\n"
	}
	return w
}

// wantArtifact is the content of m's artifact.
func (m *crashModule) wantArtifact(mods map[string]*crashModule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "token %s\n", m.token)
	for i := 1; i <= m.parts; i++ {
		fmt.Fprintf(&b, "part %d %s\n", i, m.token)
	}
	for _, dep := range m.closure {
		fmt.Fprintf(&b, "dep %s %s\n", dep, mods[dep].token)
	}
	return b.String()
}

// readTree returns every regular file below dir, by slash path, with its
// content; anything else is listed with a description of what it is.
func readTree(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			out[rel] = fmt.Sprintf("<%v>", d.Type())
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = string(b)
		return nil
	})
	return out, err
}

// diffTree describes how got differs from want: the files missing, those
// whose content differs (found and wanted), and those not wanted.
func diffTree(got, want map[string]string) []string {
	var missing, d []string
	for _, p := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[p]
		switch {
		case !ok:
			missing = append(missing, p)
		case g != want[p]:
			d = append(d, fmt.Sprintf("%s holds %q, want %q", p, g, want[p]))
		}
	}
	if len(missing) > 0 {
		d = append([]string{fmt.Sprintf("%d of %d files missing (%s)", len(missing), len(want), strings.Join(missing, ", "))}, d...)
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			d = append(d, fmt.Sprintf("%s holds %q, which this commit's build does not make", p, got[p]))
		}
	}
	return d
}

// diffLines describes how the lines of got differ from those of want:
// "" when they are the same.
func diffLines(got, want string) string {
	if got == want {
		return ""
	}
	g, w := strings.SplitAfter(got, "\n"), strings.SplitAfter(want, "\n")
	var missing, extra []string
	for _, l := range w {
		if l != "" && !slices.Contains(g, l) {
			missing = append(missing, strings.TrimSuffix(l, "\n"))
		}
	}
	for _, l := range g {
		if l != "" && !slices.Contains(w, l) {
			extra = append(extra, strings.TrimSuffix(l, "\n"))
		}
	}
	d := fmt.Sprintf("has lines: %d, want %d", strings.Count(got, "\n"), strings.Count(want, "\n"))
	if len(missing) > 0 {
		d += fmt.Sprintf("; lacks %q", missing)
	}
	if len(extra) > 0 {
		d += fmt.Sprintf("; has %q, which this commit's build does not write", extra)
	}
	if len(missing) == 0 && len(extra) == 0 {
		d += fmt.Sprintf(" (%q, want %q)", got, want)
	}
	return d
}

var siteLink = regexp.MustCompile(`(?:href|src)="([^"]*)"`)

// siteProblems checks the live site under root/public_html as a visitor
// would find it: public_html resolves, index.html and status.json are
// there, every link of index.html is a file of the site, and every
// artifact status.json lists is there with its size and SHA-256. It
// returns the live site's folder and status, and what is broken.
func siteProblems(root string) (string, *report.Run, []string) {
	site, err := filepath.EvalSymlinks(filepath.Join(root, "public_html"))
	if err != nil {
		return "", nil, []string{"public_html: " + err.Error()}
	}
	var probs []string
	page, err := os.ReadFile(filepath.Join(site, "index.html"))
	if err != nil {
		probs = append(probs, err.Error())
	}
	for _, m := range siteLink.FindAllStringSubmatch(string(page), -1) {
		link := html.UnescapeString(m[1])
		if link == "" || strings.HasPrefix(link, "#") || strings.Contains(link, "://") {
			continue
		}
		link, _, _ = strings.Cut(link, "#")
		p, err := url.PathUnescape(link)
		if err != nil {
			probs = append(probs, fmt.Sprintf("index.html links %q: %v", link, err))
			continue
		}
		full := filepath.Join(site, filepath.FromSlash(p))
		if rel, err := filepath.Rel(site, full); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			probs = append(probs, fmt.Sprintf("index.html links %q outside the site", link))
			continue
		}
		if info, err := os.Stat(full); err != nil || !info.Mode().IsRegular() {
			probs = append(probs, fmt.Sprintf("index.html links %q, which is not a file of the site (%v)", link, err))
		}
	}
	b, err := os.ReadFile(filepath.Join(site, "status.json"))
	if err != nil {
		return site, nil, append(probs, err.Error())
	}
	var st report.Run
	if err := json.Unmarshal(b, &st); err != nil {
		return site, nil, append(probs, "status.json: "+err.Error())
	}
	for _, m := range st.Modules {
		for _, a := range m.Artifacts {
			p := filepath.Join(site, "packages", m.Name, filepath.FromSlash(a.Path))
			b, err := os.ReadFile(p)
			switch {
			case err != nil:
				probs = append(probs, fmt.Sprintf("status.json lists %s's artifact %s: %v", m.Name, a.Path, err))
			case int64(len(b)) != a.Size || fmt.Sprintf("%x", sha256.Sum256(b)) != a.SHA256:
				probs = append(probs, fmt.Sprintf("%s's artifact %s on the site is not the one status.json lists (%d bytes, sha256 %x; listed %d bytes, %s)",
					m.Name, a.Path, len(b), sha256.Sum256(b), a.Size, a.SHA256))
			}
		}
	}
	return site, &st, probs
}

// TestCrashConsistency kills `autobuild run` with SIGKILL, N times, at a
// random moment between its start and the wall time of a full run
// (measured first), over a diamond (base → lib1, lib2 → app), a module
// that depends on one that fails at some commits, and an independent
// one, with new commits and forced rebuilds between the kills. After each
// kill it checks that nothing of the builds survived and the live site is
// whole, then runs again to completion and checks every module against
// the truth the test keeps: a module reported built or reused holds, in
// its install root and its published artifact, exactly its HEAD's token
// and its dependencies' HEAD tokens, and status.json gives its HEAD
// commit; the failing module failed and its dependent was skipped. A run
// that ends before its moment is checked the same way, and does not count
// as a kill.
func TestCrashConsistency(t *testing.T) {
	count := crashCount(t)
	seed := crashSeed(t)
	t.Logf("crash test seed %d (AUTOBUILD_CRASH_TEST_SEED=%d replays its commits, forces and kill moments)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6372617368))
	marker := newMarker(t)
	f := newFarm(t)

	order := []string{"base", "lib1", "lib2", "app", "solo", "flaky", "plugin"}
	deps := map[string][]string{
		"lib1": {"base"}, "lib2": {"base"}, "app": {"lib1", "lib2"},
		"plugin": {"flaky", "lib1"},
	}
	mods := map[string]*crashModule{}
	var closure func(string) []string
	closure = func(n string) []string {
		var out []string
		for _, d := range deps[n] {
			out = append(out, d)
			out = append(out, closure(d)...)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	var cfg strings.Builder
	cfg.WriteString("workers: 3\nmodules:\n")
	for _, n := range order {
		m := &crashModule{name: n, deps: deps[n], closure: closure(n), parts: 2 + rng.IntN(4)}
		// 0–200 ms of pauses in all, spread over its parts.
		pause := fmt.Sprintf("%.3f", float64(rng.IntN(201))/1000/float64(m.parts))
		files := crashScript(m, pause)
		m.token = fmt.Sprintf("%s-0-%08x", n, rng.Uint32())
		files["version"] = m.token + "\n"
		if n == "flaky" {
			files["mode"] = "ok\n"
		}
		m.repo = f.repo(n, files)
		m.head = testutil.Git(t, m.repo, "rev-parse", "HEAD")
		mods[n] = m
		dl := ""
		if len(m.deps) > 0 {
			dl = ", depends: [" + strings.Join(m.deps, ", ") + "]"
		}
		fmt.Fprintf(&cfg, "  - {name: %s, source: {url: repos/%s, branch: main}%s, env: [\"%s\"]}\n", n, n, dl, markerEnvEntry(marker))
	}
	f.config(cfg.String())

	// What went wrong, by iteration: a block per iteration that found
	// anything, one line per module; a module found wrong in the same way
	// as in the iteration before says so in a line.
	var blocks []string
	wrong, firstSeen, survivors, broken := 0, 0, 0, 0
	// A module's finding in the iteration before, and since when it holds.
	lastMsg, since := map[string]string{}, map[string]int{}
	liveCounter := 0 // the live site's run after the last check

	// check checks r, a run to completion, and every module against the
	// truth the test keeps; before is the run whose site was live before
	// it. It returns what it found wrong, a line per module (or "run"),
	// and counts it.
	check := func(iter, before int, r result) []string {
		t.Helper()
		failing := mods["flaky"].failing
		wantCode := 0
		if failing {
			wantCode = 1
		}
		// found is what is wrong with each module, after what the run
		// said of it.
		found := map[string][]string{}
		var names []string
		bad := func(module, said, format string, args ...any) {
			if found[module] == nil {
				names = append(names, module)
				if said != "" {
					found[module] = []string{said}
				}
			}
			found[module] = append(found[module], fmt.Sprintf(format, args...))
		}
		var lines []string
		if r.code != wantCode {
			bad("run", "", "exit %d, want %d; it said: %q", r.code, wantCode, strings.TrimSpace(r.stdout+r.stderr))
		}
		site, st, probs := siteProblems(f.root)
		if len(probs) > 0 {
			broken++
			lines = append(lines, "broken site after the run to completion: "+strings.Join(probs, "; "))
		}
		if st != nil {
			liveCounter = st.Counter
			if st.Counter <= before {
				bad("run", "", "the live site is run %d, as before the run: it published nothing", st.Counter)
				st = nil
			}
		}
		for _, n := range order {
			if st == nil {
				break
			}
			m := mods[n]
			got := module(st, n)
			said := fmt.Sprintf("reported %s", got.State)
			if got.Reason != "" {
				said += " (" + got.Reason + ")"
			}
			if got.State == report.Failed {
				said += "; its log ends: " + logTail(site, got.Log)
			}
			switch {
			case m.failing:
				if got.State != report.Failed || !strings.Contains(got.Reason, "exit status 7") {
					bad(n, said, "want failed with exit status 7 (its mode file says fail)")
				}
			case n == "plugin" && failing:
				if got.State != report.Skipped || got.Reason != "dependency flaky failed" {
					bad(n, said, "want skipped (dependency flaky failed)")
				}
				continue
			case !got.State.OK():
				bad(n, said, "want built or reused")
				continue
			}
			if got.Revision != m.head {
				bad(n, said, "at revision %q, want HEAD %s", got.Revision, m.head)
			}
			if m.failing {
				continue
			}
			inst, err := readTree(filepath.Join(f.root, "install-root", n))
			if err != nil {
				bad(n, said, "its install root: %v", err)
			} else if d := diffTree(inst, m.wantInstall(mods)); len(d) > 0 {
				bad(n, said, "its install root: %s", strings.Join(d, "; "))
			}
			var arts []string
			for _, a := range got.Artifacts {
				arts = append(arts, a.Path)
			}
			if got.Unpublished != "" || !slices.Equal(arts, []string{n + ".txt"}) {
				bad(n, said, "published artifacts %v (unpublished: %q), want [%s.txt]", arts, got.Unpublished, n)
				continue
			}
			b, err := os.ReadFile(filepath.Join(site, "packages", n, n+".txt"))
			if err != nil {
				bad(n, said, "its published artifact: %v", err)
			} else if d := diffLines(string(b), m.wantArtifact(mods)); d != "" {
				bad(n, said, "its published artifact %s", d)
			}
		}
		for _, n := range names {
			wrong++
			msg := strings.Join(found[n], "; ")
			if prev, ok := lastMsg[n]; ok && prev == msg {
				lines = append(lines, fmt.Sprintf("%s: wrong as in iteration %d", n, since[n]))
			} else {
				lines = append(lines, n+": "+msg)
				since[n] = iter
				firstSeen++
			}
			lastMsg[n] = msg
		}
		for n := range lastMsg {
			if found[n] == nil {
				delete(lastMsg, n)
			}
		}
		if left := waitNoMarker(marker, 2*time.Second); left != "" {
			n := strings.Count(left, "\n")
			survivors += n
			lines = append(lines, fmt.Sprintf("%d processes of the builds outlived the run to completion by 2 s:%s", n, left))
		}
		return lines
	}

	// A full run from scratch, then one that builds every module again
	// (--force): the second one's wall time, without the first clones,
	// scales the kill delays.
	start := time.Now()
	if lines := check(0, 0, f.run()); len(lines) > 0 {
		t.Fatalf("the first run, without a kill, is already wrong:\n  %s", strings.Join(lines, "\n  "))
	}
	first := time.Since(start)
	start = time.Now()
	if r := f.run("--force"); r.code != 0 {
		t.Fatalf("the forced full run: %s", r.dump())
	}
	forced := time.Since(start)
	full := forced
	t.Logf("a full run takes %s from scratch, %s forced: kills land 0–%s into a run",
		first.Round(time.Millisecond), forced.Round(time.Millisecond), full.Round(time.Millisecond))
	if _, st, probs := siteProblems(f.root); st == nil || len(probs) > 0 {
		t.Fatalf("the site of the forced full run: %v", probs)
	} else {
		liveCounter = st.Counter
	}

	// A run that ends before its moment was not killed: it is checked as
	// the run to completion, and the loop goes on until count kills
	// landed.
	phases := map[string]int{}
	kills, runs := 0, 0
	began := time.Now()
	for i := 1; kills < count; i++ {
		if i > 10*count {
			t.Fatalf("only %d of %d kills landed in %d runs: the runs end before their delays", kills, count, i-1)
		}
		runs++
		// New commits to 0–2 modules; sometimes the failing module turns.
		var did []string
		for range rng.IntN(3) {
			m := mods[order[rng.IntN(len(order))]]
			m.commit(t, fmt.Sprintf("%s-%d-%08x", m.name, i, rng.Uint32()), m.failing)
			did = append(did, "commit "+m.name)
		}
		if rng.IntN(5) == 0 {
			m := mods["flaky"]
			m.commit(t, fmt.Sprintf("flaky-%d-%08x", i, rng.Uint32()), !m.failing)
			if m.failing {
				did = append(did, "flaky set to fail")
			} else {
				did = append(did, "flaky set to build")
			}
		}
		args := []string{"run", "--config", f.cfg}
		if rng.IntN(4) == 0 {
			if rng.IntN(2) == 0 {
				args = append(args, "--force")
			} else {
				args = append(args, "--force="+order[rng.IntN(len(order))])
			}
		}
		// The moment, as a fraction of a full run: a replay kills at the
		// same fractions whatever this machine's speed.
		delay := time.Duration(rng.Float64() * float64(full))

		eng := exec.Command(bin, args...)
		var out, errb bytes.Buffer
		eng.Stdout, eng.Stderr = &out, &errb
		if err := eng.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { eng.Wait(); close(done) }()
		time.Sleep(delay)
		phase := "no build running"
		select {
		case <-done:
			phase = "ended before the kill"
		default:
			kills++
			if len(procsWithMarker(marker)) > 0 {
				phase = "mid-build"
			}
			eng.Process.Signal(syscall.SIGKILL)
			<-done
		}
		var lines []string
		if phase == "ended before the kill" {
			lines = check(i, liveCounter, result{eng.ProcessState.ExitCode(), out.String(), errb.String()})
		} else {
			if left := waitNoMarker(marker, 2*time.Second); left != "" {
				n := strings.Count(left, "\n")
				survivors += n
				lines = append(lines, fmt.Sprintf("%d processes of the builds outlived the killed engine by 2 s:%s", n, left))
				for _, pid := range procsWithMarker(marker) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			_, st, probs := siteProblems(f.root)
			before := liveCounter
			if st != nil {
				before = st.Counter
			}
			if len(probs) > 0 {
				broken++
				lines = append(lines, "broken site after the kill: "+strings.Join(probs, "; "))
			}
			if phase == "no build running" && st != nil && st.Counter > liveCounter {
				phase = "after its site was published"
			}
			lines = append(lines, check(i, before, f.run())...)
		}
		phases[phase]++
		if len(lines) > 0 {
			if len(did) == 0 {
				did = []string{"no change"}
			}
			blocks = append(blocks, fmt.Sprintf("iteration %d (%s; `autobuild %s` %s, %s of %s):\n  %s",
				i, strings.Join(did, ", "), strings.Join(slices.Delete(slices.Clone(args), 1, 3), " "), phase,
				delay.Round(time.Millisecond), full.Round(time.Millisecond), strings.Join(lines, "\n  ")))
		}
	}
	took := time.Since(began).Round(time.Millisecond)

	t.Logf("crash test: %d kills (%d mid-build), %d wrong results, %d survivors, %d broken sites", kills, phases["mid-build"], wrong, survivors, broken)
	t.Logf("wrong results: %d new, %d as in the run before; %d runs in %s (seed %d): killed with no build running %d, mid-build %d, after publishing %d; ended before the kill %d",
		firstSeen, wrong-firstSeen, runs, took, seed, phases["no build running"], phases["mid-build"], phases["after its site was published"], phases["ended before the kill"])
	if len(blocks) > 0 {
		const shown = 25
		list := blocks
		if len(list) > shown {
			list = list[:shown]
		}
		more := ""
		if len(blocks) > shown {
			more = fmt.Sprintf("\n… and %d more iterations", len(blocks)-shown)
		}
		t.Errorf("after %d kills (seed %d: AUTOBUILD_CRASH_TEST_SEED=%d replays the commits, forces and kill moments): %d wrong results, %d survivors, %d broken sites:\n%s%s",
			kills, seed, seed, wrong, survivors, broken, strings.Join(list, "\n"), more)
	}
}

// logTail is the last lines of a module's published log.
func logTail(site, log string) string {
	if log == "" {
		return "(no log)"
	}
	b, err := os.ReadFile(filepath.Join(site, filepath.FromSlash(log)))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strconv.Quote(strings.Join(lines[max(0, len(lines)-2):], "\n"))
}
