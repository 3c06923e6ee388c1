package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "print the status of the last published run",
		Long:  `Print status.json of the live published site (the last run that published).`,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runStatus(cmd.Context(), g) },
	}
}

func runStatus(_ context.Context, g *globals) error {
	cfg, err := g.load()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(cfg.Publish.Dir, "status.json"))
	if err != nil {
		return fmt.Errorf("no published run yet: %w", err)
	}
	_, err = g.stdout.Write(b)
	return err
}
