// Package env is `cortex env`: the operators this CLI talks to.
package env

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/client"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/localcluster"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
)

// NewCmdEnv returns `cortex env` and its subcommands.
func NewCmdEnv(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Configure the operators (environments) this CLI talks to",
		Long: `An environment is one cluster's operator: its HTTPS endpoint, the CA its certificate must chain
to, and the cluster id identity tokens are bound to. They live in ~/.cortex/cli.yaml
($CORTEX_CLI_CONFIG_DIR overrides the directory), shared with the Python client.

Commands use the environment named by -e, else $CORTEX_ENV, else the default one. When there is
no default (cluster down or env delete removed it), they do not guess: on a terminal they ask
which one to use, otherwise they fail and name the choices.`,
		Example: `  cortex env list
  cortex env default prod`,
	}
	cmd.AddCommand(NewCmdConfigure(f, nil), NewCmdList(f, nil), NewCmdDefault(f, nil), NewCmdDelete(f, nil))
	return cmd
}

// ConfigureOptions are the dependencies, flags and argument of `cortex env configure`.
type ConfigureOptions struct {
	IO        *cmdutil.IOStreams
	Prompter  cmdutil.Prompter
	Config    func() (*cliconfig.Config, error)
	NewClient func(client.Options) (*client.Client, error)

	changedProfile bool
	ctx            context.Context

	name           string
	endpoint       string
	caFile         string
	caFingerprint  string
	yes            bool
	insecureHTTP   bool
	awsProfile     string
	auth           string
	localTokenFile string
	setDefault     bool
	awsCredsToAPIs string
}

