package root

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/buildinfo"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func newVersionCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "version", Short: "Print the CLI's version", Args: cobra.NoArgs}
	format := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		if err := cmdutil.ValidateFormat(*format); err != nil {
			return err
		}
		v := map[string]string{"version": buildinfo.Version, "commit": buildinfo.Commit(), "go": runtime.Version()}
		if *format == cmdutil.FormatTable {
			_, err := fmt.Fprintf(f.IO.Out, "cortex %s (commit %s, %s)\n", v["version"], v["commit"], v["go"])
			return err
		}
		return cmdutil.Print(f.IO.Out, *format, v, nil)
	}
	return cmd
}
