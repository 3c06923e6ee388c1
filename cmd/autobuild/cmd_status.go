package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "print the status of the last published run",
		Long:  `Print status.json of the live published site (the last run that published).`,
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runStatus(cmd.Context(), g) },
	}
}

func runStatus(_ context.Context, g *globals) error {
	cfg, err := g.load()
	if err != nil {
		return err
	}
	p := filepath.Join(cfg.Publish.Dir, "status.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &usageError{fmt.Errorf("no run has been published under %s yet: `autobuild run --config %s` publishes one", cfg.Publish.Dir, cfg.File)}
	}
	if err != nil {
		return err
	}
	_, err = g.stdout.Write(b)
	return err
}
