// Package logs is `cortex logs`.
package logs

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// Options of `cortex logs`.
type Options struct {
	API    string
	Follow bool
	// Terminal decides whether the output is a terminal, where control characters are shown
	// escaped (nil: whether f.IO.Out is one). Piped output stays byte-exact.
	Terminal func(io.Writer) bool
}

// NewCmd returns `cortex logs`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "logs API",
		Short: "Print an API's logs (every replica's output, prefixed [api-replica])",
		Long: `Print an API's logs: every replica's output, prefixed [api-replica].

On a terminal, control characters (escape sequences, carriage returns, C1 controls, DEL) and
invalid UTF-8 are shown escaped, as \x1b, so that what an API prints cannot retitle, clear or
repaint your terminal; tabs and newlines are kept. Piped or redirected, the output is byte-exact.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.API = args[0]
			return Run(c.Context(), f, o)
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines until interrupted")
	return cmd
}

// Run prints the logs.
func Run(ctx context.Context, f *cmdutil.Factory, o *Options) error {
	cl, _, err := f.Client()
	if err != nil {
		return err
	}
	follow := "false"
	if o.Follow {
		follow = "true"
	}
	body, err := cl.Stream(ctx, "GET", client.APIPath(o.API)+"/logs?follow="+follow)
	if err != nil {
		return err
	}
	defer body.Close()
	terminal := cmdutil.IsTerminalWriter
	if o.Terminal != nil {
		terminal = o.Terminal
	}
	err = copyLogs(f.IO.Out, body, terminal(f.IO.Out))
	if ctx.Err() != nil {
		return nil // interrupted while following
	}
	return err
}
