package awscluster

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/credentials"
)

// NewCredentialsCmd is `cortex cluster credentials`.
func NewCredentialsCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "Manage the AWS credentials the CLI remembers for AWS clusters",
	}
	cmd.AddCommand(newForgetCmd(f))
	return cmd
}

func newForgetCmd(f *cmdutil.Factory) *cobra.Command {
	var region string
	cmd := &cobra.Command{
		Use:   "forget NAME",
		Short: "Forget the AWS credentials cached for a cluster (all its regions, or --region)",
		Long: `Remove what the CLI remembers about a cluster's AWS credentials: the cache entry (a profile
name, an environment variable's name) and any 0600 key file written for keys given by flags or at
the prompt. The next cluster command resolves credentials again (flags, environment, shared
config, prompt). The cluster itself is not touched.`,
		Example: "  cortex cluster credentials forget cortex\n  cortex cluster credentials forget cortex --region eu-west-1",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dir, err := f.ConfigDir()
			if err != nil {
				return err
			}
			regions, err := credentials.NewCache(dir).ForgetCluster(args[0], region)
			for _, r := range regions {
				fmt.Fprintf(f.IO.Out, "forgot the credentials of cluster %s in %s\n", args[0], r)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "only this region (default: every region)")
	return cmd
}
