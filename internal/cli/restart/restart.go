// Package restart is `cortex restart`.
package restart

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// RestartOptions are the dependencies, flags and arguments of `cortex restart`.
type RestartOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (*client.Client, *cliconfig.Environment, error)

	APIs   []string
	Format *string

	ctx context.Context
}

// NewCmdRestart returns `cortex restart`.
func NewCmdRestart(f *cmdutil.Factory, runF func(*RestartOptions) error) *cobra.Command {
	o := &RestartOptions{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "restart API [API...]",
		Short: "Restart every replica of APIs, with the code that was deployed",
		Long: `Replace every replica of each API with a fresh process running the deployed version (the
code snapshotted by the last cortex deploy, not the project directory as it is now). The old
replicas serve until all new ones are ready. To ship changed code, run cortex deploy.`,
		Example:           "  cortex restart iris\n  cortex restart iris echo -o json",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: cmdutil.CompleteAPINames(f, true),
		RunE: func(c *cobra.Command, args []string) error {
			o.ctx = c.Context()
			o.APIs = args
			if runF != nil {
				return runF(o)
			}
			return restartRun(o)
		},
	}
	o.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

func restartRun(o *RestartOptions) error {
	if err := cmdutil.ValidateFormat(*o.Format); err != nil {
		return err
	}
	cl, _, err := o.Client(o.ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	results := []map[string]string{}
	for _, name := range o.APIs {
		var res map[string]string
		if err := cl.Do(o.ctx, "POST", client.APIPath(name)+"/restart", nil, &res); err != nil {
			return fmt.Errorf("restart %s: %w", name, err)
		}
		results = append(results, res)
		if *o.Format == cmdutil.FormatTable {
			fmt.Fprintf(o.IO.Out, "restarted api %s\n", name)
		}
	}
	if *o.Format != cmdutil.FormatTable {
		return cmdutil.Print(o.IO.Out, *o.Format, map[string]any{"results": results}, nil)
	}
	return nil
}
