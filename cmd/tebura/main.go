// Command tebura is the Tebura ChatOps bot and its operator tool: it serves
// the bot (serve), checks a configuration and its runbooks (validate), runs a
// runbook from the terminal (run), and reads the store (runs, logs, audit).
//
// main only calls run, so that tests drive the whole program in-process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
