// Package kubeconfig is `cortex cluster kubeconfig`: it writes a kubeconfig whose user runs
// `cortex cluster token`, so kubectl authenticates as the caller's IAM identity.
package kubeconfig

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cortexlabs-go/cortex/internal/cli/cluster/token"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
	"github.com/cortexlabs-go/cortex/internal/identity"
)

// Options are the command's inputs and dependencies.
type Options struct {
	IO          *cmdutil.IOStreams
	Environment func(context.Context) (*cliconfig.Config, *cliconfig.Environment, error)
	// Executable is the cortex binary the kubeconfig runs (default: this process's).
	Executable func() (string, error)
	Getenv     func(string) string
	// AWSConfig is the SDK configuration of DescribeCluster (the Factory's seam).
	AWSConfig func(context.Context, *cliconfig.Environment) (aws.Config, error)

	Server         string
	CAFile         string
	FromKubeconfig string
	Context        string
	EKSCluster     string
	Region         string
	Output         string
}

// NewCmdKubeconfig returns `cortex cluster kubeconfig`. runF replaces the run function in tests.
func NewCmdKubeconfig(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{IO: f.IO, Environment: f.Environment, Executable: os.Executable, Getenv: getenv(f), AWSConfig: f.AWSConfigFor}
	cmd := &cobra.Command{
		Use:   "kubeconfig [--server URL] [--ca-file F | --from-kubeconfig F] [--output FILE]",
		Short: "Write a kubeconfig that authenticates kubectl with your IAM identity",
		Long: `Write a kubeconfig whose user runs cortex cluster token, so that kubectl proves your IAM identity
to the cluster and Kubernetes RBAC gives you your cortex role (read, deploy or admin).

The API server's URL and CA come from --server and --ca-file, or from an existing kubeconfig's context
(--from-kubeconfig, --context). With --eks-cluster and --region the token is EKS's own; otherwise it is a
cortex identity token for the environment's cluster, bound to that API server and checked by the
operator's TokenReview webhook. The file is written 0600.

For an AWS environment (made by cortex cluster up --provider aws) no flag is needed: the EKS cluster
is the environment's, its endpoint and CA come from EKS DescribeCluster, and the user runs
cortex cluster token --eks-cluster NAME (EKS's token, x-k8s-aws-id = NAME) with the environment's
AWS profile. EKS then gives you the Kubernetes access of your access entry (cortex cluster access).`,
		Example: `  cortex -e aws-prod cluster kubeconfig --output ~/.kube/cortex-aws-prod
  cortex cluster kubeconfig --eks-cluster my-eks --region us-west-2 --output ~/.kube/my-eks
  cortex -e prod cluster kubeconfig --server https://k8s.example.com:6443 --ca-file k8s-ca.pem --output ~/.kube/cortex-prod
  cortex -e prod cluster kubeconfig --from-kubeconfig ~/.kube/config --context admin@prod --output ~/.kube/cortex-prod
  KUBECONFIG=~/.kube/cortex-prod kubectl -n cortex-apis get pods`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			return run(c.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Server, "server", "", "the API server URL (default: from --from-kubeconfig)")
	fl.StringVar(&o.CAFile, "ca-file", "", "PEM file of the API server's CA")
	fl.StringVar(&o.FromKubeconfig, "from-kubeconfig", "", "take the server and CA from this kubeconfig")
	fl.StringVar(&o.Context, "context", "", "the context of --from-kubeconfig (default: its current context)")
	fl.StringVar(&o.EKSCluster, "eks-cluster", "", "an EKS cluster: use EKS tokens for this cluster name (default: an AWS environment's cluster)")
	fl.StringVar(&o.Region, "region", "", "the EKS cluster's region (default: an AWS environment's region)")
	fl.StringVarP(&o.Output, "output", "o", "", "write to this `FILE` (0600) instead of standard output")
	return cmd
}

func run(ctx context.Context, o *Options) error {
	_, env, err := o.Environment(ctx)
	if err != nil {
		return err
	}
	// An AWS environment's own EKS cluster, unless the flags name another API server.
	eksName, region := o.EKSCluster, o.Region
	if eksName == "" && o.Server == "" && o.FromKubeconfig == "" && env.Provider == "aws" && env.ClusterName != "" {
		eksName = env.ClusterName
	}
	if eksName != "" && region == "" {
		region = env.Region
	}
	var cluster *clientcmdapi.Cluster
	if eksName != "" && o.Server == "" && o.FromKubeconfig == "" {
		if region == "" {
			return errors.New("--eks-cluster needs --region")
		}
		cluster, err = o.describeEKS(ctx, env, eksName, region)
	} else {
		cluster, err = o.cluster()
	}
	if err != nil {
		return err
	}
	args := []string{"--env", env.Name, "cluster", "token"}
	if eksName != "" {
		if region == "" {
			return errors.New("--eks-cluster needs --region")
		}
		args = append(args, "--eks-cluster", eksName, "--region", region)
	} else {
		if o.Region != "" {
			return errors.New("--region goes with --eks-cluster")
		}
		if env.Auth == cliconfig.AuthLocal || env.ClusterID == "" {
			return fmt.Errorf("environment %s has no IAM cluster binding (cluster id and STS endpoint): Kubernetes accepts only IAM identity tokens; configure it with cortex env configure", env.Name)
		}
		if _, err := identity.NormalizeAudience(cluster.Server); err != nil {
			return fmt.Errorf("--server: %v (identity tokens are bound to scheme://host:port)", err)
		}
	}
	exe, err := o.Executable()
	if err != nil {
		return fmt.Errorf("find the cortex binary: %w", err)
	}
	name := "cortex-" + env.Name
	exec := &clientcmdapi.ExecConfig{
		APIVersion:         token.APIVersion,
		Command:            exe,
		Args:               args,
		ProvideClusterInfo: true, // the token's audience is the server kubectl dials
		InteractiveMode:    clientcmdapi.NeverExecInteractiveMode,
	}
	if dir := o.Getenv(cliconfig.DirEnv); dir != "" {
		exec.Env = append(exec.Env, clientcmdapi.ExecEnvVar{Name: cliconfig.DirEnv, Value: dir})
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = cluster
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Exec: exec}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if o.Output == "" {
		_, err = o.IO.Out.Write(data)
		return err
	}
	if err := fsutil.WriteFileAtomic(o.Output, data); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.ErrOut, "wrote %s (context %s): KUBECONFIG=%s kubectl get pods\n", o.Output, name, o.Output)
	return nil
}

