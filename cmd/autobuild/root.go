package main

import (
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

  */5 * * * *  builder  autobuild run --config /etc/autobuild/autobuild.yaml

Every process it starts (checkouts and builds) runs confined: Landlock, PID and
network namespaces, a uid of its own per module and resource limits here; an
SELinux domain per trust level, with per-module MCS categories, where SELinux
is enabled. If a level cannot be enforced, the run refuses (exit 4).

` + exitCodesHelp,
		Version:       versionLine(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	g.AddFlags(root.PersistentFlags())
	root.AddCommand(newRunCommand(g), newPlanCommand(g), newDoctorCommand(g), newStatusCommand(g))
	return root
}
