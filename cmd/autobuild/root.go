package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/autobuild/autobuild/engine/config"
)

// globals are the options every subcommand shares.
type globals struct {
	ConfigFile string
	LogLevel   string
	LogFormat  string

	stdout, stderr io.Writer
}

// AddFlags binds the global options to the root command's flags.
func (g *globals) AddFlags(fs *pflag.FlagSet) {
	def := os.Getenv("AUTOBUILD_CONFIG")
	if def == "" {
		def = config.DefaultPath
	}
	fs.StringVarP(&g.ConfigFile, "config", "c", def, "configuration file (env AUTOBUILD_CONFIG)")
	fs.StringVar(&g.LogLevel, "log-level", "warn", "structured log level: debug, info, warn, error")
	fs.StringVar(&g.LogFormat, "log-format", "text", "structured log format on stderr: text or json")
}

// validate refuses a global option that names no known value.
func (g *globals) validate() error {
	if err := oneOf("--log-level", g.LogLevel, "debug", "info", "warn", "error"); err != nil {
		return err
	}
	return oneOf("--log-format", g.LogFormat, "text", "json")
}

// oneOf is a usage error unless v is one of the choices.
func oneOf(flag, v string, choices ...string) error {
	for _, c := range choices {
		if strings.EqualFold(v, c) {
			return nil
		}
	}
	return &usageError{fmt.Errorf("%s: %q is not one of %s", flag, v, strings.Join(choices, ", "))}
}

// noArgs refuses positional arguments (exit 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("%s takes no arguments, got %q (flags start with --)", cmd.CommandPath(), args)}
	}
	return nil
}

// usageArgs turns a positional-argument check's error into a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

func (g *globals) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.LogLevel)); err != nil {
		lvl = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: lvl}
	return slog.New(logHandler(g.stderr, func(w io.Writer) slog.Handler {
		if strings.EqualFold(g.LogFormat, "json") {
			return slog.NewJSONHandler(w, opts)
		}
		return slog.NewTextHandler(w, opts)
	}))
}

func (g *globals) load() (*config.Config, error) { return config.Load(g.ConfigFile) }

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "autobuild",
		Short: "a sandboxed continuous build engine",
		Long: `autobuild checks out a set of interdependent modules from their repositories,
builds each one with its own build script in dependency order, confined at the
trust level the configuration gives it, and publishes the results (a status
site, logs, artifacts) atomically. Run it from cron:

  */5 * * * *  root  /usr/local/bin/autobuild-secure run --config /etc/autobuild/autobuild.yaml

(in /etc/cron.d/autobuild: cron's PATH is /usr/bin:/bin, so name the binary
by its full path). Under cron it prints nothing unless a module newly failed.

Every process it starts (checkouts and builds) runs confined: Landlock, PID and
network namespaces, a uid of its own per module and resource limits here; an
SELinux domain per trust level, with per-module MCS categories, where SELinux
is enabled. If a level cannot be enforced, the run refuses (exit 4).

` + exitCodesHelp,
		Version:       versionLine(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Runnable, so that an unknown command is a usage error (exit 2),
		// not cobra's generic error; with no command it prints this help.
		Args: usageArgs(func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for %q (commands: run, plan, doctor, status, import)", args[0], cmd.CommandPath())
			}
			return nil
		}),
		RunE:              func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(*cobra.Command, []string) error { return g.validate() },
	}
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	g.AddFlags(root.PersistentFlags())
	root.AddCommand(newRunCommand(g), newPlanCommand(g), newDoctorCommand(g), newStatusCommand(g), newImportCommand(g))
	return root
}
