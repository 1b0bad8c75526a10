package cluster

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// NewCmdAccess returns `cortex cluster access` and its subcommands.
func NewCmdAccess(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "List, grant and revoke who may use the cluster (admin)",
		Long: `Access rules give an IAM user or role (by ARN), or every user and role of an account (by its
12-digit id), one of the roles read < deploy < admin. The cluster's creator is always admin.

An assumed-role session is matched by its role: grant the role ARN. Role and user paths are
ignored (arn:aws:iam::111122223333:role/team/ml matches role ml). An account's root user is
matched only by a rule naming the root ARN itself.`,
		Example: `  cortex cluster access list
  cortex cluster access grant arn:aws:iam::111122223333:role/ml --role deploy`,
	}
	cmd.AddCommand(NewCmdAccessList(f, nil), NewCmdAccessGrant(f, nil), NewCmdAccessRevoke(f, nil))
	return cmd
}

// AccessOptions are the dependencies, flags and argument of the access commands.
type AccessOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (*client.Client, *cliconfig.Environment, error)

	Principal string
	Role      string
	Format    *string

	ctx context.Context
}

func accessOptions(f *cmdutil.Factory) *AccessOptions {
	return &AccessOptions{IO: f.IO, Client: f.Client}
}

// NewCmdAccessList returns `cortex cluster access list`.
func NewCmdAccessList(f *cmdutil.Factory, runF func(*AccessOptions) error) *cobra.Command {
	o := accessOptions(f)
	cmd := &cobra.Command{Use: "list", Short: "List the access rules", Args: cobra.NoArgs,
		Example: "  cortex cluster access list\n  cortex cluster access list -o json",
		RunE: func(c *cobra.Command, _ []string) error {
			o.ctx = c.Context()
			if runF != nil {
				return runF(o)
			}
			return accessListRun(o)
		}}
	o.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

func accessListRun(o *AccessOptions) error {
	cl, _, err := o.Client(o.ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	list, err := cl.AccessList(o.ctx)
	if err != nil {
		return err
	}
	return cmdutil.Print(o.IO.Out, *o.Format, list, func(tw *tabwriter.Writer) {
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

// NewCmdAccessGrant returns `cortex cluster access grant`.
func NewCmdAccessGrant(f *cmdutil.Factory, runF func(*AccessOptions) error) *cobra.Command {
	o := accessOptions(f)
	cmd := &cobra.Command{
		Use:     "grant PRINCIPAL --role read|deploy|admin",
		Short:   "Give an IAM user, role or account a role on the cluster",
		Example: "  cortex cluster access grant arn:aws:iam::111122223333:user/bob --role deploy\n  cortex cluster access grant 111122223333 --role read",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.ctx = c.Context()
			o.Principal = args[0]
			if runF != nil {
				return runF(o)
			}
			return accessGrantRun(o)
		},
	}
	cmd.Flags().StringVar(&o.Role, "role", "", "read, deploy or admin (required)")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.RegisterFlagCompletionFunc("role", cmdutil.FixedValues("read", "deploy", "admin"))
	return cmd
}

func accessGrantRun(o *AccessOptions) error {
	// Validate locally first: a typo never reaches the cluster.
	rule := access.Rule{Principal: o.Principal, Role: access.Role(o.Role)}
	if err := rule.Validate(); err != nil {
		return err
	}
	cl, env, err := o.Client(o.ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Grant(o.ctx, rule.Principal, string(rule.Role)); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "granted %s to %s on %s\n", rule.Role, rule.Principal, env.Name)
	return nil
}

// NewCmdAccessRevoke returns `cortex cluster access revoke`.
func NewCmdAccessRevoke(f *cmdutil.Factory, runF func(*AccessOptions) error) *cobra.Command {
	o := accessOptions(f)
	return &cobra.Command{
		Use:     "revoke PRINCIPAL",
		Short:   "Remove the access rule of a principal (takes effect at once)",
		Example: "  cortex cluster access revoke arn:aws:iam::111122223333:user/bob",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.ctx = c.Context()
			o.Principal = args[0]
			if runF != nil {
				return runF(o)
			}
			return accessRevokeRun(o)
		},
	}
}

func accessRevokeRun(o *AccessOptions) error {
	p, err := access.NormalizePrincipal(o.Principal)
	if err != nil {
		return err
	}
	cl, env, err := o.Client(o.ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Revoke(o.ctx, p); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "revoked the access rule of %s on %s\n", p, env.Name)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
