// Package root assembles the `cortex` command tree.
package root

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cluster"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

// NewCmd returns the root command wired to f.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cortex",
		Short: "Deploy machine-learning model APIs, secured with AWS IAM",
		Long: `cortex deploys model APIs to a cluster (local, or on AWS) and secures them with AWS IAM.

Quick start (no cloud account needed):
  cortex cluster up                 # local cluster, environment "local"
  cortex deploy examples/iris/cortex.yaml
  cortex get`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(f.IO.In)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.PersistentFlags().StringVarP(&f.EnvName, "env", "e", "", "`NAME` of the environment to use (default: the default environment; see cortex env list)")
	cmd.AddCommand(cluster.NewCmd(f))
	for _, add := range extraCommands {
		cmd.AddCommand(add(f))
	}
	return cmd
}

// extraCommands lets each command package register itself from commands.go.
var extraCommands []func(*cmdutil.Factory) *cobra.Command

// Main runs the CLI and returns the process exit code.
func Main(args []string) int {
	f := cmdutil.New()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := NewCmd(f)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		var exit *cmdutil.ExitError
		if errors.As(err, &exit) {
			if exit.Err != nil {
				fmt.Fprintln(f.IO.ErrOut, "error:", exit.Err)
			}
			return exit.Code
		}
		fmt.Fprintln(f.IO.ErrOut, "error:", err)
		return 1
	}
	return 0
}
