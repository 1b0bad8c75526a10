package cluster

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
)

func newAccessCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "List, grant and revoke who may use the cluster (admin)",
		Long: `Access rules give an IAM user or role (by ARN), or every user and role of an account (by its
12-digit id), one of the roles read < deploy < admin. The cluster's creator is always admin.

An assumed-role session is matched by its role: grant the role ARN. Role and user paths are
ignored (arn:aws:iam::111122223333:role/team/ml matches role ml). An account's root user is
matched only by a rule naming the root ARN itself.`,
	}
	cmd.AddCommand(newAccessListCmd(f), newAccessGrantCmd(f), newAccessRevokeCmd(f))
	return cmd
}

func newAccessListCmd(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the access rules", Args: cobra.NoArgs}
	format := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		if err := cmdutil.ValidateFormat(*format); err != nil {
			return err
		}
		cl, _, err := f.Client()
		if err != nil {
			return err
		}
		list, err := cl.AccessList(c.Context())
		if err != nil {
			return err
		}
		return cmdutil.Print(f.IO.Out, *format, list, func(tw *tabwriter.Writer) {
			// UNIQUE ID: the IAM unique id a grant was bound to at its principal's first sign-in
			// ("-": not yet; account rules are never bound).
			fmt.Fprintln(tw, "PRINCIPAL\tROLE\tGRANTED BY\tGRANTED AT\tUNIQUE ID")
			if list.CreatorARN != "" {
				fmt.Fprintf(tw, "%s\tadmin\t(creator)\t\t%s\n", list.CreatorARN, orDash(list.CreatorUniqueID))
			}
			for _, r := range list.Rules {
				uid := orDash(r.UniqueID)
				if !strings.HasPrefix(r.Principal, "arn:") {
					uid = "" // an account rule
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Principal, r.Role, r.GrantedBy, r.GrantedAt, uid)
			}
			if list.Mode == string(access.ModeAccount) && list.AccountID != "" {
				fmt.Fprintf(tw, "%s (any other identity of the account)\t%s\t(account mode)\t\t\n", list.AccountID, list.AccountRole)
			}
		})
	}
	return cmd
}

func newAccessGrantCmd(f *cmdutil.Factory) *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:     "grant PRINCIPAL --role read|deploy|admin",
		Short:   "Give an IAM user, role or account a role on the cluster",
		Example: "  cortex cluster access grant arn:aws:iam::111122223333:user/bob --role deploy",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return grant(c.Context(), f, args[0], role)
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "read, deploy or admin (required)")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.RegisterFlagCompletionFunc("role", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"read", "deploy", "admin"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func grant(ctx context.Context, f *cmdutil.Factory, principal, role string) error {
	// Validate locally first: a typo never reaches the cluster.
	rule := access.Rule{Principal: principal, Role: access.Role(role)}
	if err := rule.Validate(); err != nil {
		return err
	}
	cl, env, err := f.Client()
	if err != nil {
		return err
	}
	if _, err := cl.Grant(ctx, rule.Principal, string(rule.Role)); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.Out, "granted %s to %s on %s\n", rule.Role, rule.Principal, env.Name)
	return nil
}

func newAccessRevokeCmd(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke PRINCIPAL",
		Short: "Remove the access rule of a principal (takes effect at once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := access.NormalizePrincipal(args[0])
			if err != nil {
				return err
			}
			cl, env, err := f.Client()
			if err != nil {
				return err
			}
			if err := cl.Revoke(c.Context(), p); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "revoked the access rule of %s on %s\n", p, env.Name)
			return nil
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
