// Package awscluster is the AWS provider of `cortex cluster`: a thin face over clusterconfig,
// credentials, iampolicy and provision/aws.
package awscluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/awssdk"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/clusterconfig"
	confirmpkg "github.com/cortexlabs-go/cortex/internal/confirm"
	"github.com/cortexlabs-go/cortex/internal/credentials"
	"github.com/cortexlabs-go/cortex/internal/iampolicy"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/kubeaccess"
	provaws "github.com/cortexlabs-go/cortex/internal/provision/aws"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
)

// Deps are what every AWS cluster command takes from the factory; tests replace any of them.
type Deps struct {
	IO        *cmdutil.IOStreams
	Prompter  cmdutil.Prompter
	ConfigDir func() (string, error)
	Config    func() (*cliconfig.Config, error)
	Now       func() time.Time
	// EnvName is the global --env flag (read when the command runs).
	EnvName func() string
	// NewKubeClient makes the EKS cluster's Kubernetes client (nil: provaws.NewEKSClient, an EKS
	// token of the spin-up credentials). Tests resolve the EKS endpoint to a local API server.
	NewKubeClient provaws.KubeClientFunc
	// OperatorRules reaches the cluster's operator for cluster.yaml's access (nil: operatorRules,
	// its load balancer). Tests reach an operator in-process.
	OperatorRules OperatorRulesFunc

	ctx context.Context
}

func depsOf(f *cmdutil.Factory) Deps {
	return Deps{IO: f.IO, Prompter: f.Prompt(), ConfigDir: f.ConfigDir, Config: f.Config, Now: f.Now,
		EnvName: func() string { return f.EnvName }}
}

// common are the flags every AWS cluster command shares.
type common struct {
	configPath string
	name       string
	region     string
	creds      credentials.Flags
	yes        bool
}

func (o *common) addConfigFlag(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.configPath, "config", "c", "", "`cluster.yaml` of the AWS cluster (may also be given as the argument)")
}

func (o *common) addNameFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.name, "name", "", "cluster name (instead of a cluster.yaml)")
	cmd.Flags().StringVar(&o.region, "region", "", "AWS region of the cluster (instead of a cluster.yaml; default $AWS_REGION, else $AWS_DEFAULT_REGION)")
}

func (o *common) addCredFlags(cmd *cobra.Command, cluster bool) {
	fl := cmd.Flags()
	fl.StringVar(&o.creds.AWSKey, "aws-key", "", "AWS access key id used to create/manage the cluster")
	fl.StringVar(&o.creds.AWSSecret, "aws-secret", "", "AWS secret access key used to create/manage the cluster (prefer the environment or a profile: flags are visible to other local users)")
	if cluster {
		fl.StringVar(&o.creds.ClusterAWSKey, "cluster-aws-key", "", "AWS access key id the operator uses, installed as a Kubernetes Secret (default: none; the operator gets an IAM role of its own)")
		fl.StringVar(&o.creds.ClusterAWSSecret, "cluster-aws-secret", "", "AWS secret access key of --cluster-aws-key (prefer CLUSTER_AWS_SECRET_ACCESS_KEY: flags are visible to other local users)")
	}
}

// loadConfig reads cluster.yaml from -c or the argument (one of them, not both).
func (o *common) loadConfig(args []string) (*clusterconfig.Config, error) {
	path := o.configPath
	if len(args) > 1 {
		return nil, fmt.Errorf("expected at most one cluster.yaml argument, got %d", len(args))
	}
	if len(args) == 1 {
		if path != "" && path != args[0] {
			return nil, fmt.Errorf("cluster config given twice (%s and -c %s): use one", args[0], path)
		}
		path = args[0]
	}
	if path == "" {
		return nil, errors.New("no cluster config: pass cluster.yaml (or -c cluster.yaml); `cortex cluster example-config` prints one")
	}
	return clusterconfig.Load(path)
}

