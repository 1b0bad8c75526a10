// Package kubecluster is `cortex cluster up|info|down --provider kubernetes` and `cortex cluster
// manifests`: installing cortex into any Kubernetes cluster with the objects of
// internal/kube/install, applied with server-side apply or printed as YAML.
package kubecluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/confirm"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// apiImageUsage is the help of --api-image (cluster up and cluster manifests).
const apiImageUsage = "the image of python and command APIs (default: --image, which has no Python; python handlers need the " +
	"runtime image that scripts/build-images.sh names cortex-python-runtime:<version>); container APIs run their own image"

// Provider is the name of this provider (--provider kubernetes, and environments' provider).
const Provider = "kubernetes"

// Target is where cortex is installed: the kubeconfig, its context and the operator's namespace.
type Target struct {
	Kubeconfig string
	Context    string
	Namespace  string
	// NewClient makes the Kubernetes client (a seam for tests; default: from the kubeconfig).
	NewClient func(kubeconfig, context string) (kubernetes.Interface, error)
}

func (t *Target) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&t.Kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, else ~/.kube/config)")
	cmd.Flags().StringVar(&t.Context, "context", "", "kubeconfig context (default: its current context)")
	cmd.Flags().StringVar(&t.Namespace, "namespace", install.DefaultNamespace, "namespace of the operator; the APIs run in <namespace>-apis")
}

func (t *Target) client() (kubernetes.Interface, error) {
	// Both namespaces must be valid names (the APIs' is <namespace>-apis).
	for _, ns := range []string{t.Namespace, t.apisNamespace()} {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("invalid --namespace %q: %s", t.Namespace, errs[0])
		}
	}
	if t.NewClient != nil {
		return t.NewClient(t.Kubeconfig, t.Context)
	}
	return NewClient(t.Kubeconfig, t.Context)
}

func (t *Target) apisNamespace() string { return t.Namespace + "-apis" }

