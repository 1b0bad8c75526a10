package cluster

import (
	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cluster/awscluster"
	"github.com/cortexlabs-go/cortex/internal/cli/cluster/kubecluster"
	"github.com/cortexlabs-go/cortex/internal/cli/cluster/localcluster"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

const providerRule = `
--provider is local unless a cluster config is given (cortex cluster up cluster.yaml, or -c), which
means aws. --provider kubernetes installs into the cluster of a kubeconfig (docs/kubernetes.md).`

func providerCommands(f *cmdutil.Factory) []*cobra.Command {
	cmds := []*cobra.Command{
		mergeProviders("up [cluster.yaml]", "Create a cluster (local processes, or AWS resources)",
			"Create a cluster, or resume one whose creation stopped half way. Running it again is safe.\n"+providerRule,
			"local", map[string]*cobra.Command{"local": localcluster.NewCmdUp(f, nil), "aws": awscluster.NewCmdUp(f, nil),
				"kubernetes": kubecluster.NewCmdUp(f, nil)}),
		mergeProviders("info [cluster.yaml]", "Show a cluster's endpoints, resources and state",
			"Show a cluster's endpoints, resources and state.\n"+providerRule,
			"local", map[string]*cobra.Command{"local": localcluster.NewCmdInfo(f, nil), "aws": awscluster.NewCmdInfo(f, nil),
				"kubernetes": kubecluster.NewCmdInfo(f, nil)}),
		mergeProviders("down [cluster.yaml]", "Delete a cluster and everything `up` created",
			"Delete a cluster and everything `up` created, and forget its environments.\n"+providerRule,
			"local", map[string]*cobra.Command{"local": localcluster.NewCmdDown(f, nil), "aws": awscluster.NewCmdDown(f, nil),
				"kubernetes": kubecluster.NewCmdDown(f, nil)}),
	}
	cmds[0].Example = `  cortex cluster up                          # local cluster, environment "local"
  cortex cluster up -e dev --auth iam --account-id 123456789012
  cortex cluster up cluster.yaml --yes       # AWS
  cortex cluster up --provider kubernetes --image registry.example.com/cortex:0.1`
	cmds[1].Example = `  cortex cluster info
  cortex cluster info cluster.yaml -o json   # AWS
  cortex cluster info --provider kubernetes --namespace cortex`
	cmds[2].Example = `  cortex cluster down
  cortex cluster down --keep-state
  cortex cluster down cluster.yaml --yes     # AWS
  cortex cluster down --provider kubernetes --context prod`
	return cmds
}

func awsOnlyCommands(f *cmdutil.Factory) []*cobra.Command {
	return []*cobra.Command{awscluster.NewCmdConfigure(f, nil), awscluster.NewCmdPolicy(f, nil), awscluster.NewCmdExampleConfig(f, nil), awscluster.NewCmdCredentials(f)}
}