// cluster is the API server's URL and CA, from the flags or an existing kubeconfig.
func (o *Options) cluster() (*clientcmdapi.Cluster, error) {
	c := clientcmdapi.NewCluster()
	if o.FromKubeconfig != "" {
		if o.CAFile != "" {
			return nil, errors.New("give --ca-file or --from-kubeconfig, not both")
		}
		kc, err := clientcmd.LoadFromFile(o.FromKubeconfig)
		if err != nil {
			return nil, err
		}
		ctxName := o.Context
		if ctxName == "" {
			ctxName = kc.CurrentContext
		}
		kctx, ok := kc.Contexts[ctxName]
		if !ok {
			return nil, fmt.Errorf("%s has no context %q", o.FromKubeconfig, ctxName)
		}
		src, ok := kc.Clusters[kctx.Cluster]
		if !ok {
			return nil, fmt.Errorf("%s: context %s names a missing cluster %q", o.FromKubeconfig, ctxName, kctx.Cluster)
		}
		c.Server, c.CertificateAuthorityData, c.TLSServerName = src.Server, src.CertificateAuthorityData, src.TLSServerName
		if len(c.CertificateAuthorityData) == 0 && src.CertificateAuthority != "" {
			if c.CertificateAuthorityData, err = os.ReadFile(src.CertificateAuthority); err != nil {
				return nil, err
			}
		}
		if src.InsecureSkipTLSVerify {
			return nil, fmt.Errorf("%s: cluster %s skips TLS verification; an identity token is never sent to an unverified server", o.FromKubeconfig, kctx.Cluster)
		}
		if o.Server != "" {
			c.Server = o.Server
		}
	} else {
		c.Server = o.Server
		if o.CAFile != "" {
			data, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, err
			}
			c.CertificateAuthorityData = data
		}
	}
	if c.Server == "" {
		return nil, errors.New("no API server: pass --server or --from-kubeconfig")
	}
	return c, nil
}

// describeEKS is the EKS cluster's endpoint and CA, from DescribeCluster. It fails closed: no
// kubeconfig for a cluster without an HTTPS endpoint or without a PEM CA to verify it by.
func (o *Options) describeEKS(ctx context.Context, env *cliconfig.Environment, name, region string) (*clientcmdapi.Cluster, error) {
	cfg, err := o.AWSConfig(ctx, env)
	if err != nil {
		return nil, err
	}
	cfg.Region = region
	out, err := eks.NewFromConfig(cfg).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("describe EKS cluster %s in %s: %w", name, region, err)
	}
	c := out.Cluster
	endpoint := aws.ToString(c.Endpoint)
	if endpoint == "" {
		return nil, fmt.Errorf("EKS cluster %s is %s and has no endpoint yet: try again when it is ACTIVE", name, c.Status)
	}
	if !strings.HasPrefix(endpoint, "https://") {
		return nil, fmt.Errorf("EKS cluster %s: endpoint %q is not https: refusing to send tokens to it", name, endpoint)
	}
	var ca []byte
	if c.CertificateAuthority != nil {
		ca, err = base64.StdEncoding.DecodeString(aws.ToString(c.CertificateAuthority.Data))
		if err != nil {
			return nil, fmt.Errorf("EKS cluster %s: certificate authority data is not base64: %v", name, err)
		}
	}
	// Without CA data kubectl would trust the system's roots for this server: refuse. (Data that
	// is not a certificate makes kubectl fail on its own, closed; moto's fake CA is such data.)
	if len(ca) == 0 {
		return nil, fmt.Errorf("EKS cluster %s has no certificate authority: refusing to write a kubeconfig that trusts any CA for its API server", name)
	}
	k := clientcmdapi.NewCluster()
	k.Server, k.CertificateAuthorityData = endpoint, ca
	return k, nil
}

// getenv is the factory's view of the process environment (tests replace it).
func getenv(f *cmdutil.Factory) func(string) string {
	if f.Getenv != nil {
		return f.Getenv
	}
	return os.Getenv
}