// target finds the cluster's name and region: from a cluster.yaml, or --name/--region.
func (o *common) target(args []string) (name, region string, cfg *clusterconfig.Config, err error) {
	if o.configPath != "" || len(args) > 0 {
		if o.name != "" || o.region != "" {
			return "", "", nil, errors.New("give either a cluster.yaml or --name/--region, not both")
		}
		cfg, err = o.loadConfig(args)
		if err != nil {
			return "", "", nil, err
		}
		return cfg.ClusterName, cfg.Region, cfg, nil
	}
	if o.name != "" && o.region == "" {
		o.region, _ = clusterconfig.RegionFromEnv(os.Getenv)
	}
	if o.name == "" || o.region == "" {
		return "", "", nil, errors.New("no cluster given: pass cluster.yaml (or -c cluster.yaml), or --name and --region (or $AWS_REGION)")
	}
	c := &clusterconfig.Config{ClusterName: o.name, Region: o.region}
	c.ApplyDefaults()
	var bad []string
	for _, line := range strings.Split(errString(c.Validate()), "\n") {
		if strings.HasPrefix(line, "cluster_name:") {
			bad = append(bad, "--name"+strings.TrimPrefix(line, "cluster_name"))
		}
		if strings.HasPrefix(line, "region:") {
			bad = append(bad, "--region"+strings.TrimPrefix(line, "region"))
		}
	}
	if len(bad) > 0 {
		return "", "", nil, errors.New(strings.Join(bad, "\n"))
	}
	return o.name, o.region, nil, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// session is the resolved credentials and SDK config of one command.
type session struct {
	spinUp, cluster *credentials.Creds
	// operatorCreds are the cluster credentials the operator's Secret gets (nil: its own role).
	operatorCreds *aws.Credentials
	cfg           aws.Config
	cache         *credentials.Cache
	configDir     string
	// testOnly are cluster up's hidden TESTS ONLY flags (empty otherwise).
	testOnly testOnlyFlags
}

// testOnlyFlags, TESTS ONLY and hidden from --help, let a test install onto a node that is not
// on AWS (test/e2e TestEKSRealNode): the operator verifies identity tokens against an STS emulator
// (moto) and the environment signs for it, and the operator's pods reach the Kubernetes API at
// host:port (no Service proxy on the test node): the same flags as cluster up --provider
// kubernetes. --aws-test-endpoint sends the operator's own AWS SDK calls (EKS, IAM) to an
// emulator. None is read from cluster.yaml or the environment: only these flags set them.
type testOnlyFlags struct {
	stsEndpoint string
	apiServer   string
	// awsEndpoint is the operator container's AWS_ENDPOINT_URL: its EKS and IAM calls (a
	// deploy's pod identity cleanup) go to an emulator the test node reaches.
	awsEndpoint string
}

func (f *testOnlyFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.stsEndpoint, "sts-test-endpoint", "", "TESTS ONLY: the operator verifies identity tokens against this STS emulator URL (e.g. moto) instead of AWS, and the environment signs them for it")
	fl.StringVar(&f.apiServer, "api-server-address", "", "TESTS ONLY: host:port at which the operator's pods reach the Kubernetes API (a test node without a Service proxy)")
	fl.StringVar(&f.awsEndpoint, "aws-test-endpoint", "", "TESTS ONLY: the operator's AWS SDK calls (EKS, IAM) go to this AWS emulator URL (its AWS_ENDPOINT_URL) instead of AWS")
	_ = fl.MarkHidden("sts-test-endpoint")
	_ = fl.MarkHidden("api-server-address")
	_ = fl.MarkHidden("aws-test-endpoint")
}

// validate checks the flags before anything is created; sts is the STS endpoint the environment
// signs for (the emulator's when set, else the region's).
func (f *testOnlyFlags) validate(region string) (sts identity.STSEndpoint, err error) {
	sts = identity.STSEndpoint{Scheme: "https", Host: "sts." + region + ".amazonaws.com", Region: region}
	if f.stsEndpoint != "" {
		hosts, err := identity.TestEndpointHosts(f.stsEndpoint, region)
		if err != nil {
			return sts, fmt.Errorf("--sts-test-endpoint: %w", err)
		}
		for _, e := range hosts {
			sts = e
		}
	}
	if f.apiServer != "" {
		host, port, err := net.SplitHostPort(f.apiServer)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return sts, fmt.Errorf("invalid --api-server-address %q: want host:port", f.apiServer)
		}
	}
	if f.awsEndpoint != "" {
		if err := install.ValidateAWSTestEndpoint(f.awsEndpoint); err != nil {
			return sts, err
		}
	}
	return sts, nil
}

func openSession(ctx context.Context, d *Deps, o *common, name, region string) (*session, error) {
	dir, err := d.ConfigDir()
	if err != nil {
		return nil, err
	}
	cache := credentials.NewCache(dir)
	r := &credentials.Resolver{
		Flags: o.creds, Cache: cache, ClusterName: name, Region: region, Getenv: os.Getenv,
		SharedConfig: credentials.LoadSharedConfig,
		IsTerminal:   d.IO.CanPrompt(),
		Prompt:       func(label string, secret bool) (string, error) { return prompt(ctx, d, label, secret) },
		Warn:         func(s string) { fmt.Fprintln(d.IO.ErrOut, "warning:", s) },
	}
	spinUp, cluster, err := r.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(d.IO.ErrOut, "using AWS credentials from %s\n", spinUp.Describe())
	cfg, err := awssdk.LoadConfig(ctx, config.WithRegion(region), config.WithCredentialsProvider(spinUp.CredentialsProvider()))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return &session{spinUp: spinUp, cluster: cluster, cfg: cfg, cache: cache, configDir: dir}, nil
}

// prompt asks through the prompter (Ctrl-C ends it at once).
func prompt(ctx context.Context, d *Deps, label string, secret bool) (string, error) {
	if secret {
		return d.Prompter.Password(ctx, label)
	}
	return d.Prompter.Input(ctx, label)
}

// promptConfirmer asks through the prompter (Ctrl-C ends it at once).
type promptConfirmer struct{ d *Deps }

func (p promptConfirmer) Confirm(question string) (bool, error) {
	return p.d.Prompter.Confirm(p.d.ctx, question)
}

// confirmOr asks a yes/no question unless yes (--yes) is set; without a terminal it refuses with
// advice to pass --yes, and a "no" is exit code 1.
func confirmOr(d *Deps, yes bool, question string) error {
	var c confirmpkg.Confirmer
	if d.IO.CanPrompt() {
		c = promptConfirmer{d}
	}
	err := confirmpkg.Ask(c, yes, question)
	if errors.Is(err, confirmpkg.ErrDeclined) {
		return &cmdutil.ExitError{Code: 1, Err: err}
	}
	return err
}

