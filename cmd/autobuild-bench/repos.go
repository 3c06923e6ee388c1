package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/publish/repo"
)

var (
	reposN    = flag.Int("repos-packages", 1000, "packages of each kind (.deb, .rpm) in the repos figure")
	reposRuns = flag.Int("repos-runs", 7, "incremental runs (one .deb and one .rpm changed each) and full re-indexes in the repos figure")
)

// benchRepos: the site's apt and yum repositories over reposN .deb and
// reposN .rpm packages in 100 modules, published once, then reposRuns
// times with one package of each kind changed, each run followed by the
// tools' own full indexing of the same packages: apt-ftparchive
// packages, createrepo_c without --update. Medians of wall time, and of
// CPU time (user+sys, the engine's and its children's).
func benchRepos(dir string) {
	for _, tool := range []string{"createrepo_c", "rpmbuild", "apt-ftparchive"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Printf("\n== repos: %s not installed, left out\n", tool)
			return
		}
	}
	n, runs := *reposN, *reposRuns
	if runs < 1 || runs > n {
		must(fmt.Errorf("-repos-runs %d: between 1 and -repos-packages", runs))
	}
	fmt.Printf("\n== repos: apt and yum indexes of %d .deb and %d .rpm packages, one of each changed, against the tools' full re-index (medians of %d)\n", n, n, runs)
	must(os.MkdirAll(dir, 0o755))
	pkgs := filepath.Join(dir, "pkg")
	const mods = 100
	mod := func(i int) string { return filepath.Join(pkgs, fmt.Sprintf("m%03d", i%mods)) }
	for i := range mods {
		must(os.MkdirAll(mod(i), 0o755))
	}
	for i := range n {
		must(os.WriteFile(filepath.Join(mod(i), fmt.Sprintf("rb-%04d_1.0_all.deb", i)), makeBenchDeb(fmt.Sprintf("rb-%04d", i), "1.0"), 0o644))
	}
	rpms := buildBenchRPMs(filepath.Join(dir, "rpmbuild"), n, "1.0")
	for i := range n {
		name := fmt.Sprintf("rb-%04d-1.0-1.noarch.rpm", i)
		b, err := os.ReadFile(filepath.Join(rpms, name))
		must(err)
		must(os.WriteFile(filepath.Join(mod(i), name), b, 0o644))
	}
	// The changed packages: rb-0000 … of version 1.1, one per run.
	changed := buildBenchRPMs(filepath.Join(dir, "rpmbuild-changed"), runs, "1.1")
	key := benchKey(dir)
	input := func(counter int) publish.Input {
		run := &report.Run{Counter: counter}
		in := publish.Input{Run: run, Files: map[string]publish.ModuleFiles{}}
		for i := range mods {
			m := report.Module{Name: fmt.Sprintf("m%03d", i), State: report.Built}
			ents, err := os.ReadDir(mod(i))
			must(err)
			for _, e := range ents {
				b, err := os.ReadFile(filepath.Join(mod(i), e.Name()))
				must(err)
				sum := sha256.Sum256(b)
				kind := "deb"
				if strings.HasSuffix(e.Name(), ".rpm") {
					kind = "rpm"
				}
				m.Artifacts = append(m.Artifacts, report.Artifact{Path: e.Name(), Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:]),
					Package: &report.Package{Kind: kind, Name: e.Name()}})
			}
			run.Modules = append(run.Modules, m)
			in.Files[m.Name] = publish.ModuleFiles{Packages: mod(i)}
		}
		return in
	}
	site := &publish.Site{Dir: filepath.Join(dir, "site", "public_html"), Sites: filepath.Join(dir, "site", "sites"), Keep: 2}
	// publishSite publishes the site and returns the wall and CPU time
	// its repositories took (the part's WritePart).
	publishSite := func(counter int) (wall, cpu time.Duration) {
		r := &repo.Repos{Key: key}
		tp := &timedPart{Repos: r}
		site.Parts = []publish.Part{tp}
		in := input(counter)
		must(site.Publish(context.Background(), in))
		must(r.Publish(context.Background(), in))
		return tp.wall, tp.cpu
	}
	coldWall, coldCPU := publishSite(1)

	// The tools' own full re-index of the same files, in a folder of
	// links made before each (not timed).
	all := filepath.Join(dir, "all")
	full := func() (ftpWall, ftpCPU, crWall, crCPU time.Duration) {
		must(os.RemoveAll(all))
		must(os.MkdirAll(all, 0o755))
		for i := range mods {
			ents, _ := os.ReadDir(mod(i))
			for _, e := range ents {
				must(os.Link(filepath.Join(mod(i), e.Name()), filepath.Join(all, e.Name())))
			}
		}
		cmd := exec.Command("apt-ftparchive", "packages", ".")
		cmd.Dir = all
		began := time.Now()
		out, err := cmd.Output()
		ftpWall = time.Since(began)
		must(err)
		ftpCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if c := bytes.Count(out, []byte("\nPackage: ")) + 1; c != n {
			must(fmt.Errorf("apt-ftparchive listed %d packages, not %d", c, n))
		}
		cmd = exec.Command("createrepo_c", "--no-database", "--workers", "1", "--quiet", all)
		began = time.Now()
		b, err := cmd.CombinedOutput()
		crWall = time.Since(began)
		if err != nil {
			must(fmt.Errorf("createrepo_c: %v: %s", err, b))
		}
		crCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return
	}

	var incWall, incCPU, ftpWall, ftpCPU, crWall, crCPU, toolsWall, toolsCPU []time.Duration
	for i := range runs {
		// rb-000i changes, as a .deb and as an .rpm.
		must(os.Remove(filepath.Join(mod(i), fmt.Sprintf("rb-%04d_1.0_all.deb", i))))
		must(os.WriteFile(filepath.Join(mod(i), fmt.Sprintf("rb-%04d_1.1_all.deb", i)), makeBenchDeb(fmt.Sprintf("rb-%04d", i), "1.1"), 0o644))
		b, err := os.ReadFile(filepath.Join(changed, fmt.Sprintf("rb-%04d-1.1-1.noarch.rpm", i)))
		must(err)
		must(os.Remove(filepath.Join(mod(i), fmt.Sprintf("rb-%04d-1.0-1.noarch.rpm", i))))
		must(os.WriteFile(filepath.Join(mod(i), fmt.Sprintf("rb-%04d-1.1-1.noarch.rpm", i)), b, 0o644))
		w, c := publishSite(2 + i)
		incWall, incCPU = append(incWall, w), append(incCPU, c)
		fw, fc, cw, cc := full()
		ftpWall, ftpCPU, crWall, crCPU = append(ftpWall, fw), append(ftpCPU, fc), append(crWall, cw), append(crCPU, cc)
		toolsWall, toolsCPU = append(toolsWall, fw+cw), append(toolsCPU, fc+cc)
	}
	line := func(what string, wall, cpu time.Duration, rest string) {
		fmt.Printf("  %-52s %8.0f ms  (CPU %4.0f ms)  %s\n", what, ms(wall), ms(cpu), rest)
	}
	line("repositories, first run (every package read)", coldWall, coldCPU, "")
	line("repositories, one .deb and one .rpm changed", median(incWall), median(incCPU), "")
	line("apt-ftparchive packages, full", median(ftpWall), median(ftpCPU), "")
	line("createrepo_c --workers 1, full (no --update)", median(crWall), median(crCPU), "")
	line("the tools' full re-index together", median(toolsWall), median(toolsCPU), verdict(median(incWall) < median(toolsWall)))
}