// NewCmdConfigure returns `cortex env configure`.
func NewCmdConfigure(f *cmdutil.Factory, runF func(*ConfigureOptions) error) *cobra.Command {
	o := &ConfigureOptions{IO: f.IO, Prompter: f.Prompt(), Config: f.Config, NewClient: f.NewClient}
	cmd := &cobra.Command{
		Use:   "configure NAME",
		Short: "Add or update an environment, pinning the operator's CA",
		Long: `Add or update an environment.

The operator's certificate is verified on every call. Give the cluster's CA with --ca-file, or
let this command fetch it: it shows the CA's SHA-256 fingerprint and asks you to confirm it
(compare it with the one the cluster admin sees in 'cortex env list'), or checks it against
--ca-fingerprint. A certificate from a CA your system already trusts needs neither; but an
explicit --ca-file or --ca-fingerprint always wins: the operator's chain must lead to that CA even
when the system trusts it (a TLS-inspection root, say), and a mismatch is refused, showing the
fingerprint seen.

Plain http:// is refused, except with --insecure-http for a loopback address.`,
		Example: `  cortex env configure prod --operator-endpoint https://operator.example.com:8888 --ca-file ca.pem
  cortex env configure dev --operator-endpoint https://127.0.0.1:8888 --ca-fingerprint SHA256:AB:CD:...
  cortex env configure local --aws-profile ml-team      # update one field of an existing environment`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.ctx = c.Context()
			o.name = args[0]
			o.changedProfile = c.Flags().Changed("aws-profile")
			if runF != nil {
				return runF(o)
			}
			return configureRun(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.endpoint, "operator-endpoint", "", "the operator's URL, https://host[:port]")
	fl.StringVar(&o.caFile, "ca-file", "", "PEM file of the CA the operator's certificate chains to")
	fl.StringVar(&o.caFingerprint, "ca-fingerprint", "", "expected SHA-256 fingerprint of the operator's CA (non-interactive trust)")
	fl.BoolVarP(&o.yes, "yes", "y", false, "trust the CA the operator presents without asking (prints its fingerprint)")
	fl.BoolVar(&o.insecureHTTP, "insecure-http", false, "allow http:// for a loopback address (tokens travel unencrypted)")
	fl.StringVar(&o.awsProfile, "aws-profile", "", "AWS profile for this environment (default: the standard chain)")
	fl.StringVar(&o.auth, "auth", "", "how to authenticate: aws (identity token) or local (local admin credential)")
	fl.StringVar(&o.localTokenFile, "local-token-file", "", "file of the local admin credential (with --auth local)")
	fl.BoolVar(&o.setDefault, "default", false, "make this the default environment")
	fl.StringVar(&o.awsCredsToAPIs, "aws-credentials-for-apis", "", "local clusters: pass AWS credentials into APIs, true or false (--aws-profile on a local environment implies true)")
	_ = cmd.RegisterFlagCompletionFunc("auth", cmdutil.FixedValues(cliconfig.AuthAWS, cliconfig.AuthLocal))
	_ = cmd.RegisterFlagCompletionFunc("aws-credentials-for-apis", cmdutil.FixedValues("true", "false"))
	cmd.ValidArgsFunction = cmdutil.CompleteEnvNameArg(f)
	return cmd
}

func configureRun(o *ConfigureOptions) error {
	ctx := o.ctx
	if err := cliconfig.ValidateEnvName(o.name); err != nil {
		return err
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	env := cliconfig.Environment{Name: o.name, Auth: cliconfig.AuthAWS}
	existing, _ := cfg.Get(o.name)
	if existing != nil {
		env = *existing
	} else if o.endpoint == "" {
		return fmt.Errorf("environment %q is new: --operator-endpoint is required", o.name)
	}
	if o.auth != "" {
		if o.auth != cliconfig.AuthAWS && o.auth != cliconfig.AuthLocal {
			return fmt.Errorf("invalid --auth %q: use aws or local", o.auth)
		}
		env.Auth = o.auth
	}
	if o.localTokenFile != "" {
		env.LocalTokenFile = o.localTokenFile
	}
	if env.Auth == cliconfig.AuthLocal && env.LocalTokenFile == "" {
		return fmt.Errorf("--auth local needs --local-token-file")
	}
	if o.changedProfile {
		env.AWSProfile = o.awsProfile
		// On a local cluster, naming a profile is asking for its credentials in the APIs
		// (--aws-credentials-for-apis false keeps them out; true without a profile: default chain).
		if env.Provider == "local" && o.awsCredsToAPIs == "" {
			env.AWSCredentialsForAPIs = o.awsProfile != ""
		}
	}
	if o.awsCredsToAPIs != "" {
		switch o.awsCredsToAPIs {
		case "true":
			env.AWSCredentialsForAPIs = true
		case "false":
			env.AWSCredentialsForAPIs = false
		default:
			return fmt.Errorf("invalid --aws-credentials-for-apis %q: use true or false", o.awsCredsToAPIs)
		}
	}
	if o.endpoint != "" || o.caFile != "" || o.caFingerprint != "" {
		if o.endpoint == "" {
			o.endpoint = env.OperatorEndpoint
		}
		if err := bindOperator(ctx, o, &env); err != nil {
			return err
		}
	}
	warnSharedClusterID(o.IO, cfg, env)
	if env.Provider == "local" {
		// The local operator reads whether its APIs get AWS credentials from its own file.
		if err := localcluster.SetAPIAWSSettings(cfg.Dir(), env.AWSCredentialsForAPIs, env.AWSProfile); err != nil {
			return err
		}
	}
	cfg.Put(env)
	if o.setDefault {
		cfg.DefaultEnvironment = env.Name
	}
	if err := cfg.Save(); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "environment %s: %s (cluster %s)\n", env.Name, env.OperatorEndpoint, env.ClusterID)
	if cfg.DefaultEnvironment == env.Name {
		fmt.Fprintf(o.IO.Out, "%s is the default environment\n", env.Name)
	}
	return nil
}

// warnSharedClusterID warns when another environment already knows this cluster id at another
// endpoint. Cluster ids are public: a server that announces another cluster's id may be trying to
// collect tokens for it. Tokens are bound to the endpoint dialed, so it cannot replay them to the
// real cluster; but the user should know which of the two is the cluster they meant.
func warnSharedClusterID(ios *cmdutil.IOStreams, cfg *cliconfig.Config, env cliconfig.Environment) {
	if env.ClusterID == "" {
		return
	}
	mine, err := identity.NormalizeAudience(env.OperatorEndpoint)
	if err != nil {
		return
	}
	for _, other := range cfg.Environments {
		if other.Name == env.Name || other.ClusterID != env.ClusterID {
			continue
		}
		if theirs, err := identity.NormalizeAudience(other.OperatorEndpoint); err == nil && theirs == mine {
			continue
		}
		fmt.Fprintf(ios.ErrOut, "warning: environment %s already uses cluster %s at %s; %s announces the same cluster id.\n"+
			"  If it is not the same cluster under another name, do not trust it: it may be impersonating that cluster.\n",
			other.Name, env.ClusterID, other.OperatorEndpoint, env.OperatorEndpoint)
	}
}

// bindOperator pins the operator's CA and learns the cluster binding from /v1/auth.
func bindOperator(ctx context.Context, o *ConfigureOptions, env *cliconfig.Environment) error {
	u, err := client.ValidateEndpoint(o.endpoint, o.insecureHTTP)
	if err != nil {
		return err
	}
	env.OperatorEndpoint = u.String()
	env.CACert = ""
	if u.Scheme == "https" {
		caPEM, err := resolveCA(ctx, o, u.Host, u.Port())
		if err != nil {
			return err
		}
		env.CACert = string(caPEM)
	}
	cl, err := o.NewClient(client.Options{Endpoint: env.OperatorEndpoint, CAPEM: []byte(env.CACert)})
	if err != nil {
		return err
	}
	defer cl.Close()
	params, err := cl.AuthParams(ctx)
	if err != nil {
		return fmt.Errorf("the operator did not answer: %w", err)
	}
	env.ClusterID, env.STSHost, env.STSRegion, env.STSScheme = params.ClusterID, params.STSHost, params.STSRegion, params.STSScheme
	if params.STSScheme != "https" {
		fmt.Fprintf(o.IO.ErrOut, "warning: this operator verifies tokens against a TEST STS endpoint (%s://%s), not AWS\n", params.STSScheme, params.STSHost)
	}
	return nil
}

// resolveCA returns the PEM of the CA to pin, or nil to verify against the system roots. An
// explicit pin (--ca-file, --ca-fingerprint) always wins over the system roots: the operator's
// chain must lead to it even when the system already trusts the chain (a TLS-inspection root, a
// public CA), and a mismatch is a refusal that shows the fingerprint seen.
func resolveCA(ctx context.Context, o *ConfigureOptions, hostPort, port string) ([]byte, error) {
	var fileCA *x509.Certificate
	if o.caFile != "" {
		data, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, err
		}
		ca, err := tlsutil.ParseCertPEM(data)
		if err != nil || !ca.IsCA {
			return nil, fmt.Errorf("%s is not a PEM CA certificate", o.caFile)
		}
		fileCA = ca
	}
	var wantFP string
	if o.caFingerprint != "" {
		fp, err := tlsutil.NormalizeFingerprint(o.caFingerprint)
		if err != nil {
			return nil, fmt.Errorf("invalid --ca-fingerprint: %w", err)
		}
		wantFP = fp
	}
	if port == "" {
		hostPort = net.JoinHostPort(hostPort, "443")
	}
	d, err := tlsutil.DiscoverCA(ctx, hostPort)
	if err != nil {
		return nil, err
	}
	switch {
	case fileCA != nil:
		if wantFP != "" && tlsutil.Fingerprint(fileCA) != wantFP {
			return nil, fmt.Errorf("the CA in %s has fingerprint %s, not %s: refusing to trust it", o.caFile, tlsutil.Fingerprint(fileCA), wantFP)
		}
		if err := d.Pin(fileCA); err != nil {
			return nil, fmt.Errorf("the operator's CA fingerprint is %s, not that of %s (%s): refusing to trust it", d.Seen(), o.caFile, tlsutil.Fingerprint(fileCA))
		}
		return tlsutil.CertPEM(fileCA), nil
	case wantFP != "":
		ca, err := d.PinFingerprint(wantFP)
		if err != nil {
			return nil, fmt.Errorf("the operator's CA fingerprint is %s, not %s: refusing to trust it", d.Seen(), wantFP)
		}
		return tlsutil.CertPEM(ca), nil
	case d.TrustedBySystem:
		fmt.Fprintln(o.IO.ErrOut, "the operator's certificate is trusted by this system; no CA pinned")
		return nil, nil
	case d.CA == nil:
		return nil, fmt.Errorf("%s did not send a self-signed CA with its certificate; ask the cluster admin for the CA file (--ca-file)", hostPort)
	}
	fp := tlsutil.Fingerprint(d.CA)
	switch {
	case o.yes:
		fmt.Fprintf(o.IO.ErrOut, "trusting the operator's CA %q, fingerprint %s\n", d.CA.Subject.CommonName, fp)
	case o.IO.CanPrompt():
		fmt.Fprintf(o.IO.ErrOut, "The operator presents a certificate from CA %q\n  fingerprint %s\n", d.CA.Subject.CommonName, fp)
		ok, err := o.Prompter.Confirm(ctx, "Trust it for this environment?")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("CA not trusted; nothing changed")
		}
	default:
		return nil, fmt.Errorf("the operator's CA (fingerprint %s) is not trusted: pass --ca-file, --ca-fingerprint, or --yes to trust it", fp)
	}
	return tlsutil.CertPEM(d.CA), nil
}

