// Package whoami is `cortex whoami`: who the operator sees, and where the credentials came from.
package whoami

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
)

// WhoamiOptions are the dependencies and flags of `cortex whoami`.
type WhoamiOptions struct {
	IO     *cmdutil.IOStreams
	Client func(context.Context) (*client.Client, *cliconfig.Environment, error)
	Getenv func(string) string
	Format *string

	ctx context.Context
}

// Result is what whoami prints (-o json|yaml).
type Result struct {
	Environment      string `json:"environment"`
	Endpoint         string `json:"operator_endpoint"`
	ClusterID        string `json:"cluster_id"`
	ARN              string `json:"arn"`
	CanonicalARN     string `json:"canonical_arn"`
	Account          string `json:"account,omitempty"`
	SessionName      string `json:"session_name,omitempty"`
	Role             string `json:"role"`
	Method           string `json:"auth_method"`
	CredentialSource string `json:"credential_source"`
	AccessKeyIDEnd   string `json:"access_key_id_last4,omitempty"`
}

// NewCmdWhoami returns `cortex whoami`.
func NewCmdWhoami(f *cmdutil.Factory, runF func(*WhoamiOptions) error) *cobra.Command {
	opts := &WhoamiOptions{IO: f.IO, Client: f.Client, Getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the identity and role the operator sees for you, and where your credentials came from",
		Long: `Show the identity the operator verified for your request (from your AWS credentials, through
the standard chain: environment variables, AWS_PROFILE, ~/.aws, SSO, assumed roles), your role on
the cluster, and which source the credentials came from. The secret is never shown.`,
		Example: `  cortex whoami
  cortex whoami -e prod -o json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.ctx = c.Context()
			if runF != nil {
				return runF(opts)
			}
			return whoamiRun(opts)
		},
	}
	opts.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

func whoamiRun(o *WhoamiOptions) error {
	ctx := o.ctx
	cl, env, err := o.Client(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res := Result{Environment: env.Name, Endpoint: env.OperatorEndpoint, ClusterID: env.ClusterID}
	if env.Auth == cliconfig.AuthLocal {
		res.CredentialSource = "local admin credential (" + env.LocalTokenFile + ")"
	} else if aws, ok := cl.Tokens().(*client.AWSTokens); ok {
		creds, err := aws.Credentials(ctx)
		if err != nil {
			return err
		}
		res.CredentialSource = client.DescribeSource(creds.Source)
		if p := env.AWSProfile; p != "" {
			res.CredentialSource += " (profile " + p + " from the environment)"
		} else if p := o.Getenv("AWS_PROFILE"); p != "" {
			res.CredentialSource += " (AWS_PROFILE=" + p + ")"
		}
		if n := len(creds.AccessKeyID); n >= 4 {
			res.AccessKeyIDEnd = creds.AccessKeyID[n-4:]
		}
	}
	info, err := cl.Info(ctx)
	if err != nil {
		return err
	}
	res.ARN, res.CanonicalARN, res.Account = info.Caller.ARN, info.Caller.CanonicalARN, info.Caller.Account
	res.SessionName, res.Role, res.Method = info.Caller.SessionName, info.Caller.Role, info.Caller.Method
	res.ClusterID = info.Cluster.ID
	return cmdutil.Print(o.IO.Out, *o.Format, res, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "identity:\t%s\n", res.ARN)
		if res.CanonicalARN != res.ARN {
			fmt.Fprintf(tw, "canonical:\t%s\n", res.CanonicalARN)
		}
		if res.Account != "" {
			fmt.Fprintf(tw, "account:\t%s\n", res.Account)
		}
		fmt.Fprintf(tw, "role:\t%s\n", res.Role)
		fmt.Fprintf(tw, "credentials:\t%s", res.CredentialSource)
		if res.AccessKeyIDEnd != "" {
			fmt.Fprintf(tw, ", access key ...%s", res.AccessKeyIDEnd)
		}
		fmt.Fprintln(tw)
		fmt.Fprintf(tw, "environment:\t%s (%s, cluster %s)\n", res.Environment, res.Endpoint, res.ClusterID)
	})
}
