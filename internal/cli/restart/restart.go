// Package restart is `cortex restart`.
package restart

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// Options of `cortex restart`.
type Options struct {
	APIs   []string
	Format *string
}

// NewCmd returns `cortex restart`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "restart API [API...]",
		Short: "Restart every replica of APIs, with the code that was deployed",
		Long: `Replace every replica of each API with a fresh process running the deployed version (the
code snapshotted by the last cortex deploy, not the project directory as it is now). The old
replicas serve until all new ones are ready. To ship changed code, run cortex deploy.`,
		Example: "  cortex restart iris\n  cortex restart iris echo -o json",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.APIs = args
			return run(c.Context(), f, o)
		},
	}
	o.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

func run(ctx context.Context, f *cmdutil.Factory, o *Options) error {
	if err := cmdutil.ValidateFormat(*o.Format); err != nil {
		return err
	}
	cl, _, err := f.Client()
	if err != nil {
		return err
	}
	var results []map[string]string
	for _, name := range o.APIs {
		var res map[string]string
		if err := cl.Do(ctx, "POST", client.APIPath(name)+"/restart", nil, &res); err != nil {
			return fmt.Errorf("restart %s: %w", name, err)
		}
		results = append(results, res)
		if *o.Format == cmdutil.FormatTable {
			fmt.Fprintf(f.IO.Out, "restarted api %s\n", name)
		}
	}
	if *o.Format != cmdutil.FormatTable {
		return cmdutil.Print(f.IO.Out, *o.Format, map[string]any{"results": results}, nil)
	}
	return nil
}