// ListOptions are the dependencies and flags of `cortex env list`.
type ListOptions struct {
	IO     *cmdutil.IOStreams
	Config func() (*cliconfig.Config, error)
	Format *string
}

// NewCmdList returns `cortex env list`.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, Config: f.Config}
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List environments",
		Example: "  cortex env list\n  cortex env list -o json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	opts.Format = cmdutil.AddOutputFlag(cmd)
	return cmd
}

func listRun(o *ListOptions) error {
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	type row struct {
		Name      string `json:"name"`
		Default   bool   `json:"default"`
		Endpoint  string `json:"operator_endpoint"`
		Provider  string `json:"provider,omitempty"`
		Auth      string `json:"auth"`
		ClusterID string `json:"cluster_id"`
		CA        string `json:"ca"`
	}
	rows := []row{}
	for _, e := range cfg.Environments {
		ca := "system roots"
		if cert, err := tlsutil.ParseCertPEM([]byte(e.CACert)); err == nil {
			ca = tlsutil.Fingerprint(cert)
		}
		rows = append(rows, row{e.Name, e.Name == cfg.DefaultEnvironment, e.OperatorEndpoint, e.Provider, e.Auth, e.ClusterID, ca})
	}
	return cmdutil.Print(o.IO.Out, *o.Format, map[string]any{"environments": rows}, func(tw *tabwriter.Writer) {
		if len(rows) == 0 {
			fmt.Fprintln(tw, "no environments: run `cortex cluster up` for a local cluster, or `cortex env configure NAME --operator-endpoint URL`")
			return
		}
		fmt.Fprintln(tw, "NAME\tENDPOINT\tAUTH\tCLUSTER ID\tCA")
		for _, r := range rows {
			name := r.Name
			if r.Default {
				name += " (default)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, r.Endpoint, r.Auth, r.ClusterID, r.CA)
		}
		if cfg.DefaultEnvironment == "" {
			fmt.Fprintln(tw, "\nno default environment: pass -e NAME, or run `cortex env default NAME`")
		}
	})
}

// NameOptions are the dependencies and argument of `cortex env default` and `cortex env delete`.
type NameOptions struct {
	IO     *cmdutil.IOStreams
	Config func() (*cliconfig.Config, error)
	Name   string
}

// NewCmdDefault returns `cortex env default`.
func NewCmdDefault(f *cmdutil.Factory, runF func(*NameOptions) error) *cobra.Command {
	opts := &NameOptions{IO: f.IO, Config: f.Config}
	return &cobra.Command{
		Use: "default NAME", Short: "Set the default environment", Example: "  cortex env default prod",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cmdutil.CompleteEnvNameArg(f),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return defaultRun(opts)
		},
	}
}

