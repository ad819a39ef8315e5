package main

import (
	"github.com/spf13/cobra"
)

func (c *cli) runCmd() *cobra.Command {
	return &cobra.Command{Use: "run NAME [k=v ...]", Short: "Run a runbook here, streaming its output", RunE: func(*cobra.Command, []string) error { return errNotImplemented }}
}

func (c *cli) logsCmd() *cobra.Command {
	return &cobra.Command{Use: "logs RUN", Short: "Print a run's full log", RunE: func(*cobra.Command, []string) error { return errNotImplemented }}
}
