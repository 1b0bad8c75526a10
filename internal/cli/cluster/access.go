package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/awsarn"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
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
matched only by a rule naming the root ARN itself.

On an AWS (EKS) cluster each command also changes the identity's Kubernetes access, so that
kubectl works for it too: an EKS access entry (username = the ARN, groups = the cortex groups of
the role) with the role's access policy: AmazonEKSViewPolicy in the APIs' namespace for read and
deploy (deploy's scale and pod delete come from its group), admin AmazonEKSClusterAdminPolicy. For a cluster in CONFIG_MAP
authentication mode, --aws-auth edits the aws-auth ConfigMap instead (as eksctl create
iamidentitymapping does). list shows both sides and what differs between them.`,
		Example: `  cortex cluster access list
  cortex cluster access grant arn:aws:iam::111122223333:role/ml --role deploy
  cortex cluster access grant arn:aws:iam::111122223333:user/bob --role read --aws-auth --kubeconfig ~/.kube/eks`,
	}
	cmd.AddCommand(NewCmdAccessList(f, nil), NewCmdAccessGrant(f, nil), NewCmdAccessRevoke(f, nil))
	return cmd
}

// AccessOptions are the dependencies, flags and argument of the access commands.
type AccessOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (*client.Client, *cliconfig.Environment, error)

	// AWSConfig is the SDK configuration of the EKS calls (the Factory's seam).
	AWSConfig func(context.Context, *cliconfig.Environment) (aws.Config, error)
	// Kube returns a client of the cluster in a kubeconfig (for --aws-auth).
	Kube func(kubeconfig string) (kubernetes.Interface, error)

	Principal string
	Role      string
	Format    *string
	// AWSAuth edits the aws-auth ConfigMap instead of EKS access entries; Kubeconfig reaches the cluster.
	AWSAuth    bool
	Kubeconfig string
	// Namespace scopes the view and edit access policies (where the APIs run).
	Namespace string

	ctx context.Context
}

func accessOptions(f *cmdutil.Factory) *AccessOptions {
	return &AccessOptions{IO: f.IO, Client: f.Client, AWSConfig: f.AWSConfigFor, Kube: kubeClient, Namespace: defaultAPIsNamespace}
}

// addKubeFlags adds the flags of the Kubernetes side.
func (o *AccessOptions) addKubeFlags(cmd *cobra.Command, namespace bool) {
	cmd.Flags().BoolVar(&o.AWSAuth, "aws-auth", false, "use the aws-auth ConfigMap (clusters in CONFIG_MAP authentication mode) instead of EKS access entries")
	cmd.Flags().StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of a cluster admin, for --aws-auth (default $KUBECONFIG or ~/.kube/config)")
	if namespace {
		cmd.Flags().StringVar(&o.Namespace, "namespace", defaultAPIsNamespace, "namespace of the APIs: the scope of the read and deploy access policies")
	}
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
	o.addKubeFlags(cmd, true)
	return cmd
}

func accessListRun(o *AccessOptions) error {
	cl, env, err := o.Client(o.ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	store, err := o.kubeStore(env)
	if err != nil {
		return err
	}
	list, err := cl.AccessList(o.ctx)
	if err != nil {
		return err
	}
	view := accessView{AccessList: list}
	if store != nil {
		if view.Kubernetes, err = store.List(o.ctx); err != nil {
			return err
		}
		view.KubernetesStore = store.Name()
		view.Drift = accessDrift(list, view.Kubernetes, store.Name())
	}
	err = cmdutil.Print(o.IO.Out, *o.Format, view, func(tw *tabwriter.Writer) {
		// UNIQUE ID: the IAM unique id a grant was bound to at its principal's first sign-in
		// ("-": not yet; account rules are never bound).
		kube := func(principal string) string {
			if store == nil {
				return ""
			}
			if !kubeaccess.HasKubeSide(principal) {
				return "\t"
			}
			return "\t" + kubeColumn(view.Kubernetes, principal)
		}
		header := "PRINCIPAL\tROLE\tGRANTED BY\tGRANTED AT\tUNIQUE ID"
		if store != nil {
			header += "\tKUBERNETES (" + strings.ToUpper(store.Name()) + ")"
		}
		fmt.Fprintln(tw, header)
		if list.CreatorARN != "" {
			fmt.Fprintf(tw, "%s\tadmin\t(creator)\t\t%s%s\n", list.CreatorARN, orDash(list.CreatorUniqueID), kube(list.CreatorARN))
		}
		for _, r := range list.Rules {
			uid := orDash(r.UniqueID)
			if !strings.HasPrefix(r.Principal, "arn:") {
				uid = "" // an account rule
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\n", r.Principal, r.Role, r.GrantedBy, r.GrantedAt, uid, kube(r.Principal))
		}
		if list.Mode == string(access.ModeAccount) && list.AccountID != "" {
			fmt.Fprintf(tw, "%s (any other identity of the account)\t%s\t(account mode)\t\t%s\n", list.AccountID, list.AccountRole, kube(list.AccountID))
		}
		for _, d := range view.Drift {
			if !slices.ContainsFunc(list.Rules, func(r apitypes.AccessRule) bool { return canonical(r.Principal) == canonical(d.Principal) }) &&
				canonical(d.Principal) != canonical(list.CreatorARN) {
				fmt.Fprintf(tw, "%s\t-\t\t\t%s\n", d.Principal, kube(d.Principal))
			}
		}
	})
	if err != nil || *o.Format != cmdutil.FormatTable || len(view.Drift) == 0 {
		return err
	}
	// The differences, after the table, each with the command that ends it.
	fmt.Fprintf(o.IO.Out, "\n%d difference(s) between the operator's rules and Kubernetes:\n", len(view.Drift))
	for _, d := range view.Drift {
		fmt.Fprintf(o.IO.Out, "  %s: %s\n    fix: %s\n", d.Principal, d.Problem, d.Fix)
	}
	return nil
}

// NewCmdAccessGrant returns `cortex cluster access grant`.
func NewCmdAccessGrant(f *cmdutil.Factory, runF func(*AccessOptions) error) *cobra.Command {
	o := accessOptions(f)
	cmd := &cobra.Command{
		Use:   "grant PRINCIPAL --role read|deploy|admin",
		Short: "Give an IAM user, role or account a role on the cluster",
		Long: `Give an IAM user, role or account a role on the cluster: the operator's access rule and, on an
AWS (EKS) cluster, the identity's EKS access entry with the role's access policy (or, with
--aws-auth, its aws-auth mapping). If the Kubernetes step fails, the entry is removed and the
command prints how to finish or undo the grant.`,
		Example: "  cortex cluster access grant arn:aws:iam::111122223333:user/bob --role deploy\n" +
			"  cortex cluster access grant 111122223333 --role read\n" +
			"  cortex cluster access grant arn:aws:iam::111122223333:role/ml --role read --aws-auth --kubeconfig ~/.kube/eks",
		Args: cobra.ExactArgs(1),
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
	o.addKubeFlags(cmd, true)
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
	// The Kubernetes side is set up before anything changes, so that a missing kubeconfig or AWS
	// configuration fails the command with nothing done.
	store, err := o.kubeStore(env)
	if err != nil {
		return err
	}
	// Both sides, the operator's rule first (kubeaccess.GrantBoth: the order that never leaves more
	// access than intended).
	err = kubeaccess.GrantBoth(o.ctx, client.AccessRules{Client: cl}, store, o.Principal, rule.Role)
	var inc *kubeaccess.IncompleteError
	if err != nil && !errors.As(err, &inc) {
		return err
	}
	fmt.Fprintf(o.IO.Out, "granted %s to %s on %s (operator rule)\n", rule.Role, rule.Principal, env.Name)
	if inc != nil {
		return o.incompleteGrant(inc)
	}
	if store == nil {
		return nil
	}
	if !kubeaccess.HasKubeSide(o.Principal) {
		fmt.Fprintf(o.IO.ErrOut, "note: no %s for %s: Kubernetes access is given to IAM users and roles only\n", store.Name(), o.Principal)
		return nil
	}
	fmt.Fprintf(o.IO.Out, "granted %s to %s on %s (%s)\n", rule.Role, o.Principal, env.Name, kubeDescription(store, rule.Role, o.Namespace))
	return nil
}

// incompleteGrant reports a grant whose Kubernetes step failed: the operator's rule is in place,
// the Kubernetes side was removed (less Kubernetes access than intended, never more or other) or,
// if that failed too, may be other than the role's. It says how to finish or undo.
func (o *AccessOptions) incompleteGrant(inc *kubeaccess.IncompleteError) error {
	w := o.IO.ErrOut
	fmt.Fprintf(w, "error: the operator rule grants %s to %s, but its %s failed: %v\n", inc.Role, o.Principal, inc.Store, inc.Err)
	if inc.UndoErr != nil {
		fmt.Fprintf(w, "error: removing its %s failed too: %v\n", inc.Store, inc.UndoErr)
		fmt.Fprintf(w, "warning: %s may keep Kubernetes access other than %s (see `cortex cluster access list`)\n", o.Principal, inc.Role)
	} else {
		fmt.Fprintf(w, "its %s was removed: %s has no Kubernetes access now (its cortex access is %s)\n", inc.Store, o.Principal, inc.Role)
	}
	fmt.Fprintf(w, "to finish, run again: cortex cluster access grant %s --role %s%s\n", o.Principal, inc.Role, o.flagsText())
	fmt.Fprintf(w, "to undo,   run:       cortex cluster access revoke %s%s\n", o.Principal, o.flagsText())
	return &cmdutil.ExitError{Code: cmdutil.ExitError1, Err: inc}
}

// flagsText repeats the Kubernetes flags of this command for the advice it prints.
func (o *AccessOptions) flagsText() string {
	s := ""
	if o.AWSAuth {
		s += " --aws-auth"
		if o.Kubeconfig != "" {
			s += " --kubeconfig " + o.Kubeconfig
		}
	}
	if o.Namespace != defaultAPIsNamespace {
		s += " --namespace " + o.Namespace
	}
	return s
}

// NewCmdAccessRevoke returns `cortex cluster access revoke`.
func NewCmdAccessRevoke(f *cmdutil.Factory, runF func(*AccessOptions) error) *cobra.Command {
	o := accessOptions(f)
	cmd := &cobra.Command{
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
	o.addKubeFlags(cmd, false)
	return cmd
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
	store, err := o.kubeStore(env)
	if err != nil {
		return err
	}
	// Both sides, the operator first (it checks that the caller is a cortex admin). A principal
	// without a rule may still have Kubernetes access (drift): that is removed too.
	ruleFound, kubeFound, err := kubeaccess.RevokeBoth(o.ctx, client.AccessRules{Client: cl}, store, o.Principal)
	var inc *kubeaccess.IncompleteError
	if err != nil && !errors.As(err, &inc) {
		return err
	}
	if ruleFound {
		fmt.Fprintf(o.IO.Out, "revoked the access rule of %s on %s\n", p, env.Name)
	} else {
		if store == nil {
			return fmt.Errorf("%s has no access rule on %s", p, env.Name)
		}
		fmt.Fprintf(o.IO.Out, "%s has no access rule on %s\n", p, env.Name)
	}
	accountModeNote(o, cl, p, env.Name)
	if inc != nil {
		fmt.Fprintf(o.IO.ErrOut, "error: %s keeps its Kubernetes access: %v\nrun again: cortex cluster access revoke %s%s\n", o.Principal, inc.Err, o.Principal, o.flagsText())
		return &cmdutil.ExitError{Code: cmdutil.ExitError1, Err: inc}
	}
	if store == nil || !kubeaccess.HasKubeSide(o.Principal) {
		return nil
	}
	switch {
	case kubeFound:
		fmt.Fprintf(o.IO.Out, "removed the %s of %s\n", store.Name(), o.Principal)
	case !ruleFound:
		return fmt.Errorf("%s has neither an access rule nor an %s", p, store.Name())
	default:
		fmt.Fprintf(o.IO.Out, "%s had no %s\n", o.Principal, store.Name())
	}
	return nil
}

// accountModeNote says, in one line on stderr, that a revoked principal of the cluster's account
// keeps the account role when the cluster runs in account mode: a revoke removes its rule, not
// that role, and nobody should believe otherwise.
func accountModeNote(o *AccessOptions, cl *client.Client, principal, envName string) {
	list, err := cl.AccessList(o.ctx)
	if err != nil {
		fmt.Fprintf(o.IO.ErrOut, "warning: could not read the cluster's auth mode (in account mode every identity of the account keeps the account role): %v\n", err)
		return
	}
	if list.Mode != string(access.ModeAccount) || list.AccountID == "" {
		return
	}
	account := principal
	if !awsarn.IsAccountID(principal) {
		pr, err := awsarn.Parse(principal)
		if err != nil {
			return
		}
		account = pr.Account
	}
	if account != list.AccountID {
		return
	}
	fmt.Fprintf(o.IO.ErrOut, "note: %s keeps role %s on %s through auth mode account (every identity of account %s has it); only auth mode rules removes it\n",
		principal, list.AccountRole, envName, list.AccountID)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