// NewClient loads a kubeconfig the way kubectl does (explicit file, else $KUBECONFIG, else
// ~/.kube/config) with an optional context.
func NewClient(kubeconfig, kubeContext string) (kubernetes.Interface, error) {
	cfg, err := restConfig(kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "cortex"
	return kubernetes.NewForConfig(cfg)
}

func restConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

// apiServerURL is the API server's URL in the kubeconfig, as kubectl dials it: the audience of
// the identity tokens the IAM webhook accepts (normalized by install.NewWebhook).
func (t *Target) apiServerURL() (string, error) {
	cfg, err := restConfig(t.Kubeconfig, t.Context)
	if err != nil {
		return "", err
	}
	return cfg.Host, nil
}

// UpOptions are the dependencies and flags of `cortex cluster up --provider kubernetes`.
type UpOptions struct {
	IO      *cmdutil.IOStreams
	Config  func() (*cliconfig.Config, error)
	EnvName func() string
	Target

	Image       string
	APIImage    string
	ServiceType string
	AccountID   string
	CreatorARN  string
	Region      string
	IAMWebhook  bool
	APIServer   string
	// AuthMode and AccountRole are the operator's authorization mode (authFlags); empty: as
	// installed before, else the operator's defaults (account, deploy).
	AuthMode    string
	AccountRole string
	// STSTestEndpoint, TESTS ONLY: the operator verifies tokens against this STS emulator, and
	// the environment signs them for it.
	STSTestEndpoint string
	WaitTimeout     time.Duration
	PollInterval    time.Duration

	ctx context.Context
}

// NewCmdUp returns `cortex cluster up --provider kubernetes`.
func NewCmdUp(f *cmdutil.Factory, runF func(*UpOptions) error) *cobra.Command {
	o := &UpOptions{IO: f.IO, Config: f.Config, EnvName: func() string { return f.EnvName }}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Install cortex into a Kubernetes cluster, or upgrade it in place",
		Long: `Install cortex into the Kubernetes cluster of a kubeconfig: the operator (namespace --namespace)
with its ServiceAccount, a Role in <namespace>-apis with exactly the verbs it uses, the Roles of the
cortex access groups, its TLS material in Secrets, and its Services. Everything is written with
server-side apply: running it again upgrades in place. It waits until the operator Deployment is
Available, then writes an environment (named after the namespace, or --env) with the operator's
address and the pinned CA. The same objects as YAML: cortex cluster manifests.

--iam-webhook (self-managed clusters) also makes a client CA and a client certificate for the API
server, and starts the operator with its TokenReview webhook for the kubeconfig's API server URL;
cortex cluster webhook-config then prints the file kube-apiserver needs. Once on, it stays on when
the command is run again without the flag (cluster down removes it).

--auth-mode says who may use the cluster. account (the default): every IAM identity of
--account-id gets --account-role (deploy unless read), besides the creator and access rules.
rules: only the creator (--creator-arn, admin) and the principals of access rules (cortex cluster
access grant); use it to lock a cluster down to the identities granted. A re-run without the flags
keeps the mode installed before.`,
		Example: `  cortex cluster up --provider kubernetes --image registry.example.com/cortex:0.1
  cortex cluster up --provider kubernetes --context prod --namespace cortex --service-type NodePort --image ...
  cortex cluster up --provider kubernetes --image registry.example.com/cortex:0.1 --api-image registry.example.com/cortex-python-runtime:0.1
  cortex cluster up --provider kubernetes --image ... --iam-webhook && cortex cluster webhook-config --output cortex-webhook.kubeconfig
  cortex cluster up --provider kubernetes --image ... --account-id 123456789012 --creator-arn arn:aws:iam::123456789012:role/admin --auth-mode rules
  cortex cluster up --provider kubernetes --image ... --account-id 123456789012 --auth-mode account --account-role read`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.ctx = c.Context()
			if runF != nil {
				return runF(o)
			}
			return upRun(o)
		},
	}
	o.Target.addFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.Image, "image", "", "the cortex image the operator runs (required)")
	fl.StringVar(&o.APIImage, "api-image", "", apiImageUsage)
	fl.StringVar(&o.ServiceType, "service-type", string(corev1.ServiceTypeLoadBalancer), "type of the operator and gateway Services: LoadBalancer, NodePort or ClusterIP")
	fl.StringVar(&o.AccountID, "account-id", "", "the AWS account whose identities may use the cluster")
	fl.StringVar(&o.CreatorARN, "creator-arn", "", "IAM ARN that is always admin")
	fl.StringVar(&o.Region, "region", "", "AWS region clients sign their STS requests for (default us-east-1)")
	fl.BoolVar(&o.IAMWebhook, "iam-webhook", false, "turn on the operator's TokenReview webhook for this cluster's API server (kubectl with IAM identities on a self-managed cluster; then: cortex cluster webhook-config)")
	fl.StringVar(&o.APIServer, "api-server-address", "", "host:port at which the operator's pods reach the Kubernetes API, for clusters whose kubernetes Service does not lead there (no Service proxy)")
	authFlags(cmd, &o.AuthMode, &o.AccountRole, "default: as installed before, else account")
	fl.StringVar(&o.STSTestEndpoint, "sts-test-endpoint", "", "TESTS ONLY: the operator verifies identity tokens against this STS emulator URL (e.g. moto) instead of AWS, and the environment signs them for it")
	_ = fl.MarkHidden("sts-test-endpoint") // tests only: not in --help
	fl.DurationVar(&o.WaitTimeout, "wait-timeout", 5*time.Minute, "longest to wait for the operator to be available (and a load balancer's address)")
	fl.DurationVar(&o.PollInterval, "poll-interval", time.Second, "how often to check the operator Deployment")
	_ = fl.MarkHidden("poll-interval")
	_ = cmd.RegisterFlagCompletionFunc("service-type", cmdutil.FixedValues("LoadBalancer", "NodePort", "ClusterIP"))
	return cmd
}

func newClusterID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// serviceEndpoints are the operator's and gateway's addresses as the Services have them now.
type serviceEndpoints struct {
	names []string // every host clients may dial: the server certificate covers them
	// operators and gateways are every URL that reaches each (its --public-endpoint or
	// --apis-public-endpoint flags). For NodePort Services every node's address: they do not
	// change when a pod moves, so a pod's placement never changes what is applied.
	operators, gateways []string
	// operator and gateway are the URL to use now: for NodePort a node that runs a ready replica
	// (the Services are externalTrafficPolicy Local: other nodes drop the connection).
	operator, gateway string
	how               string // how the operator is reached
}

