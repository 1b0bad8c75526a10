// Package delete is `cortex delete`.
package delete

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// Options of `cortex delete`.
type Options struct {
	APIs   []string
	Format *string
}

// NewCmd returns `cortex delete`.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "delete API [API...]",
		Short: "Delete APIs (stops their replicas and removes their endpoints)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.APIs = args
			return Run(c.Context(), f, o)
		},
	}
	o.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

// Run deletes.
func Run(ctx context.Context, f *cmdutil.Factory, o *Options) error {
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
		if err := cl.Do(ctx, "DELETE", client.APIPath(name), nil, &res); err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
		results = append(results, res)
		if *o.Format == cmdutil.FormatTable {
			fmt.Fprintf(f.IO.Out, "deleted api %s\n", name)
		}
	}
	if *o.Format != cmdutil.FormatTable {
		return cmdutil.Print(f.IO.Out, *o.Format, map[string]any{"results": results}, nil)
	}
	return nil
}
