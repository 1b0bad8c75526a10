// Package delete is `cortex delete`.
package delete

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// DeleteOptions are the dependencies, flags and arguments of `cortex delete`.
type DeleteOptions struct {
	IO       *cmdutil.IOStreams
	Client   func(context.Context) (*client.Client, *cliconfig.Environment, error)
	Prompter cmdutil.Prompter

	APIs   []string
	Format *string
	Yes    bool

	ctx context.Context
}

// NewCmdDelete returns `cortex delete`.
func NewCmdDelete(f *cmdutil.Factory, runF func(*DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{IO: f.IO, Client: f.Client, Prompter: f.Prompt()}
	cmd := &cobra.Command{
		Use:   "delete API [API...]",
		Short: "Delete APIs (stops their replicas and removes their endpoints)",
		Long: `Delete APIs: their replicas stop and their endpoints go away.

On a terminal, delete names the APIs and the environment and asks for confirmation; --yes skips
the question. Without a terminal (a script, CI) --yes is required.`,
		Example: `  cortex delete iris
  cortex delete iris echo --yes
  cortex -e staging delete iris -y -o json`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: cmdutil.CompleteAPINames(f, true),
		RunE: func(c *cobra.Command, args []string) error {
			opts.ctx = c.Context()
			opts.APIs = args
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(opts)
		},
	}
	opts.Format = cmdutil.AddOutputFlag(cmd)
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "delete without asking for confirmation")
	return cmd
}

func deleteRun(o *DeleteOptions) error {
	ctx := o.ctx
	cl, env, err := o.Client(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	if !o.Yes {
		what := fmt.Sprintf("delete api %s from environment %s (%s)?", strings.Join(o.APIs, ", "), env.Name, env.OperatorEndpoint)
		if !o.IO.CanPrompt() {
			return fmt.Errorf("refusing to %s without confirmation: pass --yes (standard input is not a terminal)", strings.TrimSuffix(what, "?"))
		}
		ok, err := o.Prompter.Confirm(ctx, what)
		if err != nil {
			return err
		}
		if !ok {
			return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("nothing deleted")}
		}
	}
	results := []map[string]string{}
	for _, name := range o.APIs {
		var res map[string]string
		if err := cl.Do(ctx, "DELETE", client.APIPath(name), nil, &res); err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
		results = append(results, res)
		if *o.Format == cmdutil.FormatTable {
			fmt.Fprintf(o.IO.Out, "deleted api %s\n", name)
		}
	}
	if *o.Format != cmdutil.FormatTable {
		return cmdutil.Print(o.IO.Out, *o.Format, map[string]any{"results": results}, nil)
	}
	return nil
}