// applied is what an install signs for and passes to the operator.
func (e serviceEndpoints) applied() string {
	return fmt.Sprint(e.names, e.operators, e.gateways)
}

// endpoints reads the addresses the operator and gateway Services have now: the names the
// certificate must cover and the operator's and gateway's public endpoints (the URLs clients dial).
func endpoints(ctx context.Context, c kubernetes.Interface, ns string) (serviceEndpoints, error) {
	var e serviceEndpoints
	for _, svc := range []string{install.OperatorName, install.GatewayName} {
		a, ok, err := install.ServiceAddress(ctx, c, ns, svc)
		if err != nil || !ok {
			if err != nil && !isNotFound(err) {
				return serviceEndpoints{}, err
			}
			continue
		}
		e.names = append(e.names, a.Hosts...)
		url := func(host string) string { return "https://" + net.JoinHostPort(host, strconv.Itoa(int(a.Port))) }
		var urls []string
		for _, h := range a.Hosts {
			urls = append(urls, url(h))
		}
		if svc == install.OperatorName {
			e.operator, e.operators, e.how = url(a.Host), urls, a.How
		} else {
			e.gateway, e.gateways = url(a.Host), urls
		}
	}
	return e, nil
}

// authFlags adds --auth-mode and --account-role to cmd.
func authFlags(cmd *cobra.Command, mode, role *string, def string) {
	cmd.Flags().StringVar(mode, "auth-mode", "", "who may use the cluster: account (every IAM identity of --account-id gets --account-role) or rules (only the creator and principals of access rules) ("+def+")")
	cmd.Flags().StringVar(role, "account-role", "", "with --auth-mode account: the role of every identity of the account, read or deploy (default deploy)")
	_ = cmd.RegisterFlagCompletionFunc("auth-mode", cmdutil.FixedValues("account", "rules"))
	_ = cmd.RegisterFlagCompletionFunc("account-role", cmdutil.FixedValues("read", "deploy"))
}

// authFrom is the mode of the flags, validated.
func authFrom(mode, role string) (install.Auth, error) {
	a := install.Auth{Mode: mode, AccountRole: role}
	if err := a.Validate(); err != nil {
		return a, fmt.Errorf("--auth-mode/--account-role: %w", err)
	}
	return a, nil
}

// authSummary is the one line that says who may use the cluster.
func authSummary(a install.Auth, accountID string) string {
	e := a.Effective()
	if e.Mode == "rules" {
		return "auth mode rules: only the creator and the principals of access rules may use the cluster (cortex cluster access grant)"
	}
	if accountID == "" {
		return "auth mode account, without an account id: only the creator and the principals of access rules may use the cluster"
	}
	return fmt.Sprintf("auth mode account: every IAM identity of account %s gets role %s, granted or not (lock it down: --auth-mode rules)", accountID, e.AccountRole)
}

