package awscluster

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/credentials"
)

// NewCmdCredentials is `cortex cluster credentials`.
func NewCmdCredentials(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "credentials",
		Short:   "Manage the AWS credentials the CLI remembers for AWS clusters",
		Example: "  cortex cluster credentials forget cortex",
	}
	cmd.AddCommand(NewCmdForget(f, nil))
	return cmd
}

// ForgetOptions are the dependencies, flags and argument of `cortex cluster credentials forget`.
type ForgetOptions struct {
	IO        *cmdutil.IOStreams
	ConfigDir func() (string, error)

	Name   string
	Region string
}

// NewCmdForget is `cortex cluster credentials forget NAME`.
func NewCmdForget(f *cmdutil.Factory, runF func(*ForgetOptions) error) *cobra.Command {
	o := &ForgetOptions{IO: f.IO, ConfigDir: f.ConfigDir}
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
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return forgetRun(o)
		},
	}
	cmd.Flags().StringVar(&o.Region, "region", "", "only this region (default: every region)")
	return cmd
}

func forgetRun(o *ForgetOptions) error {
	dir, err := o.ConfigDir()
	if err != nil {
		return err
	}
	regions, err := credentials.NewCache(dir).ForgetCluster(o.Name, o.Region)
	for _, r := range regions {
		fmt.Fprintf(o.IO.Out, "forgot the credentials of cluster %s in %s\n", o.Name, r)
	}
	return err
}