// timedPart times the repositories' part of a site: wall time, and the
// CPU time of this process and of the children that ended meanwhile.
type timedPart struct {
	*repo.Repos
	wall, cpu time.Duration
}

func (p *timedPart) WritePart(ctx context.Context, in publish.PartInput) error {
	runtime.GC() // the garbage of the site's own work is not the part's
	began, cpu := time.Now(), cpuTime()
	defer func() { p.wall, p.cpu = time.Since(began), cpuTime()-cpu }()
	return p.Repos.WritePart(ctx, in)
}

// cpuTime is the user and system time of this process and its waited-for
// children so far.
func cpuTime() time.Duration {
	var t time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		must(syscall.Getrusage(who, &ru))
		t += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return t
}

// makeBenchDeb makes a small .deb: ar with debian-binary, control.tar.gz
// and data.tar.gz.
func makeBenchDeb(name, version string) []byte {
	tgz := func(files map[string]string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		tw := tar.NewWriter(zw)
		for n, body := range files {
			must(tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}))
			tw.Write([]byte(body))
		}
		must(tw.Close())
		must(zw.Close())
		return b.Bytes()
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: Bench <bench@example.invalid>\nInstalled-Size: 1\nDescription: a benchmark package\n one of many.\n", name, version)
	members := []struct {
		name string
		b    []byte
	}{
		{"debian-binary", []byte("2.0\n")},
		{"control.tar.gz", tgz(map[string]string{"./control": control})},
		{"data.tar.gz", tgz(map[string]string{"./usr/share/" + name + "/hello": name + " " + version + "\n"})},
	}
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 1700000000, 0, 0, "100644", len(m.b))
		ar.Write(m.b)
		if len(m.b)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	return ar.Bytes()
}

// buildBenchRPMs builds n empty noarch RPMs rb-0000 … in one rpmbuild
// (subpackages of one spec) and returns the folder holding them.
func buildBenchRPMs(top string, n int, version string) string {
	must(os.MkdirAll(filepath.Join(top, "SPECS"), 0o755))
	var spec strings.Builder
	fmt.Fprintf(&spec, "Name: rb\nVersion: %s\nRelease: 1\nSummary: bench\nLicense: MIT\nBuildArch: noarch\n%%description\nbench\n", version)
	for i := range n {
		fmt.Fprintf(&spec, "%%package -n rb-%04d\nSummary: a benchmark package\n%%description -n rb-%04d\none of many\n%%files -n rb-%04d\n", i, i, i)
	}
	sp := filepath.Join(top, "SPECS", "rb.spec")
	must(os.WriteFile(sp, []byte(spec.String()), 0o644))
	cmd := exec.Command("nice", "rpmbuild", "-bb", "--define", "_topdir "+top, "--define", "_build_id_links none", sp)
	cmd.Env = append(os.Environ(), "HOME="+top)
	if b, err := cmd.CombinedOutput(); err != nil {
		must(fmt.Errorf("rpmbuild: %v: %s", err, b))
	}
	return filepath.Join(top, "RPMS", "noarch")
}

// benchKey makes a signing key for the figure.
func benchKey(dir string) *repo.Key {
	e, err := openpgp.NewEntity("autobuild bench", "", "bench@example.invalid", &packet.Config{RSABits: 2048})
	must(err)
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	must(err)
	must(e.SerializePrivate(w, nil))
	must(w.Close())
	p := filepath.Join(dir, "key.asc")
	must(os.WriteFile(p, b.Bytes(), 0o600))
	k, err := repo.LoadKey(p, "")
	must(err)
	return k
}