func upRun(o *UpOptions) error {
	st, err := install.ParseServiceType(o.ServiceType)
	if err != nil {
		return err
	}
	auth, err := authFrom(o.AuthMode, o.AccountRole)
	if err != nil {
		return err
	}
	if o.Image == "" {
		return errors.New("--image is required: the cortex image the operator runs")
	}
	region := o.Region
	if region == "" {
		region = "us-east-1"
	}
	sts, err := identity.RegionalHost(identity.PartitionAWS, region)
	if err != nil {
		return fmt.Errorf("--region: %w", err)
	}
	if o.STSTestEndpoint != "" {
		// The one host the operator then accepts is the one the environment signs for.
		hosts, err := identity.TestEndpointHosts(o.STSTestEndpoint, region)
		if err != nil {
			return fmt.Errorf("--sts-test-endpoint: %w", err)
		}
		for _, e := range hosts {
			sts = e
		}
		fmt.Fprintf(o.IO.ErrOut, "warning: the operator will verify tokens against a TEST STS endpoint (%s), not AWS\n", o.STSTestEndpoint)
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(o.ctx, o.WaitTimeout)
	defer cancel()
	ns := o.Namespace
	progress := func(line string) { fmt.Fprintln(o.IO.ErrOut, "  "+line) }

	ex, err := install.LoadExisting(ctx, c, ns)
	if err != nil {
		return err
	}
	clusterID, prev, prevWebhook := newClusterID(), (*install.TLS)(nil), (*install.Webhook)(nil)
	if ex != nil {
		prev, prevWebhook = ex.TLS, ex.Webhook
		if ex.ClusterID != "" {
			clusterID = ex.ClusterID
		}
		fmt.Fprintf(o.IO.ErrOut, "upgrading cortex in namespace %s (cluster id %s)\n", ns, clusterID)
		// A re-run without the flags keeps the mode: a cluster locked down to rules is not opened
		// to its whole account by an upgrade that did not ask for it.
		if o.AuthMode == "" {
			auth.Mode = ex.Auth.Mode
			if o.AccountRole == "" {
				auth.AccountRole = ex.Auth.AccountRole
			}
			if auth, err = authFrom(auth.Mode, auth.AccountRole); err != nil {
				return fmt.Errorf("with the auth mode installed before (%s): %w", ex.Auth.Effective().Mode, err)
			}
		}
	} else {
		fmt.Fprintf(o.IO.ErrOut, "installing cortex in namespace %s\n", ns)
	}
	var webhook *install.Webhook
	if o.IAMWebhook || prevWebhook != nil {
		server, err := o.apiServerURL()
		if err != nil {
			return err
		}
		if webhook, err = install.NewWebhook(server, prevWebhook); err != nil {
			return err
		}
		if !o.IAMWebhook {
			fmt.Fprintf(o.IO.ErrOut, "the IAM webhook installed before stays on (API server %s)\n", webhook.APIServer)
		}
	}
	apply := func(e serviceEndpoints, operatorIP string) (*install.TLS, error) {
		tlsm, err := install.NewTLS(ns, e.names, prev)
		if err != nil {
			return nil, err
		}
		opts := install.Options{Namespace: ns, APIsNamespace: o.apisNamespace(), Image: o.Image, APIImage: o.APIImage, ServiceType: st,
			ClusterID: clusterID, AccountID: o.AccountID, Region: o.Region, CreatorARN: o.CreatorARN, TLS: tlsm, Webhook: webhook,
			APIServer: o.APIServer, STSTestEndpoint: o.STSTestEndpoint, OperatorServiceIP: operatorIP, Auth: auth}
		opts.PublicEndpoints, opts.GatewayPublicEndpoints = e.operators, e.gateways
		objs, err := install.Build(opts)
		if err != nil {
			return nil, err
		}
		return tlsm, install.Apply(ctx, c, objs, progress)
	}
	// A re-install knows the Services' addresses already: they go into the first apply.
	eps, err := endpoints(ctx, c, ns)
	if err != nil {
		return err
	}
	operatorIP, err := install.OperatorServiceIP(ctx, c, ns)
	if err != nil {
		return err
	}
	tlsm, err := apply(eps, operatorIP)
	if err != nil {
		return err
	}
	// The addresses after the apply: a new Service's exists only now (a load balancer's, once the
	// cloud made it), and a changed --service-type changes it. When it differs from what was
	// applied, sign for it and tell the operator, then wait for that version to be available.
	waiting := false
	for {
		now, err := endpoints(ctx, c, ns)
		if err != nil {
			return err
		}
		nowIP, err := install.OperatorServiceIP(ctx, c, ns)
		if err != nil {
			return err
		}
		if now.operator != "" {
			if now.applied() != eps.applied() || nowIP != operatorIP {
				operatorIP, prev = nowIP, tlsm
				if tlsm, err = apply(now, operatorIP); err != nil {
					return err
				}
			}
			eps = now
			break
		}
		if !waiting {
			fmt.Fprintf(o.IO.ErrOut, "waiting for the address of Service %s/%s\n", ns, install.OperatorName)
			waiting = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the Service %s/%s has no address after %s (a LoadBalancer needs a load-balancer controller; --service-type NodePort or ClusterIP do not); run the same command again once it has one", ns, install.OperatorName, o.WaitTimeout)
		case <-time.After(o.PollInterval):
		}
	}
	fmt.Fprintf(o.IO.ErrOut, "waiting for Deployments %s/%s and %s to be available (at most %s)\n", ns, install.OperatorName, install.GatewayName, o.WaitTimeout)
	if err := install.WaitAvailable(ctx, c, ns, o.PollInterval); err != nil {
		return err
	}
	// Where the operator runs now that it is available: for NodePort the node with its ready pod
	// (one of the applied endpoints, which cover every node).
	endpoint, how := eps.operator, eps.how
	if now, err := endpoints(ctx, c, ns); err == nil && slices.Contains(eps.operators, now.operator) {
		endpoint = now.operator
	}

	cfg, err := o.Config()
	if err != nil {
		return err
	}
	name := o.EnvName()
	if name == "" {
		name = ns
	}
	if err := cliconfig.ValidateEnvName(name); err != nil {
		return err
	}
	env := cliconfig.Environment{}
	if p, err := cfg.Get(name); err == nil && p.Name == name {
		env = *p // keep the user's aws_profile
	}
	env.Name, env.Provider, env.ClusterName = name, Provider, ns
	env.OperatorEndpoint, env.CACert, env.ClusterID = endpoint, string(tlsm.CACert), clusterID
	env.Auth, env.STSHost, env.STSRegion, env.STSScheme, env.Region = cliconfig.AuthAWS, sts.Host, sts.Region, sts.Scheme, region
	cfg.Put(env)
	if err := cfg.Save(); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "cortex is running in namespace %s (APIs in %s)\noperator: %s (%s)\nenvironment %q is configured with the cluster's CA\n",
		ns, o.apisNamespace(), endpoint, how, name)
	if how == "cluster IP" {
		fmt.Fprintf(o.IO.Out, "the cluster IP is reachable only from inside the cluster (e.g. through kubectl port-forward)\n")
	}
	fmt.Fprintln(o.IO.Out, authSummary(auth, o.AccountID))
	if webhook != nil {
		fmt.Fprintf(o.IO.Out, "the IAM webhook answers the API server %s: cortex cluster webhook-config prints what kube-apiserver needs\n", webhook.APIServer)
	}
	return nil
}

