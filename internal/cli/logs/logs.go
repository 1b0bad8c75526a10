// Package logs is `cortex logs`.
package logs

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// LogsOptions are the dependencies, flags and argument of `cortex logs`.
type LogsOptions struct {
	// IO decides whether the output is a terminal (IsStdoutTTY), where control characters are
	// shown escaped; piped output stays byte-exact.
	IO     *cmdutil.IOStreams
	Client func(context.Context) (*client.Client, *cliconfig.Environment, error)

	API    string
	Follow bool

	ctx context.Context
}

// NewCmdLogs returns `cortex logs`.
func NewCmdLogs(f *cmdutil.Factory, runF func(*LogsOptions) error) *cobra.Command {
	opts := &LogsOptions{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "logs API",
		Short: "Print an API's logs (every replica's output, prefixed [api-replica])",
		Long: `Print an API's logs: every replica's output, prefixed [api-replica].

On a terminal, control characters (escape sequences, carriage returns, C1 controls, DEL) and
invalid UTF-8 are shown escaped, as \x1b, so that what an API prints cannot retitle, clear or
repaint your terminal; tabs and newlines are kept. Piped or redirected, the output is byte-exact.`,
		Example: `  cortex logs iris
  cortex logs iris -f
  cortex logs iris > iris.log`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cmdutil.CompleteAPINames(f, false),
		RunE: func(c *cobra.Command, args []string) error {
			opts.ctx = c.Context()
			opts.API = args[0]
			if runF != nil {
				return runF(opts)
			}
			return logsRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new lines until interrupted")
	return cmd
}

func logsRun(o *LogsOptions) error {
	ctx := o.ctx
	cl, _, err := o.Client(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	follow := "false"
	if o.Follow {
		follow = "true"
	}
	body, err := cl.Stream(ctx, "GET", client.APIPath(o.API)+"/logs?follow="+follow)
	if err != nil {
		return err
	}
	defer body.Close()
	err = copyLogs(o.IO.Out, body, o.IO.IsStdoutTTY())
	if ctx.Err() != nil {
		return nil // interrupted while following
	}
	return err
}
