package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
)

// exitError ends the program with a given code. A nil err means the command
// already printed what the user needs to read.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// cli is what every subcommand shares: the streams and the flags of the
// root command.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	configFlag     string
	getenv         func(string) string
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	root := c.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "tebura: %s\n", message(ee.err))
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "tebura: %s\n", message(err))
	if isUsageError(err) {
		return 2
	}
	return 1
}

// message is the sentence shown for err: the user-safe message of a tebura
// error with its detail, or the error text.
func message(err error) string {
	var te *tebura.Error
	if errors.As(err, &te) && te.Message != "" {
		if te.Err != nil {
			return te.Message + " (" + te.Err.Error() + ")"
		}
		return te.Message
	}
	return err.Error()
}

func isUsageError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "unknown flag") ||
		strings.HasPrefix(s, "unknown shorthand flag") || strings.Contains(s, "arg(s)") ||
		strings.HasPrefix(s, "invalid argument") || strings.HasPrefix(s, "flag needs an argument")
}

func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "tebura",
		Short:         "Tebura: ChatOps for incident response, with runbooks that run themselves",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&c.configFlag, "config", "c", "",
		"config file (default $TEBURA_CONFIG, else ./tebura.yaml when present, else built-in defaults)")
	root.AddCommand(
		c.validateCmd(),
		c.serveCmd(),
		c.consoleCmd(),
		c.doctorCmd(),
		c.incidentCmd(),
		c.runCmd(),
		c.runsCmd(),
		c.logsCmd(),
		c.auditCmd(),
		c.backupCmd(),
		c.configCmd(),
		c.healthcheckCmd(),
		c.versionCmd(),
		c.targetsCmd(),
		c.changeCmd(),
		c.storeCmd(),
	)
	return root
}

// configFile is the configuration file a command reads (config.File),
// "" for defaults and environment only. When it names a file that cannot
// be read, it prints the one line that says so, the path and the cause,
// and returns the error that stops the command: what loading the
// defaults alone would add only hides it.
func (c *cli) configFile() (string, error) {
	path, err := config.File(c.configFlag, c.getenv)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return "", &exitError{code: 1}
	}
	return path, nil
}

// load reads the configuration and refuses one with problems, printing
// each on stderr.
func (c *cli) load() (*config.Loaded, error) {
	path, err := c.configFile()
	if err != nil {
		return nil, err
	}
	l, ps := config.Load(path, loadOptions())
	if len(ps) > 0 {
		config.SortProblems(ps)
		for _, p := range ps {
			fmt.Fprintln(c.stderr, p)
		}
		return nil, &exitError{code: 1, err: fmt.Errorf("the configuration has %d problem(s); `tebura validate` lists them with the runbooks'", len(ps))}
	}
	return l, nil
}

// newLogger builds the slog logger the configuration asks for, writing to w.
func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	return newLoggerLevel(cfg.Format, cfg.Level, w)
}

func newLoggerLevel(format, levelName string, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(levelName)) // Validate has checked it
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit, when it was made and the Go toolchain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(c.stdout, currentBuild())
			return err
		},
	}
}