// InfoOptions are the dependencies and flags of `cortex cluster info --provider kubernetes`.
type InfoOptions struct {
	IO *cmdutil.IOStreams
	Target
	Format *string

	ctx context.Context
}

// NewCmdInfo returns `cortex cluster info --provider kubernetes`.
func NewCmdInfo(f *cmdutil.Factory, runF func(*InfoOptions) error) *cobra.Command {
	o := &InfoOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show what cortex installed in a Kubernetes cluster",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.ctx = c.Context()
			if runF != nil {
				return runF(o)
			}
			return infoRun(o)
		},
	}
	o.Target.addFlags(cmd)
	o.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

type infoObject struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

type infoResult struct {
	Namespace     string       `json:"namespace"`
	APIsNamespace string       `json:"apis_namespace"`
	Operator      string       `json:"operator"`
	Endpoint      string       `json:"endpoint,omitempty"`
	Gateway       string       `json:"gateway"`
	GatewayURL    string       `json:"gateway_endpoint,omitempty"`
	ClusterID     string       `json:"cluster_id,omitempty"`
	Image         string       `json:"image,omitempty"`
	AuthMode      string       `json:"auth_mode,omitempty"`
	AccountRole   string       `json:"account_role,omitempty"`
	Objects       []infoObject `json:"objects"`
}