func regionSourceText(src string) string {
	if src == clusterconfig.RegionFromDefault {
		return "the default"
	}
	return "$" + src
}

// progress prints provisioning events, one line each.
func progress(w io.Writer) func(provaws.Event) {
	return func(e provaws.Event) {
		switch e.Phase {
		case provaws.PhaseDone:
			fmt.Fprintf(w, "  ✓ %-16s %s (%s)\n", e.Step, e.Detail, e.Elapsed.Round(10*time.Millisecond))
		case provaws.PhaseFailed:
			fmt.Fprintf(w, "  ✗ %-16s %v\n", e.Step, e.Err)
		case provaws.PhaseWaiting:
			if e.Elapsed > 0 {
				fmt.Fprintf(w, "  … %-16s waiting for %s (%s so far)\n", e.Step, e.Detail, e.Elapsed.Round(time.Second))
			} else {
				fmt.Fprintf(w, "  … %-16s waiting for %s\n", e.Step, e.Detail)
			}
		case provaws.PhaseSkipped:
			fmt.Fprintf(w, "  - %-16s skipped (%s)\n", e.Step, e.Detail)
		case provaws.PhaseInfo:
			fmt.Fprintf(w, "  %s\n", e.Detail)
		}
	}
}

type waitFlags struct {
	timeout, poll time.Duration
}

func (w *waitFlags) add(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&w.timeout, "wait-timeout", 40*time.Minute, "longest to wait for any one resource (EKS clusters take 10-15 minutes)")
	cmd.Flags().DurationVar(&w.poll, "poll-interval", 10*time.Second, "how often to check a resource that is being created or deleted")
	_ = cmd.Flags().MarkHidden("poll-interval")
}

func (w *waitFlags) validate() error {
	if w.timeout <= 0 {
		return fmt.Errorf("invalid --wait-timeout %s: use a positive duration such as 40m", w.timeout)
	}
	if w.poll <= 0 || w.poll > w.timeout {
		return fmt.Errorf("invalid --poll-interval %s: use a positive duration shorter than --wait-timeout", w.poll)
	}
	return nil
}

func newProvisioner(d *Deps, s *session, w *waitFlags, progressOut io.Writer) (*provaws.Provisioner, error) {
	return newProvisionerImage(d, s, w, progressOut, "", "")
}

func newProvisionerImage(d *Deps, s *session, w *waitFlags, progressOut io.Writer, image, apiImage string) (*provaws.Provisioner, error) {
	return provaws.New(provaws.Options{AWS: s.cfg, StateDir: s.cache.Dir, Progress: progress(progressOut), PollInterval: w.poll, WaitTimeout: w.timeout, Now: d.Now,
		Image: image, APIImage: apiImage, NewKubeClient: d.NewKubeClient, ClusterCredentials: s.operatorCreds,
		STSTestEndpoint: s.testOnly.stsEndpoint, APIServer: s.testOnly.apiServer, AWSTestEndpoint: s.testOnly.awsEndpoint})
}

// ---- up ----

// UpOptions are the dependencies, flags and arguments of the command.
type UpOptions struct {
	Deps
	common
	w                       waitFlags
	preflight, configureEnv bool
	image, apiImage         string
	testOnly                testOnlyFlags

	args []string
}

// NewCmdUp is `cortex cluster up --provider aws`.
func NewCmdUp(f *cmdutil.Factory, runF func(*UpOptions) error) *cobra.Command {
	o := &UpOptions{Deps: depsOf(f)}
	cmd := &cobra.Command{
		Use:  "up [cluster.yaml]",
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.ctx = c.Context()
			o.args = args
			if runF != nil {
				return runF(o)
			}
			return upRun(o)
		},
	}
	o.addConfigFlag(cmd)
	o.addCredFlags(cmd, true)
	o.w.add(cmd)
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.preflight, "preflight", false, "check the management policy's actions with iam:SimulatePrincipalPolicy before creating anything")
	cmd.Flags().BoolVar(&o.configureEnv, "configure-env", false, "add the cluster's environment to the CLI (named by --env, default the cluster name), with the cluster's CA pinned")
	cmd.Flags().StringVar(&o.image, "image", "", "the cortex image the operator runs in the EKS cluster (required the first time; default: the image installed last)")
	cmd.Flags().StringVar(&o.apiImage, "api-image", "", "the image of python and command APIs (default: the one installed last, else --image, which has no Python; python handlers need the "+
		"runtime image that scripts/build-images.sh names cortex-python-runtime:<version>); container APIs run their own image")
	o.testOnly.add(cmd)
	cmd.Short = "Create a cortex cluster on AWS (EKS), or resume or upgrade it in place"
	cmd.Long = `Create the AWS resources of cluster.yaml (bucket, policy, VPC, EKS cluster, node groups, two
network load balancers), install cortex into the EKS cluster (the operator with its state in
Secrets, NodePort Services on fixed ports), and make the load balancers lead to it (listeners on
443, target groups on the node ports attached to the node groups' Auto Scaling groups), then apply
cluster.yaml's access (each rule's operator rule and EKS access entry, as cortex cluster access
grant makes them; nothing is written for rules already in place). Every step
is idempotent: running the command again resumes a creation that stopped, or upgrades in place
(e.g. a new --image). It prints the environment to use; --configure-env writes it, with the
cluster's CA pinned. See docs/aws.md.`
	cmd.Example = `  cortex cluster up cluster.yaml --image registry.example.com/cortex:0.1 --configure-env
  cortex cluster up cluster.yaml --image registry.example.com/cortex:0.2   # upgrade in place
  cortex cluster up cluster.yaml                                            # resume; the installed image`
	return cmd
}

