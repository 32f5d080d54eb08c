// Command assent is the Assent server and its tools: `assent serve` runs the server on the
// embedded event store in a data directory.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/assent-dev/assent/hashworker"
)

func main() {
	if hashworker.IsWorker() { // started by a server to compute password keys (hashing.go)
		os.Exit(hashworker.Main())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "assent:", err)
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "assent",
		Short:         "Assent: event-sourced two-factor authentication with real-time push",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCommand(), healthcheckCommand(), projectionsCommand())
	root.AddCommand(deviceCommand())
	root.AddCommand(auditCommand())
	root.AddCommand(backupCommand(), restoreCommand())
	root.AddCommand(adminCommand())
	root.AddCommand(loadtestCommand(), generateCommand(), schemaCommand())
	return root
}