func infoRun(o *InfoOptions) error {
	if err := cmdutil.ValidateFormat(*o.Format); err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	ctx := o.ctx
	items, err := install.Installed(ctx, c, o.Namespace, o.apisNamespace())
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("cortex is not installed in namespace %s", o.Namespace)}
	}
	res := infoResult{Namespace: o.Namespace, APIsNamespace: o.apisNamespace(), Operator: "not installed", Gateway: "not installed", Objects: []infoObject{}}
	for _, it := range items {
		res.Objects = append(res.Objects, infoObject{it.Kind, it.Namespace, it.Name})
	}
	d, err := c.AppsV1().Deployments(o.Namespace).Get(ctx, install.OperatorName, metav1.GetOptions{})
	if err == nil {
		res.Operator = deploymentState(d)
		res.ClusterID = d.Annotations[install.AnnotationClusterID]
		if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
			res.Image = cs[0].Image
		}
		a := install.AuthOf(d).Effective()
		res.AuthMode, res.AccountRole = a.Mode, a.AccountRole
	}
	if g, err := c.AppsV1().Deployments(o.Namespace).Get(ctx, install.GatewayName, metav1.GetOptions{}); err == nil {
		res.Gateway = deploymentState(g)
	}
	if e, err := endpoints(ctx, c, o.Namespace); err == nil && e.operator != "" {
		res.Endpoint = e.operator + " (" + e.how + ")"
		res.GatewayURL = e.gateway
	}
	return cmdutil.Print(o.IO.Out, *o.Format, res, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "namespace\t%s (APIs in %s)\n", res.Namespace, res.APIsNamespace)
		fmt.Fprintf(tw, "operator\t%s\n", res.Operator)
		if res.Endpoint != "" {
			fmt.Fprintf(tw, "endpoint\t%s\n", res.Endpoint)
		}
		fmt.Fprintf(tw, "gateway\t%s\n", res.Gateway)
		if res.GatewayURL != "" {
			fmt.Fprintf(tw, "gateway endpoint\t%s\n", res.GatewayURL)
		}
		if res.AuthMode != "" {
			fmt.Fprintf(tw, "auth mode\t%s\n", install.Auth{Mode: res.AuthMode, AccountRole: res.AccountRole})
		}
		fmt.Fprintf(tw, "image\t%s\ncluster id\t%s\n\nKIND\tNAMESPACE\tNAME\n", res.Image, res.ClusterID)
		for _, ob := range res.Objects {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", ob.Kind, ob.Namespace, ob.Name)
		}
	})
}

func deploymentState(d *appsv1.Deployment) string {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			if c.Status == corev1.ConditionTrue {
				return fmt.Sprintf("available (%d/%d ready)", d.Status.ReadyReplicas, d.Status.Replicas)
			}
			return fmt.Sprintf("not available: %s", c.Message)
		}
	}
	return "starting"
}

// DownOptions are the dependencies and flags of `cortex cluster down --provider kubernetes`.
type DownOptions struct {
	IO       *cmdutil.IOStreams
	Config   func() (*cliconfig.Config, error)
	Prompter func() cmdutil.Prompter
	Target
	Yes bool

	ctx context.Context
}