func upRun(o *UpOptions) error {
	args := o.args
	w, preflight, configureEnv := &o.w, o.preflight, o.configureEnv

	if err := w.validate(); err != nil {
		return err
	}
	cfg, err := o.loadConfig(args)
	if err != nil {
		return err
	}
	sts, err := o.testOnly.validate(cfg.Region)
	if err != nil {
		return err
	}
	ctx := o.ctx
	s, err := openSession(ctx, &o.Deps, &o.common, cfg.ClusterName, cfg.Region)
	if err != nil {
		return err
	}
	s.testOnly = o.testOnly
	if o.testOnly.stsEndpoint != "" {
		fmt.Fprintf(o.IO.ErrOut, "warning: the operator will verify tokens against a TEST STS endpoint (%s), not AWS\n", o.testOnly.stsEndpoint)
	}
	if o.testOnly.awsEndpoint != "" {
		fmt.Fprintf(o.IO.ErrOut, "warning: the operator's AWS calls go to a TEST endpoint (%s), not AWS\n", o.testOnly.awsEndpoint)
	}
	if s.operatorCreds, err = operatorCredentials(ctx, s.cluster); err != nil {
		return err
	}
	p, err := newProvisioner(&o.Deps, s, w, o.IO.ErrOut)
	if err != nil {
		return err
	}
	id, err := p.WhoAmI(ctx)
	if err != nil {
		return err
	}
	if o.image == "" {
		// Before anything is created: an up that cannot install would leave a cluster that does
		// nothing. A cluster installed before keeps its image.
		prev, err := p.LoadState(ctx, id, cfg.ClusterName)
		if err != nil {
			return err
		}
		if prev == nil || prev.Kubernetes == nil || prev.Kubernetes.Image == "" {
			return errors.New("--image is required: the cortex image the operator runs in the EKS cluster")
		}
	}
	if o.image != "" || o.apiImage != "" {
		if p, err = newProvisionerImage(&o.Deps, s, w, o.IO.ErrOut, o.image, o.apiImage); err != nil {
			return err
		}
	}
	region := cfg.Region
	if cfg.RegionSource != clusterconfig.RegionFromFile {
		region += " (cluster.yaml has no region; from " + regionSourceText(cfg.RegionSource) + ")"
	}
	fmt.Fprintf(o.IO.ErrOut, "creating cluster %s in %s (account %s) as %s\n", cfg.ClusterName, region, id.Account, id.ARN)
	if preflight {
		denied, err := p.Preflight(ctx, id, cfg.ClusterName)
		if err != nil {
			return fmt.Errorf("preflight: %w", err)
		}
		if len(denied) > 0 {
			tw := tabwriter.NewWriter(o.IO.ErrOut, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTION\tRESOURCE\tDECISION")
			for _, d := range denied {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Action, d.Resource, d.Decision)
			}
			tw.Flush()
			return fmt.Errorf("preflight: %s lacks %d permission(s) of the management policy (see `cortex cluster policy --type management`); nothing was created", id.ARN, len(denied))
		}
		fmt.Fprintln(o.IO.ErrOut, "preflight: every action of the management policy is allowed")
	}
	// Region and zones against AWS first: the plan is only worth showing for a config that can
	// be created.
	if err := p.CheckConfig(ctx, cfg); err != nil {
		return cfg.Locate(err)
	}
	if err := provaws.CheckOperatorPolicy(id.Partition, id.Account, cfg, cfg.Region); err != nil {
		return fmt.Errorf("nothing was created: %w", err)
	}
	plan := provaws.PlanUp(cfg)
	plan.Render(o.IO.ErrOut)
	admin, err := p.CheckAdmin(ctx, id)
	if err != nil {
		fmt.Fprintf(o.IO.ErrOut, "warning: could not check whether %s is an administrator: %v\n", id.ARN, err)
		admin = &provaws.AdminCheck{Reason: "the check failed"}
	}
	question := fmt.Sprintf("create cluster %s (about $%.2f/h)?", cfg.ClusterName, plan.MinHourly)
	if !admin.Admin {
		fmt.Fprintf(o.IO.ErrOut, "warning: %s is not an administrator (%s); cluster up may fail part way. The minimum permissions are printed by `cortex cluster policy --type management -c cluster.yaml` (and checked by --preflight).\n", id.ARN, admin.Reason)
		question = fmt.Sprintf("create cluster %s (about $%.2f/h) although the permissions may not suffice?", cfg.ClusterName, plan.MinHourly)
	}
	if err := confirmOr(&o.Deps, o.yes, question); err != nil {
		return err
	}
	if err := s.cache.Remember(cfg.ClusterName, cfg.Region, s.spinUp, s.cluster); err != nil {
		return fmt.Errorf("cluster cache: %w", err)
	}
	res, err := p.Up(ctx, cfg)
	if err != nil {
		return err
	}
	st := res.State
	out := o.IO.Out
	fmt.Fprintf(out, "cluster %s is up (id %s)\n", st.ClusterName, st.ClusterID)
	fmt.Fprintf(out, "operator endpoint: %s\n", res.OperatorEndpoint)
	fmt.Fprintf(out, "api endpoint:      %s\n", res.APIEndpoint)
	if st.APIDomain != "" {
		fmt.Fprintf(out, "point %s at the API load balancer %s (a CNAME, or an alias record in Route 53); clients verify it with the certificate of ssl_certificate_arn\n", st.APIDomain, res.APILoadBalancerDNSName)
	}
	if !res.Installed || st.Kubernetes == nil {
		return errors.New("nothing was installed into the EKS cluster; run cluster up again with --image")
	}
	fp, err := caFingerprint(st.Kubernetes.CACert)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "cluster CA (SHA-256): %s\n", fp)
	fmt.Fprintln(out, authModeLine(cfg.Auth(), st.AccountID))
	for _, line := range revocationAdvice(st, s.spinUp, s.operatorCreds) {
		fmt.Fprintln(out, line)
	}
	envName := o.EnvName()
	if envName == "" {
		envName = cfg.ClusterName
	}
	if configureEnv {
		if err := writeEnv(&o.Deps, envName, st, s.spinUp, sts); err != nil {
			return err
		}
		fmt.Fprintf(out, "environment %q configured with the cluster's CA\n", envName)
	} else {
		fmt.Fprintf(out, "configure the CLI with:\n  cortex env configure %s --operator-endpoint %s --ca-fingerprint %s\n", envName, res.OperatorEndpoint, fp)
	}
	// cluster.yaml's access, now that the operator runs (a failure here leaves the cluster up and
	// its environment written; up again finishes it).
	if err := applyAccess(ctx, &o.Deps, s, p, cfg, st); err != nil {
		return fmt.Errorf("cluster %s is up, but %w (run cluster up again to finish)", cfg.ClusterName, err)
	}
	return nil
}

