// Package publish publishes a run. Each way of publishing is a
// Publisher; the engine runs every configured one after the builds, each
// failing alone. Site, the status site with logs, artifacts, its JSON
// status file and feed, is the first. Adding a publisher means a type
// that implements Publisher and passes the conformance suite in
// publish/publishtest; cmd/autobuild wires it in.
//
// A site is generated into a fresh folder under sites/ and then swapped in
// by replacing the public_html symlink atomically (renameio). A web server
// never sees a half-written site, and a run that fails or is killed before
// the swap leaves the previous site as it was.
package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/renameio/v2"

	"github.com/autobuild/autobuild/engine/report"
)

// ModuleFiles are the files of one module to publish.
type ModuleFiles struct {
	// Log is the absolute path of the module's log.
	Log string
	// Packages is the module's package folder; empty publishes none.
	Packages string
}

// Input is what a site is made of.
type Input struct {
	Run   *report.Run
	Files map[string]ModuleFiles
}

// Publisher makes a run's results available somewhere.
//
// Publish runs once per run, after every build has ended, with the run's
// report and the files to publish; it must not change those files. When
// it fails, what it published before stays as it was. Publishers do not
// run concurrently with each other.
type Publisher interface {
	// Name names the publisher in logs and errors ("site").
	Name() string
	Publish(ctx context.Context, in Input) error
}

// Site is the status site: it is generated into a fresh folder under
// Sites and made live at Dir, a symlink swapped atomically. Keep sites
// are kept (the live one included); older or unfinished ones are removed.
type Site struct {
	Dir   string
	Sites string
	Keep  int
}

// Name implements Publisher.
func (s *Site) Name() string { return "site" }

// Publish implements Publisher.
func (s *Site) Publish(_ context.Context, in Input) error {
	return writeSite(s.Dir, s.Sites, s.Keep, in)
}

func writeSite(public, sites string, keep int, in Input) (err error) {
	if info, err := os.Lstat(public); err == nil && info.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("%s exists and is not a symlink: move it away, autobuild manages it", public)
	}
	if err := os.MkdirAll(sites, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(sites, fmt.Sprintf("run-%06d-", in.Run.Counter))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	run := *in.Run
	run.Modules = append([]report.Module(nil), in.Run.Modules...)
	for i := range run.Modules {
		m := &run.Modules[i]
		f := in.Files[m.Name]
		m.Log = ""
		if f.Log != "" {
			rel := filepath.Join("logs", m.Name+".log")
			if err := linkOrCopy(f.Log, filepath.Join(dir, rel)); err == nil {
				m.Log = rel
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("log of %s: %w", m.Name, err)
			}
		}
		if f.Packages != "" && len(m.Artifacts) > 0 {
			dst := filepath.Join(dir, "packages", m.Name)
			for _, a := range m.Artifacts {
				if err := linkOrCopy(filepath.Join(f.Packages, a.Path), filepath.Join(dst, a.Path)); err != nil {
					return fmt.Errorf("artifact %s of %s: %w", a.Path, m.Name, err)
				}
			}
		}
	}
	status, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "status.json"), append(status, '\n')); err != nil {
		return err
	}
	var feed bytes.Buffer
	if err := renderAtom(&feed, &run); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "feed.atom"), feed.Bytes()); err != nil {
		return err
	}
	// index.html last: its presence marks a finished site (see prune).
	var page bytes.Buffer
	if err := renderIndex(&page, &run); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "index.html"), page.Bytes()); err != nil {
		return err
	}
	syncDir(dir)
	// The swap: one rename of a symlink over the old one.
	if err := renameio.Symlink(dir, public); err != nil {
		return fmt.Errorf("swap %s: %w", public, err)
	}
	syncDir(filepath.Dir(public))
	return prune(sites, dir, keep)
}

// prune removes unfinished sites (left by killed runs: they have no
// index.html, which is written last) and keeps, beside the live one, the
// keep-1 newest finished ones.
func prune(sites, live string, keep int) error {
	ents, err := os.ReadDir(sites)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		p := filepath.Join(sites, e.Name())
		if !e.IsDir() || p == live {
			continue
		}
		if _, err := os.Stat(filepath.Join(p, "index.html")); err != nil {
			os.RemoveAll(p)
			continue
		}
		names = append(names, e.Name())
	}
	// Names sort by run counter (zero-padded).
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for i, n := range names {
		if i >= keep-1 {
			os.RemoveAll(filepath.Join(sites, n))
		}
	}
	return nil
}

// linkOrCopy publishes a file read-only: a hard link when possible (the
// build folders are rebuilt, never rewritten in place), a copy otherwise.
func linkOrCopy(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if strings.HasSuffix(from, ".log") {
		// Logs of a running module may still grow: copy them.
		return copyFile(from, to)
	}
	if err := os.Link(from, to); err == nil {
		return os.Chmod(to, 0o444)
	}
	return copyFile(from, to)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o444)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
