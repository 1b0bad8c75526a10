package cluster

import (
	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cluster/awscluster"
	"github.com/cortexlabs-go/cortex/internal/cli/cluster/localcluster"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

const providerRule = `
--provider is local unless a cluster config is given (cortex cluster up cluster.yaml, or -c), which
means aws.`

func providerCommands(f *cmdutil.Factory) []*cobra.Command {
	return []*cobra.Command{
		mergeProviders("up [cluster.yaml]", "Create a cluster (local processes, or AWS resources)",
			"Create a cluster, or resume one whose creation stopped half way. Running it again is safe.\n"+providerRule,
			"local", map[string]*cobra.Command{"local": localcluster.NewUpCmd(f), "aws": awscluster.NewUpCmd(f)}),
		mergeProviders("info [cluster.yaml]", "Show a cluster's endpoints, resources and state",
			"Show a cluster's endpoints, resources and state.\n"+providerRule,
			"local", map[string]*cobra.Command{"local": localcluster.NewInfoCmd(f), "aws": awscluster.NewInfoCmd(f)}),
		mergeProviders("down [cluster.yaml]", "Delete a cluster and everything `up` created",
			"Delete a cluster and everything `up` created, and forget its environments.\n"+providerRule,
			"local", map[string]*cobra.Command{"local": localcluster.NewDownCmd(f), "aws": awscluster.NewDownCmd(f)}),
	}
}

func awsOnlyCommands(f *cmdutil.Factory) []*cobra.Command {
	return []*cobra.Command{awscluster.NewConfigureCmd(f), awscluster.NewPolicyCmd(f), awscluster.NewExampleConfigCmd(f), awscluster.NewCredentialsCmd(f)}
}