// authModeLine says in one line who may use the cluster (cluster.yaml's auth_mode).
func authModeLine(a clusterconfig.AuthMode, account string) string {
	if a.Mode == "rules" {
		return "auth mode rules: only the creator and the principals of access rules may use the cluster"
	}
	return fmt.Sprintf("auth mode account: every IAM identity of account %s gets role %s, granted or not (auth_mode: rules in cluster.yaml limits it to access rules)", account, a.AccountRole)
}

func writeEnv(d *Deps, name string, st *provaws.State, spinUp *credentials.Creds, sts identity.STSEndpoint) error {
	if err := cliconfig.ValidateEnvName(name); err != nil {
		return err
	}
	cfg, err := d.Config()
	if err != nil {
		return err
	}
	if st.Kubernetes == nil || st.Kubernetes.CACert == "" {
		return errors.New("the cluster's CA is not recorded: nothing is installed in the EKS cluster")
	}
	e := environmentFor(name, st, sts)
	if spinUp.Profile != "" {
		e.AWSProfile = spinUp.Profile
	}
	cfg.Put(e)
	return cfg.Save()
}

// caFingerprint is the SHA-256 fingerprint of the CA clients pin (what env configure
// --ca-fingerprint takes).
func caFingerprint(caPEM string) (string, error) {
	cert, err := tlsutil.ParseCertPEM([]byte(caPEM))
	if err != nil {
		return "", fmt.Errorf("the cluster's CA: %w", err)
	}
	return tlsutil.Fingerprint(cert), nil
}

// ---- info ----

// InfoOptions are the dependencies, flags and arguments of the command.
type InfoOptions struct {
	Deps
	common
	format *string

	args []string
}

// NewCmdInfo is `cortex cluster info --provider aws`.
func NewCmdInfo(f *cmdutil.Factory, runF func(*InfoOptions) error) *cobra.Command {
	o := &InfoOptions{Deps: depsOf(f)}
	cmd := &cobra.Command{
		Use:  "info [cluster.yaml]",
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.ctx = c.Context()
			o.args = args
			if runF != nil {
				return runF(o)
			}
			return infoRun(o)
		},
	}
	o.addConfigFlag(cmd)
	o.addNameFlags(cmd)
	o.addCredFlags(cmd, false)
	o.format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

func infoRun(o *InfoOptions) error {
	args := o.args
	format := o.format

	if err := cmdutil.ValidateFormat(*format); err != nil {
		return err
	}
	name, region, _, err := o.target(args)
	if err != nil {
		return err
	}
	s, err := openSession(o.ctx, &o.Deps, &o.common, name, region)
	if err != nil {
		return err
	}
	p, err := newProvisioner(&o.Deps, s, &waitFlags{timeout: time.Minute, poll: time.Second}, io.Discard)
	if err != nil {
		return err
	}
	info, err := p.Info(o.ctx, name)
	if err != nil {
		return err
	}
	return cmdutil.Print(o.IO.Out, *format, info, func(tw *tabwriter.Writer) { infoTable(tw, info) })
}

