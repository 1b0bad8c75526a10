package cmdutil

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
)

// completionTimeout bounds asking the operator for names while the user waits at a TAB.
const completionTimeout = 5 * time.Second

// CompleteEnvNames completes an environment name (for -e, env default, env delete...): the
// environments of cli.yaml. Only the first argument is completed.
func CompleteEnvNames(f *Factory) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		cfg, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(cfg.Names(), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteEnvNameArg completes the single environment-name argument of a command.
func CompleteEnvNameArg(f *Factory) cobra.CompletionFunc {
	names := CompleteEnvNames(f)
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names(c, args, toComplete)
	}
}

// CompleteAPINames completes API names by asking the selected environment's operator. With
// many, every argument is an API and the ones already given are left out; otherwise only the
// first argument is. It never prompts: without a usable environment there is nothing to offer.
func CompleteAPINames(f *Factory, many bool) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if !many && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		defer cancel()
		cfg, env, err := f.environment(ctx, false)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cl, err := f.ClientFor(cfg.Dir(), env)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer cl.Close()
		var list apitypes.APIList
		if err := cl.Do(ctx, "GET", "/v1/apis", nil, &list); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, a := range list.APIs {
			if !slices.Contains(args, a.Name) {
				names = append(names, a.Name)
			}
		}
		return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func withPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}