// NewCmdDown returns `cortex cluster down --provider kubernetes`.
func NewCmdDown(f *cmdutil.Factory, runF func(*DownOptions) error) *cobra.Command {
	o := &DownOptions{IO: f.IO, Config: f.Config, Prompter: f.Prompt}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove what cortex installed in a Kubernetes cluster",
		Long: `Remove every object labelled app.kubernetes.io/managed-by=cortex from the operator's namespace and
<namespace>-apis (the install and the APIs it ran), each by name and UID: other objects in those
namespaces are not touched, and the namespaces themselves are kept. The environments of this
install are forgotten. It asks first (--yes in scripts).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.ctx = c.Context()
			if runF != nil {
				return runF(o)
			}
			return downRun(o)
		},
	}
	o.Target.addFlags(cmd)
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

type promptConfirmer struct {
	ctx context.Context
	p   cmdutil.Prompter
}

func (c promptConfirmer) Confirm(q string) (bool, error) { return c.p.Confirm(c.ctx, q) }

func downRun(o *DownOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	items, err := install.Installed(o.ctx, c, o.Namespace, o.apisNamespace())
	if err != nil {
		return err
	}
	if len(items) > 0 {
		var cf confirm.Confirmer
		if o.IO.CanPrompt() {
			cf = promptConfirmer{o.ctx, o.Prompter()}
		}
		q := fmt.Sprintf("delete the %d cortex objects in namespaces %s and %s (the operator and every API)?", len(items), o.Namespace, o.apisNamespace())
		if err := confirm.Ask(cf, o.Yes, q); err != nil {
			if errors.Is(err, confirm.ErrDeclined) {
				return &cmdutil.ExitError{Code: 1, Err: err}
			}
			return err
		}
	}
	progress := func(line string) { fmt.Fprintln(o.IO.ErrOut, "  "+line) }
	if err := install.Uninstall(o.ctx, c, progress, o.Namespace, o.apisNamespace()); err != nil {
		return err
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	var forgot []string
	for _, e := range slices.Clone(cfg.Environments) {
		if e.Provider == Provider && e.ClusterName == o.Namespace {
			cfg.Delete(e.Name)
			forgot = append(forgot, e.Name)
		}
	}
	if len(forgot) > 0 {
		if err := cfg.Save(); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.IO.Out, "cortex removed from namespaces %s and %s (the namespaces are kept)\n", o.Namespace, o.apisNamespace())
	for _, n := range forgot {
		fmt.Fprintf(o.IO.Out, "forgot environment %s\n", n)
	}
	return nil
}

// ManifestsOptions are the flags of `cortex cluster manifests`.
type ManifestsOptions struct {
	IO          *cmdutil.IOStreams
	Namespace   string
	Image       string
	APIImage    string
	ServiceType string
	AccountID   string
	CreatorARN  string
	Region      string
	AuthMode    string
	AccountRole string
	TLSNames    []string
}

// NewCmdManifests returns `cortex cluster manifests`.
func NewCmdManifests(f *cmdutil.Factory, runF func(*ManifestsOptions) error) *cobra.Command {
	o := &ManifestsOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "manifests",
		Short: "Print the Kubernetes objects of a cortex install as YAML (for GitOps)",
		Long: `Print, as one YAML stream, the objects cortex cluster up --provider kubernetes applies: the same
list, built by the same code. The output holds new TLS material, private keys included (the CA's
and the operator's): keep it out of plain version control (use sealed or encrypted secrets), or
apply it directly. The operator's public endpoint is not known before its Service has an address:
give its name with --tls-dns-name, and configure the environment by hand (docs/kubernetes.md).`,
		Example: `  cortex cluster manifests --image registry.example.com/cortex:0.1 | kubectl apply --server-side -f -
  cortex cluster manifests --image registry.example.com/cortex:0.1 --api-image registry.example.com/cortex-python-runtime:0.1 > cortex.yaml
  cortex cluster manifests --image registry.example.com/cortex:0.1 --account-id 123456789012 --creator-arn arn:aws:iam::123456789012:role/admin --auth-mode rules`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(o)
			}
			return manifestsRun(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Namespace, "namespace", install.DefaultNamespace, "namespace of the operator; the APIs run in <namespace>-apis")
	fl.StringVar(&o.Image, "image", "", "the cortex image the operator runs (required)")
	fl.StringVar(&o.APIImage, "api-image", "", apiImageUsage)
	fl.StringVar(&o.ServiceType, "service-type", string(corev1.ServiceTypeLoadBalancer), "type of the operator and gateway Services: LoadBalancer, NodePort or ClusterIP")
	fl.StringVar(&o.AccountID, "account-id", "", "the AWS account whose identities may use the cluster")
	fl.StringVar(&o.CreatorARN, "creator-arn", "", "IAM ARN that is always admin")
	fl.StringVar(&o.Region, "region", "", "AWS region clients sign their STS requests for (default us-east-1)")
	fl.StringSliceVar(&o.TLSNames, "tls-dns-name", nil, "extra DNS name or IP for the operator's certificate (repeatable)")
	authFlags(cmd, &o.AuthMode, &o.AccountRole, "default account")
	_ = cmd.RegisterFlagCompletionFunc("service-type", cmdutil.FixedValues("LoadBalancer", "NodePort", "ClusterIP"))
	return cmd
}

func manifestsRun(o *ManifestsOptions) error {
	st, err := install.ParseServiceType(o.ServiceType)
	if err != nil {
		return err
	}
	if o.Image == "" {
		return errors.New("--image is required: the cortex image the operator runs")
	}
	auth, err := authFrom(o.AuthMode, o.AccountRole)
	if err != nil {
		return err
	}
	tlsm, err := install.NewTLS(o.Namespace, o.TLSNames, nil)
	if err != nil {
		return err
	}
	objs, err := install.Build(install.Options{Namespace: o.Namespace, Image: o.Image, APIImage: o.APIImage, ServiceType: st, ClusterID: newClusterID(),
		AccountID: o.AccountID, CreatorARN: o.CreatorARN, Region: o.Region, TLS: tlsm, Auth: auth})
	if err != nil {
		return err
	}
	out, err := install.YAML(objs)
	if err != nil {
		return err
	}
	if _, err := o.IO.Out.Write(out); err != nil {
		return err
	}
	fmt.Fprintln(o.IO.ErrOut, "note: the output holds private keys (Secrets cortex-tls and cortex-ca); do not commit it unencrypted")
	return nil
}

func isNotFound(err error) bool {
	var st interface{ Status() metav1.Status }
	if errors.As(err, &st) {
		return st.Status().Code == 404
	}
	return false
}