func infoTable(tw *tabwriter.Writer, i *provaws.Info) {
	st := i.State
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("cluster", st.ClusterName)
	row("cluster id", st.ClusterID)
	row("region", st.Region)
	row("account", st.AccountID)
	row("status", st.Status)
	row("created by", st.CreatorARN)
	row("created at", st.CreatedAt.Format(time.RFC3339))
	row("operator endpoint", fmt.Sprintf("%s (%s, %s)", i.OperatorEndpoint, i.OperatorLBScheme, i.OperatorLBState))
	row("api endpoint", fmt.Sprintf("%s (%s, %s)", i.APIEndpoint, i.APILBScheme, i.APILBState))
	if st.APIDomain != "" {
		row("api load balancer", i.APILoadBalancerDNSName+" (point "+st.APIDomain+" at it: CNAME or alias)")
	}
	row("eks cluster", fmt.Sprintf("%s (%s)", st.EKSCluster, i.EKSStatus))
	if in := i.Install; in != nil {
		row("namespace", in.Namespace)
		row("image", in.Image)
		if in.APIImage != "" {
			row("api image", in.APIImage)
		}
		if in.Error != "" {
			row("install", "unknown: "+in.Error)
		} else {
			row("operator", in.Operator)
			row("gateway", in.Gateway)
			if in.AuthMode != "" {
				row("auth mode", install.Auth{Mode: in.AuthMode, AccountRole: in.AccountRole})
			}
		}
	} else {
		row("install", "nothing installed in the EKS cluster")
	}
	for name, status := range i.NodeGroupStatus {
		row("node group "+name, status)
	}
	row("bucket", st.Bucket)
	row("log group", st.LogGroup)
	row("default policy", st.PolicyARN)
	row("iam_policy_arns", strings.Join(i.ExtraPolicyARNs, ", "))
	row("cluster role", st.ClusterRoleARN)
	row("node role", st.NodeRoleARN)
	row("operator aws", operatorAWSText(st))
	accessEntryRows(row, i)
	apiRoleRows(row, i)
	row("vpc", st.VPCID)
	row("subnets", i.SubnetVisibility)
	row("  public", byKey(st.PublicSubnets))
	row("  private", byKey(st.PrivateSubnets))
	row("nat gateways", strings.TrimSpace(i.NATGatewaySetting+" "+byKey(st.NATGateways)))
	row("security groups", byKey(st.SecurityGroups))
}

// accessEntryRows are the EKS access entries, one a row: its cortex role (or what it is instead)
// and its access policies. cortex cluster access list compares them with the operator's rules.
func accessEntryRows(row func(string, any), i *provaws.Info) {
	if i.AccessEntriesError != "" {
		row("access entries", "unknown: "+i.AccessEntriesError)
		return
	}
	row("access entries", fmt.Sprintf("%d (cortex cluster access list compares them with the operator's rules)", len(i.AccessEntries)))
	for _, g := range i.AccessEntries {
		what := string(g.Role)
		switch {
		case g.Type != "STANDARD":
			what = strings.ToLower(g.Type) + " (nodes)"
		case what == "":
			what = "no cortex role"
		}
		pols := make([]string, 0, len(g.Policies))
		for _, p := range g.Policies {
			name := strings.TrimPrefix(p.ARN, kubeaccess.PolicyPrefix)
			if p.Scope == "namespace" {
				name += " in " + strings.Join(p.Namespaces, ",")
			}
			pols = append(pols, name)
		}
		detail := what
		if len(pols) > 0 {
			detail += "; " + strings.Join(pols, ", ")
		}
		if len(g.Groups) > 0 {
			detail += "; groups " + strings.Join(g.Groups, ",")
		}
		row("  "+g.Principal, detail)
	}
}

// apiRoleRows are the APIs' own IAM roles: the pod identity associations of the APIs' namespace.
func apiRoleRows(row func(string, any), i *provaws.Info) {
	if i.APIRolesError != "" {
		row("api roles", "unknown: "+i.APIRolesError)
		return
	}
	row("api roles", fmt.Sprintf("%d (APIs without one have no AWS credentials)", len(i.APIRoles)))
	for _, r := range i.APIRoles {
		row("  "+r.Namespace+"/"+r.ServiceAccount, fmt.Sprintf("%s (EKS Pod Identity, association %s)", r.RoleARN, r.AssociationID))
	}
}

// byKey renders a map as "k=v, k=v" in key order ("-" when empty).
func byKey[V any](m map[string]V) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// ---- configure ----

// ConfigureOptions are the dependencies, flags and arguments of the command.
type ConfigureOptions struct {
	Deps
	common
	dryRun bool

	args []string
}

