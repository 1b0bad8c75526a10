// Package cluster is `cortex cluster`: the lifecycle commands (up, info, down, configure) of each
// provider behind one --provider flag, and the access rules of a running cluster.
package cluster

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cortexlabs-go/cortex/internal/cli/cluster/kubecluster"
	"github.com/cortexlabs-go/cortex/internal/cli/cluster/kubeconfig"
	"github.com/cortexlabs-go/cortex/internal/cli/cluster/token"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

// NewCmdCluster returns `cortex cluster` and its subcommands.
func NewCmdCluster(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, inspect, change and delete cortex clusters, and manage who may use them",
		Long: `Manage cortex clusters.

A cluster is either local (the default: an operator and gateway running as processes on this machine,
no cloud account needed), on AWS (--provider aws with a cluster.yaml), or installed into any
Kubernetes cluster (--provider kubernetes with a kubeconfig).`,
		Example: `  cortex cluster up
  cortex cluster info
  cortex cluster up cluster.yaml          # AWS
  cortex cluster down --keep-state`,
	}
	for _, sub := range providerCommands(f) {
		cmd.AddCommand(sub)
	}
	for _, sub := range awsOnlyCommands(f) {
		cmd.AddCommand(sub)
	}
	cmd.AddCommand(NewCmdAccess(f), kubecluster.NewCmdManifests(f, nil), kubecluster.NewCmdWebhookConfig(f, nil))
	cmd.AddCommand(token.NewCmdToken(f, nil), kubeconfig.NewCmdKubeconfig(f, nil))
	return cmd
}

// mergeProviders builds one command whose --provider flag picks which provider's command runs.
// Each provider command keeps its own options struct and flags; the merged command carries the
// union of the flags, and refuses a flag that belongs only to another provider.
func mergeProviders(use, short, long, defaultProvider string, byProvider map[string]*cobra.Command) *cobra.Command {
	names := make([]string, 0, len(byProvider))
	for name := range byProvider {
		names = append(names, name)
	}
	sort.Strings(names)

	var provider string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ArbitraryArgs,
	}
	cmd.Flags().StringVar(&provider, "provider", defaultProvider, "where the cluster runs: "+strings.Join(names, " or "))
	_ = cmd.RegisterFlagCompletionFunc("provider", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	// Label flags that only one provider has, so the merged --help says where each applies.
	owners := map[string][]string{}
	for _, name := range names {
		byProvider[name].Flags().VisitAll(func(fl *pflag.Flag) { owners[fl.Name] = append(owners[fl.Name], name) })
	}
	for _, name := range names {
		byProvider[name].Flags().VisitAll(func(fl *pflag.Flag) {
			if len(owners[fl.Name]) == 1 && fl.Name != "help" && !strings.HasPrefix(fl.Usage, "["+name+"] ") {
				fl.Usage = "[" + name + "] " + fl.Usage
			}
		})
		cmd.Flags().AddFlagSet(byProvider[name].Flags())
	}
	// A flag several providers share is added once (the first provider's): when that one is
	// hidden (a tests-only flag of one provider) and another provider's is not, the merged --help
	// shows the visible one's text.
	cmd.Flags().VisitAll(func(merged *pflag.Flag) {
		if !merged.Hidden {
			return
		}
		for _, name := range owners[merged.Name] {
			if fl := byProvider[name].Flags().Lookup(merged.Name); fl != nil && !fl.Hidden {
				merged.Hidden, merged.Usage = false, "["+name+"] "+fl.Usage
				return
			}
		}
	})
	cmd.RunE = func(c *cobra.Command, args []string) error {
		// A cluster config (positional or -c/--config) means AWS unless --provider says otherwise.
		if !c.Flags().Changed("provider") && (len(args) > 0 || c.Flags().Changed("config")) {
			if _, ok := byProvider["aws"]; ok {
				provider = "aws"
			}
		}
		chosen, ok := byProvider[provider]
		if !ok {
			return fmt.Errorf("invalid --provider %q: use %s", provider, strings.Join(names, " or "))
		}
		var foreign []string
		c.Flags().Visit(func(fl *pflag.Flag) {
			// Global flags (-e/--env) belong to every command, whatever the provider.
			if c.InheritedFlags().Lookup(fl.Name) != nil {
				return
			}
			if fl.Name != "provider" && chosen.Flags().Lookup(fl.Name) == nil {
				foreign = append(foreign, "--"+fl.Name)
			}
		})
		if len(foreign) > 0 {
			return fmt.Errorf("%s not valid with --provider %s", strings.Join(foreign, ", "), provider)
		}
		// Flags both providers define (e.g. -o) were parsed into the first provider's variable:
		// hand the value to the chosen provider's own flag.
		c.Flags().Visit(func(fl *pflag.Flag) {
			if c.InheritedFlags().Lookup(fl.Name) != nil {
				return
			}
			own := chosen.Flags().Lookup(fl.Name)
			if own == nil || own == fl {
				return
			}
			if sv, ok := fl.Value.(pflag.SliceValue); ok {
				if osv, ok := own.Value.(pflag.SliceValue); ok {
					_ = osv.Replace(sv.GetSlice())
					return
				}
			}
			_ = own.Value.Set(fl.Value.String())
		})
		if chosen.Args != nil {
			if err := chosen.Args(chosen, args); err != nil {
				return err
			}
		}
		chosen.SetContext(c.Context())
		chosen.SetIn(c.InOrStdin())
		chosen.SetOut(c.OutOrStdout())
		chosen.SetErr(c.ErrOrStderr())
		return chosen.RunE(chosen, args)
	}
	return cmd
}
