package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/config/tabconf"
)

// ImportOptions are the flags of `autobuild import`.
type ImportOptions struct {
	Output string
	Force  bool
}

func newImportCommand(g *globals) *cobra.Command {
	o := &ImportOptions{}
	cmd := &cobra.Command{
		Use:   "import [-o FILE] auto-build.conf",
		Short: "translate a Test-AutoBuild configuration into an autobuild one",
		Long: `Read a Test-AutoBuild configuration (auto-build.conf, in the Config::Record
format, as Test-AutoBuild 1.0 and 1.2 wrote it) and write the equivalent
autobuild configuration (YAML) to stdout, or to FILE with -o.

Carried over: each module's sources (its repositories' type and options with
the module's paths: cvs, svn, git, hg, bzr as brz, darcs, disk as dir;
several as sources:, each in a folder of its own), depends, env, groups,
label, links, enabled (and the groups' enabled), the control file as command;
the global env, buildRoot as build_root, hostname and httpPrefix as
publish.url, the cache switch as archive.disabled, what AUTOBUILD_COUNTER
and AUTOBUILD_TIMESTAMP held (counter:, timestamp_format:), and the mail
alerts (1.2's alert block with features/email_alerts, adminEmail and the
other people's addresses; 1.0's EmailAlert output) as alerts: and each
module's admins:. Every other
setting is named, with the reason, on stderr (autobuild import: FILE:LINE:
SETTING: not carried over: WHY) and as a comment where it belongs in the
output. A file that Test-AutoBuild ran through Template Toolkit must be
imported as Template Toolkit renders it.

The output is checked with autobuild's own loader before it is written. With
-o it is written atomically (a file beside FILE, renamed over it), and an
existing FILE is kept unless --force is given.

Exit status:
  0    written (settings not carried over are named on stderr)
  2    the file cannot be imported (the message names the file, line and
       setting: a syntax error, a dependency cycle, no module left), FILE
       exists without --force, or a usage error
  5    the output could not be written, or autobuild's loader refused it
       (a fault of the import: nothing is written)`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error { return runImport(o, g, args[0]) },
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write the configuration to `FILE` (.yaml or .yml) instead of stdout")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace FILE if it exists")
	return cmd
}

func runImport(o *ImportOptions, g *globals, in string) error {
	if o.Output != "" {
		switch strings.ToLower(filepath.Ext(o.Output)) {
		case "", ".yaml", ".yml":
		default:
			return &usageError{fmt.Errorf("-o %s: the configuration is YAML: name it .yaml or .yml (autobuild reads a file's format from its extension)", o.Output)}
		}
		if _, err := os.Lstat(o.Output); err == nil && !o.Force {
			return &usageError{fmt.Errorf("%s exists: give --force to replace it", o.Output)}
		}
	}
	data, err := os.ReadFile(in)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = "cannot read it: " + pe.Err.Error()
		}
		return &config.Error{File: in, Msg: msg, Err: err}
	}
	res, err := tabconf.Import(in, data)
	if err != nil {
		var e *tabconf.Error
		if errors.As(err, &e) {
			return &config.Error{File: e.File, Line: e.Line, Key: e.Setting, Msg: e.Msg, Err: err}
		}
		return err
	}
	for _, n := range res.Notes {
		fmt.Fprintf(g.stderr, "autobuild import: %s:%d: %s: not carried over: %s\n", in, n.Line, n.Setting, n.Why)
	}
	if o.Output == "" {
		if err := checkImported(res.YAML, ""); err != nil {
			return err
		}
		_, err := g.stdout.Write(res.YAML)
		return err
	}
	if err := writeImported(res.YAML, o.Output, o.Force); err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "autobuild import: wrote %s: %d modules (%d disabled), %d settings not carried over\n", o.Output, len(res.Modules), len(res.Disabled), len(res.Notes))
	return nil
}

// checkImported loads yml with autobuild's loader, as the file path
// would be (a temporary file of a folder of its own when path is "").
func checkImported(yml []byte, path string) error {
	if path == "" {
		dir, err := os.MkdirTemp("", "autobuild-import-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "autobuild.yaml")
		if err := os.WriteFile(path, yml, 0o600); err != nil {
			return err
		}
	}
	if _, err := config.Load(path); err != nil {
		// The import's own output: a fault of the import, not of the
		// file it read (not a *config.Error, so not exit 2).
		return fmt.Errorf("the imported configuration does not load: %v", err)
	}
	return nil
}

// writeImported writes yml to path atomically: a file beside it, synced,
// checked, then renamed over it (with force) or linked to it (without:
// a file that appeared meanwhile is kept).
func writeImported(yml []byte, path string, force bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".import-*.yaml")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(yml)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := checkImported(yml, tmp); err != nil {
		return err
	}
	if force {
		err = os.Rename(tmp, path)
	} else if err = os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return &usageError{fmt.Errorf("%s exists: give --force to replace it", path)}
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