// NewCmdConfigure is `cortex cluster configure`.
func NewCmdConfigure(f *cmdutil.Factory, runF func(*ConfigureOptions) error) *cobra.Command {
	o := &ConfigureOptions{Deps: depsOf(f)}
	cmd := &cobra.Command{
		Use:   "configure [cluster.yaml]",
		Short: "Apply the fields of cluster.yaml that may change on a running AWS cluster",
		Long: `Apply the fields of cluster.yaml that may change on a running AWS cluster: node group
min_instances/max_instances, *_load_balancer_cidr_allowlist, ssl_certificate_arn, the
cluster-wide iam_policy_arns (attached to and detached from the nodes' role, next to the default
policy cortex-<cluster>-<region>), api_iam, auth_mode, account_role and access. Any other difference is refused before
anything changes. The changes are shown first; --dry-run stops there, and otherwise they are
applied after a confirmation (--yes without a terminal).

api_iam (what APIs may be given) changes the operator's allowlist (its Deployment, whose rollout
is waited for) and its role's inline policy; an ARN that a deployed API still uses cannot be
removed (the error names the APIs), and a list too long for IAM's policy size quota is refused.

auth_mode and account_role (who may use the cluster without an access rule) change the operator's
arguments; the change holds once its rollout, which is waited for, is done. auth_mode: rules
locks the cluster down to the creator and the principals of access rules.

access is applied relative to what cluster.yaml applied before: rules added are granted, rules
whose role changed get the new role, rules removed are revoked, each as cortex cluster access
grant|revoke does it (the operator's rule and the EKS access entry together). Grants made with
cortex cluster access grant are left alone; the creator cannot be listed. An API's own IAM role
(iam_role_arn or iam_policy_arns in its spec) changes by deploying the API again (cortex deploy).`,
		Example: "  cortex cluster configure cluster.yaml --dry-run\n  cortex cluster configure cluster.yaml --yes\n" +
			"  cortex cluster access grant arn:aws:iam::111122223333:role/ml --role deploy   # access outside cluster.yaml\n" +
			"  cortex deploy                                                                 # an API's role",
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.ctx = c.Context()
			o.args = args
			if runF != nil {
				return runF(o)
			}
			return configureRun(o)
		},
	}
	o.addConfigFlag(cmd)
	o.addCredFlags(cmd, false)
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "show the changes and change nothing")
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func configureRun(o *ConfigureOptions) error {
	args := o.args

	cfg, err := o.loadConfig(args)
	if err != nil {
		return err
	}
	s, err := openSession(o.ctx, &o.Deps, &o.common, cfg.ClusterName, cfg.Region)
	if err != nil {
		return err
	}
	p, err := newProvisioner(&o.Deps, s, &waitFlags{timeout: 10 * time.Minute, poll: 5 * time.Second}, o.IO.ErrOut)
	if err != nil {
		return err
	}
	// The diff first; then --dry-run stops, and anything else asks (or needs --yes).
	changes, err := p.PlanConfigure(o.ctx, cfg)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		fmt.Fprintln(o.IO.Out, "nothing to change")
		return nil
	}
	for _, ch := range changes {
		fmt.Fprintf(o.IO.Out, "%s: %v -> %v\n", ch.Field, ch.From, ch.To)
	}
	if o.dryRun {
		fmt.Fprintln(o.IO.Out, "dry run: nothing was changed")
		return nil
	}
	if err := confirmOr(&o.Deps, o.yes, fmt.Sprintf("apply %d change(s) to cluster %s?", len(changes), cfg.ClusterName)); err != nil {
		return err
	}
	if _, err := p.Configure(o.ctx, cfg); err != nil {
		return err
	}
	id, err := p.WhoAmI(o.ctx)
	if err != nil {
		return err
	}
	st, err := p.LoadState(o.ctx, id, cfg.ClusterName)
	if err != nil {
		return err
	}
	if err := applyAccess(o.ctx, &o.Deps, s, p, cfg, st); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "cluster %s is configured\n", cfg.ClusterName)
	return nil
}

// ---- down ----

// DownOptions are the dependencies, flags and arguments of the command.
type DownOptions struct {
	Deps
	common
	w    waitFlags
	keep bool

	args []string
}

// NewCmdDown is `cortex cluster down --provider aws`.
func NewCmdDown(f *cmdutil.Factory, runF func(*DownOptions) error) *cobra.Command {
	o := &DownOptions{Deps: depsOf(f)}
	cmd := &cobra.Command{
		Use:  "down [cluster.yaml]",
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.ctx = c.Context()
			o.args = args
			if runF != nil {
				return runF(o)
			}
			return downRun(o)
		},
	}
	o.addConfigFlag(cmd)
	o.addNameFlags(cmd)
	o.addCredFlags(cmd, false)
	o.w.add(cmd)
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.keep, "keep-aws-resources", false, "keep the cluster's S3 bucket and log group")
	return cmd
}

func downRun(o *DownOptions) error {
	args := o.args
	w, keep := &o.w, o.keep

	if err := w.validate(); err != nil {
		return err
	}
	name, region, _, err := o.target(args)
	if err != nil {
		return err
	}
	if err := confirmOr(&o.Deps, o.yes, fmt.Sprintf("delete cluster %s in %s and every AWS resource `cluster up` created for it?", name, region)); err != nil {
		return err
	}
	s, err := openSession(o.ctx, &o.Deps, &o.common, name, region)
	if err != nil {
		return err
	}
	p, err := newProvisioner(&o.Deps, s, w, o.IO.ErrOut)
	if err != nil {
		return err
	}
	rep, err := p.Down(o.ctx, name, provaws.DownOptions{KeepAWSResources: keep})
	if rep != nil {
		for _, nf := range rep.NotFound {
			fmt.Fprintf(o.IO.ErrOut, "not found: %s\n", nf)
		}
		for _, l := range rep.Leftovers {
			fmt.Fprintf(o.IO.ErrOut, "could not delete %s: %s\n", l.Resource, l.Reason)
		}
	}
	if errors.Is(err, provaws.ErrClusterNotFound) {
		// Nothing to delete; what the CLI remembers of it goes, and the command fails.
		_ = s.cache.Forget(name, region)
		if removed, rerr := removeEnvs(&o.Deps, name, region); rerr == nil {
			for _, e := range removed {
				fmt.Fprintf(o.IO.ErrOut, "removed environment %s\n", e)
			}
		}
		return err
	}
	if err != nil {
		return err
	}
	if err := s.cache.Forget(name, region); err != nil {
		return fmt.Errorf("cluster cache: %w", err)
	}
	removed, err := removeEnvs(&o.Deps, name, region)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "cluster %s in %s is deleted (%d resources)", name, region, len(rep.Deleted))
	if keep {
		fmt.Fprintf(o.IO.Out, "; kept its bucket and log group")
	}
	fmt.Fprintln(o.IO.Out)
	for _, e := range removed {
		fmt.Fprintf(o.IO.Out, "removed environment %s\n", e)
	}
	return nil
}