func defaultRun(o *NameOptions) error {
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	if _, err := cfg.Get(o.Name); err != nil {
		return err
	}
	cfg.DefaultEnvironment = o.Name
	if err := cfg.Save(); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "%s is the default environment\n", o.Name)
	return nil
}

// NewCmdDelete returns `cortex env delete`.
func NewCmdDelete(f *cmdutil.Factory, runF func(*NameOptions) error) *cobra.Command {
	opts := &NameOptions{IO: f.IO, Config: f.Config}
	return &cobra.Command{
		Use: "delete NAME", Short: "Forget an environment (the cluster itself is not touched)", Example: "  cortex env delete staging",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cmdutil.CompleteEnvNameArg(f),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(opts)
		},
	}
}

func deleteRun(o *NameOptions) error {
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	wasDefault := cfg.DefaultEnvironment == o.Name
	if !cfg.Delete(o.Name) {
		return fmt.Errorf("environment %q is not configured", o.Name)
	}
	if err := cfg.Save(); err != nil {
		return err
	}
	_ = os.Remove(client.TokenCacheFile(cfg.Dir(), o.Name))
	fmt.Fprintf(o.IO.Out, "deleted environment %s\n", o.Name)
	if wasDefault && len(cfg.Environments) > 0 {
		fmt.Fprintf(o.IO.Out, "there is no default environment now: run `cortex env default NAME` (%s)\n", strings.Join(cfg.Names(), ", "))
	}
	return nil
}
