// Package token is `cortex cluster token`: the kubectl exec credential plugin that proves the
// caller's IAM identity to a Kubernetes API server. On EKS it mints the EKS token (--eks-cluster);
// elsewhere, a cortex identity token whose audience is the API server kubectl dials, which the
// API server hands to the operator's TokenReview webhook.
package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/kube/ekstoken"
)

// ExecInfoEnv is where kubectl passes the ExecCredential request (with the cluster's server URL
// when the kubeconfig sets provideClusterInfo: true).
const ExecInfoEnv = "KUBERNETES_EXEC_INFO"

// APIVersion is the exec credential API this plugin speaks.
const APIVersion = "client.authentication.k8s.io/v1"

// expiryMargin: kubectl is told a cortex token expires this long before the webhook stops
// accepting it, so it asks for a new one in time (the AWS CLI does the same for EKS).
const expiryMargin = time.Minute

// Options are the command's inputs and dependencies.
type Options struct {
	IO *cmdutil.IOStreams
	// Environment returns the selected environment (cortex mode; EKS mode uses its AWS profile).
	Environment func(context.Context) (*cliconfig.Config, *cliconfig.Environment, error)
	EnvSelected bool // -e/--env or $CORTEX_ENV was given
	Getenv      func(string) string
	Now         func() time.Time

	EKSCluster string
	Region     string
	Server     string
}

// NewCmdToken returns `cortex cluster token`. runF replaces the run function in tests.
func NewCmdToken(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{IO: f.IO, Environment: f.EnvironmentNoPrompt, Getenv: getenv(f), Now: f.Now}
	cmd := &cobra.Command{
		Use:   "token [--eks-cluster NAME --region REGION]",
		Short: "Print a Kubernetes credential for your IAM identity (a kubectl exec plugin)",
		Long: `Print an ExecCredential (client.authentication.k8s.io/v1) for kubectl.

Without --eks-cluster: a cortex identity token for the environment's cluster, bound to the API server
kubectl dials (kubectl passes its URL when the kubeconfig sets provideClusterInfo: true). The API server
hands it to the operator's TokenReview webhook, which maps your IAM identity to your cortex role.

With --eks-cluster: the token EKS's authenticator expects, as aws eks get-token makes it.

cortex cluster kubeconfig writes a kubeconfig that runs this command; you rarely run it yourself.`,
		Example: `  cortex -e prod cluster token --server https://k8s.example.com:6443
  cortex cluster token --eks-cluster my-cluster --region us-west-2`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.EnvSelected = f.EnvName != "" || o.Getenv(cmdutil.EnvVar) != ""
			if runF != nil {
				return runF(c.Context(), o)
			}
			return run(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.EKSCluster, "eks-cluster", "", "mint the EKS token for this EKS cluster name")
	cmd.Flags().StringVar(&o.Region, "region", "", "the EKS cluster's region (with --eks-cluster)")
	cmd.Flags().StringVar(&o.Server, "server", "", "the API server URL, when kubectl does not pass it (provideClusterInfo)")
	return cmd
}

func run(ctx context.Context, o *Options) error {
	info, err := execInfo(o.Getenv(ExecInfoEnv))
	if err != nil {
		return err
	}
	var tok string
	var expires time.Time
	if o.EKSCluster != "" {
		tok, expires, err = eksToken(ctx, o)
	} else {
		tok, expires, err = cortexToken(ctx, o, info)
	}
	if err != nil {
		return err
	}
	exp := metav1.NewTime(expires.UTC().Truncate(time.Second))
	out := clientauthv1.ExecCredential{
		TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: "ExecCredential"},
		Status:   &clientauthv1.ExecCredentialStatus{Token: tok, ExpirationTimestamp: &exp},
	}
	return json.NewEncoder(o.IO.Out).Encode(out)
}

// execInfo parses kubectl's request (empty when run by hand).
func execInfo(raw string) (*clientauthv1.ExecCredential, error) {
	if raw == "" {
		return nil, nil
	}
	var info clientauthv1.ExecCredential
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		return nil, fmt.Errorf("%s is not an ExecCredential: %v", ExecInfoEnv, err)
	}
	if info.APIVersion != APIVersion || info.Kind != "ExecCredential" {
		return nil, fmt.Errorf("kubectl asked for %s %s: this plugin speaks %s (set apiVersion: %s in the kubeconfig's exec section)",
			info.APIVersion, info.Kind, APIVersion, APIVersion)
	}
	return &info, nil
}

func credentials(ctx context.Context, env *cliconfig.Environment) (aws.Credentials, error) {
	return (&client.AWSTokens{Env: env}).Credentials(ctx)
}

func eksToken(ctx context.Context, o *Options) (string, time.Time, error) {
	if o.Region == "" {
		return "", time.Time{}, errors.New("--eks-cluster needs --region")
	}
	env := &cliconfig.Environment{}
	if o.EnvSelected { // the environment's AWS profile, if any; the default chain otherwise
		_, e, err := o.Environment(ctx)
		if err != nil {
			return "", time.Time{}, err
		}
		env = e
	}
	creds, err := credentials(ctx, env)
	if err != nil {
		return "", time.Time{}, err
	}
	return ekstoken.Mint(ctx, creds, ekstoken.Input{ClusterName: o.EKSCluster, Region: o.Region, Now: o.Now()})
}

// cortexToken mints a cortex identity token whose audience is the API server kubectl dials.
func cortexToken(ctx context.Context, o *Options, info *clientauthv1.ExecCredential) (string, time.Time, error) {
	if o.Region != "" {
		return "", time.Time{}, errors.New("--region goes with --eks-cluster (the environment says which STS endpoint to sign for)")
	}
	server := o.Server
	if info != nil && info.Spec.Cluster != nil && info.Spec.Cluster.Server != "" {
		server = info.Spec.Cluster.Server
		if o.Server != "" && !sameAudience(o.Server, server) {
			return "", time.Time{}, fmt.Errorf("--server %s is not the API server kubectl is dialing (%s)", o.Server, server)
		}
	}
	if server == "" {
		return "", time.Time{}, errors.New("no API server URL: set provideClusterInfo: true in the kubeconfig's exec section (cortex cluster kubeconfig does), or pass --server")
	}
	audience, err := identity.NormalizeAudience(server)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("API server URL: %v", err)
	}
	_, env, err := o.Environment(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	if env.Auth == cliconfig.AuthLocal {
		return "", time.Time{}, fmt.Errorf("environment %s uses the local admin credential, which Kubernetes never accepts: use an environment with IAM authentication", env.Name)
	}
	// No token cache: minting only signs (no network call), and kubectl keeps the token in memory
	// until the expiry it is told.
	tok, err := (&client.AWSTokens{Env: env, Audience: audience, Now: o.Now}).Token(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	exp, err := identity.TokenExpiry(tok)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, exp.Add(-expiryMargin), nil
}

func sameAudience(a, b string) bool {
	na, err1 := identity.NormalizeAudience(a)
	nb, err2 := identity.NormalizeAudience(b)
	return err1 == nil && err2 == nil && na == nb
}

// getenv is the factory's view of the process environment (tests replace it).
func getenv(f *cmdutil.Factory) func(string) string {
	if f.Getenv != nil {
		return f.Getenv
	}
	return os.Getenv
}