func removeEnvs(d *Deps, name, region string) ([]string, error) {
	cfg, err := d.Config()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range append([]cliconfig.Environment(nil), cfg.Environments...) {
		if e.Provider == "aws" && e.ClusterName == name && e.Region == region {
			cfg.Delete(e.Name)
			removed = append(removed, e.Name)
		}
	}
	if len(removed) == 0 {
		return nil, nil
	}
	return removed, cfg.Save()
}

// ---- policy ----

// PolicyOptions are the dependencies, flags and arguments of the command.
type PolicyOptions struct {
	Deps
	common
	kind, account string

	args []string
}

// NewCmdPolicy is `cortex cluster policy`.
func NewCmdPolicy(f *cmdutil.Factory, runF func(*PolicyOptions) error) *cobra.Command {
	o := &PolicyOptions{Deps: depsOf(f)}
	cmd := &cobra.Command{
		Use:   "policy --type management|operator|default [cluster.yaml]",
		Short: "Print an IAM policy of an AWS cluster: the minimum management policy, the operator's or the cluster's default policy",
		Long: `Print one of the IAM policy documents of an AWS cluster, filled in with the account, region,
cluster name, bucket and log group:

  management  the minimum permissions of cortex cluster up/info/configure/down
  operator    what the operator needs at run time
  default     the cluster's default policy (cortex-<cluster_name>-<region>), attached to the nodes

The account is --account-id, or that of your AWS credentials.`,
		Example: `  cortex cluster policy --type management -c cluster.yaml
  cortex cluster policy --type default cluster.yaml --account-id 123456789012`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.ctx = c.Context()
			o.args = args
			if runF != nil {
				return runF(o)
			}
			return policyRun(o)
		},
	}
	o.addConfigFlag(cmd)
	o.addCredFlags(cmd, false)
	cmd.Flags().StringVar(&o.kind, "type", iampolicy.Management, "policy to print: management, operator or default")
	_ = cmd.RegisterFlagCompletionFunc("type", cmdutil.FixedValues(iampolicy.Kinds...))
	cmd.Flags().StringVar(&o.account, "account-id", "", "AWS account id to fill in (default: the account of your credentials)")
	return cmd
}

func policyRun(o *PolicyOptions) error {
	args := o.args
	kind, account := o.kind, o.account

	valid := false
	for _, k := range iampolicy.Kinds {
		valid = valid || k == kind
	}
	if !valid {
		return fmt.Errorf("invalid --type %q: use %s", kind, strings.Join(iampolicy.Kinds, ", "))
	}
	cfg, err := o.loadConfig(args)
	if err != nil {
		return err
	}
	partition := "aws"
	if account == "" {
		s, err := openSession(o.ctx, &o.Deps, &o.common, cfg.ClusterName, cfg.Region)
		if err != nil {
			return err
		}
		p, err := provaws.New(provaws.Options{AWS: s.cfg})
		if err != nil {
			return err
		}
		id, err := p.WhoAmI(o.ctx)
		if err != nil {
			return err
		}
		account, partition = id.Account, id.Partition
	} else if len(account) != 12 || strings.Trim(account, "0123456789") != "" {
		return fmt.Errorf("invalid --account-id %q: use the 12-digit AWS account id", account)
	}
	params := provaws.PolicyParams(partition, account, cfg.ClusterName, cfg.Region)
	if kind == iampolicy.Operator {
		params = provaws.OperatorPolicyParams(partition, account, cfg, cfg.Region)
	}
	doc, err := iampolicy.Render(kind, params)
	if err != nil {
		return err
	}
	_, err = o.IO.Out.Write(doc)
	return err
}

// ---- example-config ----

// ExampleConfigOptions are the dependencies, flags and arguments of the command.
type ExampleConfigOptions struct {
	Deps

	args []string
}

// NewCmdExampleConfig is `cortex cluster example-config`.
func NewCmdExampleConfig(f *cmdutil.Factory, runF func(*ExampleConfigOptions) error) *cobra.Command {
	o := &ExampleConfigOptions{Deps: depsOf(f)}
	return &cobra.Command{
		Use:     "example-config",
		Short:   "Print a commented example cluster.yaml for an AWS cluster",
		Example: "  cortex cluster example-config > cluster.yaml",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.ctx = c.Context()
			o.args = args
			if runF != nil {
				return runF(o)
			}
			return exampleConfigRun(o)
		},
	}
}

func exampleConfigRun(o *ExampleConfigOptions) error {
	_, err := io.WriteString(o.IO.Out, clusterconfig.Example)
	return err
}
