// Package operatorcmd is `cortex operator`: running the operator server.
package operatorcmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/awssdk"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
	"github.com/cortexlabs-go/cortex/internal/operator"
)

// NewCmdOperator returns `cortex operator`.
func NewCmdOperator(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "operator", Short: "Run the cortex operator (the cluster's HTTPS API server)",
		Example: "  cortex operator serve --state-dir ./state --account-id 123456789012"}
	cmd.AddCommand(NewCmdServe(f, nil))
	return cmd
}

// ServeOptions are the dependencies and flags of `cortex operator serve`.
type ServeOptions struct {
	IO *cmdutil.IOStreams
	// changed reports whether the user set a flag (flags win over --config).
	changed func(name string) bool
	ctx     context.Context

	configFile string
	cfg        operator.Config
	logLevel   string
	checkAWS   bool
}

// NewCmdServe returns `cortex operator serve`.
func NewCmdServe(f *cmdutil.Factory, runF func(*ServeOptions) error) *cobra.Command {
	o := &ServeOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the operator API over HTTPS",
		Long: `Serve the operator API over HTTPS (TLS 1.2+).

Every request but /healthz and /v1/auth must carry an identity token: a signed STS
GetCallerIdentity request bound to this cluster's id and to the endpoint the client dialed, which
the operator verifies with AWS STS. --public-endpoint names every URL clients use to reach this
operator (a load balancer, a custom domain); tokens bound to any other endpoint are refused.
Default: https://localhost, https://127.0.0.1 and https://[::1] at the listen port.
Without --tls-cert-file the operator makes its own CA and server certificate under
<state-dir>/tls (ca.pem is what clients pin).

With --provider kubernetes the operator keeps its state (cluster record, access rules, API key
hashes, deployed APIs) in Secrets of --namespace, so a rescheduled pod loses nothing, and runs
APIs as Deployments in --apis-namespace; it uses the pod's ServiceAccount (in-cluster
configuration) unless --kubeconfig is given, and needs --tls-cert-file.

Settings come from --config (YAML, keys as in docs/operator.md) and flags; flags win.`,
		Example: `  # against real AWS STS, any identity of the account may deploy, the creator is admin
  cortex operator serve --state-dir /var/lib/cortex --listen 0.0.0.0:8888 \
    --public-endpoint https://operator.example.com --tls-dns-name operator.example.com \
    --account-id 123456789012 --creator-arn arn:aws:iam::123456789012:user/alice

  # against an STS emulator (moto) for tests: ONLY that endpoint is accepted
  cortex operator serve --state-dir ./state --sts-test-endpoint http://127.0.0.1:5000 --account-id 123456789012

  # inside Kubernetes (what cluster up --provider kubernetes runs): state in Secrets of the
  # operator's namespace, APIs in their own; --state-dir is only scratch
  cortex operator serve --provider kubernetes --namespace cortex --apis-namespace cortex-apis \
    --api-image registry.example.com/cortex-runtime:1.0 --state-dir /tmp/cortex \
    --tls-cert-file /etc/cortex/tls/tls.crt --tls-key-file /etc/cortex/tls/tls.key`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.ctx = c.Context()
			o.changed = c.Flags().Changed
			if runF != nil {
				return runF(o)
			}
			return serveRun(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.configFile, "config", "", "YAML configuration file")
	fl.StringVar(&o.cfg.StateDir, "state-dir", "", "directory for the cluster record, access rules, TLS material and API state (required)")
	fl.StringVar(&o.cfg.Listen, "listen", "", "HTTPS listen address (default 127.0.0.1:8888)")
	fl.StringSliceVar(&o.cfg.PublicEndpoints, "public-endpoint", nil, "URL clients dial to reach this operator; repeat for several names (default: loopback at the listen port)")
	fl.StringSliceVar(&o.cfg.KubernetesAPIServers, "kubernetes-api-server", nil, "URL of a Kubernetes API server that uses this operator's TokenReview webhook (as kubectl dials it); repeat for several; turns the webhook on")
	fl.StringVar(&o.cfg.KubernetesWebhookClientCAFile, "kubernetes-webhook-client-ca-file", "", "answer the TokenReview webhook only for callers with a client certificate of this CA")
	fl.StringVar(&o.cfg.Provider, "provider", "", "local, aws or kubernetes (default local); kubernetes: state in Secrets, APIs on the kube backend")
	fl.StringVar(&o.cfg.Kubernetes.Kubeconfig, "kubeconfig", "", "provider kubernetes: kubeconfig file (default: the in-cluster configuration)")
	fl.StringVar(&o.cfg.Kubernetes.Namespace, "namespace", "", "provider kubernetes: the operator's namespace, which holds its state Secrets")
	fl.StringVar(&o.cfg.Kubernetes.APIsNamespace, "apis-namespace", "", "provider kubernetes: the namespace of the APIs")
	fl.StringVar(&o.cfg.Kubernetes.APIImage, "api-image", "", "provider kubernetes: the image the APIs' pods run")
	fl.BoolVar(&o.cfg.Kubernetes.EKSPodIdentity, "eks-pod-identity", false, "give APIs with iam_role_arn or iam_policy_arns IAM roles of their own by EKS Pod Identity associations in the EKS cluster --cluster-name (needs --account-id and the operator's own AWS credentials)")
	fl.StringArrayVar(&o.cfg.Kubernetes.APIIAM.PolicyARNs, "api-allowed-policy-arn", nil, "an IAM policy ARN APIs may name in iam_policy_arns (exact, no wildcards; repeat for several; none: APIs get no policies)")
	fl.StringArrayVar(&o.cfg.Kubernetes.APIIAM.RoleARNs, "api-allowed-role-arn", nil, "an IAM role ARN APIs may name as iam_role_arn (exact, no wildcards; repeat for several; none: APIs name no roles)")
	fl.StringVar(&o.cfg.ClusterName, "cluster-name", "", "cluster name (default cortex)")
	fl.StringVar(&o.cfg.ClusterID, "cluster-id", "", "cluster id tokens are bound to (default: made at first start, then kept)")
	fl.StringVar(&o.cfg.AccountID, "account-id", "", "the cluster's AWS account (12 digits)")
	fl.StringVar(&o.cfg.Region, "region", "", "AWS region; clients sign for its STS endpoint (default us-east-1)")
	fl.StringVar(&o.cfg.Partition, "partition", "", "AWS partition whose STS hosts are accepted: aws, aws-cn or aws-us-gov (default aws)")
	fl.StringVar(&o.cfg.CreatorARN, "creator-arn", "", "IAM ARN of the cluster's creator, always admin")
	fl.StringVar(&o.cfg.AuthMode, "auth-mode", "", "account (any identity of the account) or rules (only access rules) (default account)")
	fl.StringVar(&o.cfg.AccountRole, "account-role", "", "role of account identities in account mode: read, deploy or admin (default deploy)")
	fl.StringVar(&o.cfg.STSTestEndpoint, "sts-test-endpoint", "", "TESTS ONLY: verify tokens against this STS emulator URL instead of AWS")
	fl.StringVar(&o.cfg.LocalTokenFile, "local-token-file", "", "enable the local admin credential kept in this 0600 file (created if missing)")
	fl.StringVar(&o.cfg.TLSCertFile, "tls-cert-file", "", "your own server certificate (PEM, may include the chain)")
	fl.StringVar(&o.cfg.TLSKeyFile, "tls-key-file", "", "the key of --tls-cert-file")
	fl.StringSliceVar(&o.cfg.DNSNames, "tls-dns-name", nil, "extra DNS names or IPs for the self-managed certificate")
	fl.IntVar(&o.cfg.Connections.MaxConns, "max-conns", 0, "open connections in all; more are closed at once (default 1024)")
	fl.IntVar(&o.cfg.Connections.MaxConnsPerClient, "max-conns-per-client", 0, "open connections per client IP (default 128)")
	fl.StringVar(&o.cfg.APIs.AWSSettingsFile, "apis-aws-settings-file", "", "local provider: JSON file saying whether APIs get AWS credentials and from which profile (read at each deploy)")
	fl.StringVar(&o.cfg.APIs.Gateway, "apis-gateway", "", "where the gateway runs: embedded (in this process) or remote (cortex gateway serve, which asks this operator) (default embedded)")
	fl.StringVar(&o.cfg.APIs.GatewayClientCAFile, "apis-gateway-client-ca-file", "", "remote gateway: the CA of the gateway's client certificate (only such a caller may use the internal endpoints)")
	fl.StringSliceVar(&o.cfg.APIs.PublicEndpoints, "apis-public-endpoint", nil, "URL clients dial to reach the gateway; repeat for several (required with --apis-gateway remote)")
	fl.BoolVar(&o.cfg.APIs.PublicTLS, "apis-public-tls", false, "remote gateway: clients reach --apis-public-endpoint through a load balancer presenting a certificate from a public CA (ACM), so they verify it against their system roots, not the cluster CA")
	fl.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.BoolVar(&o.checkAWS, "check-aws-identity", false, "at start, check the operator's own AWS credentials (default chain: environment, EKS Pod Identity) with sts:GetCallerIdentity and refuse to start when they fail or belong to another account than --account-id")
	fl.StringVar(&o.cfg.LogFile, "log-file", "", "write the JSON log (audit trail included) to this file, rotated; 0600 in a private directory (default: standard error)")
	fl.IntVar(&o.cfg.LogMaxSizeMB, "log-max-size-mb", 0, "rotate --log-file when it reaches this size in MB (default 20)")
	fl.IntVar(&o.cfg.LogMaxBackups, "log-max-backups", 0, "rotated log files to keep (default 5)")
	fl.IntVar(&o.cfg.DenialLogWindowSeconds, "denial-log-window", 0, "seconds over which repeated identical denials from one address are counted into one summary line (default 60)")
	return cmd
}

func serveRun(o *ServeOptions) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", o.logLevel)
	}
	cfg := operator.Config{}
	if o.configFile != "" {
		data, err := os.ReadFile(o.configFile)
		if err != nil {
			return err
		}
		if cfg, err = operator.ParseConfigFile(data, o.configFile); err != nil {
			return err
		}
	}
	mergeFlags(o.changed, &cfg, &o.cfg)
	if cfg.StateDir == "" {
		return fmt.Errorf("--state-dir (or state_dir in --config) is required")
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return err
	}
	cfg.StateDir = abs
	if err := fsutil.EnsurePrivateDir(cfg.StateDir); err != nil {
		return err
	}
	var logOut, denialOut io.Writer = o.IO.ErrOut, o.IO.ErrOut
	if cfg.LogFile != "" {
		if cfg.LogMaxSizeMB == 0 {
			cfg.LogMaxSizeMB = operator.DefaultLogMaxSizeMB
		}
		if cfg.LogMaxBackups == 0 {
			cfg.LogMaxBackups = operator.DefaultLogMaxBackups
		}
		// Two files, each rotated on its own: the audit trail of principals (and the operator's
		// own messages), and the lines of unauthenticated traffic, which anyone can make.
		for _, lf := range []struct {
			path string
			out  *io.Writer
		}{{cfg.LogFile, &logOut}, {operator.DenialLogFile(cfg.LogFile), &denialOut}} {
			w, err := operator.OpenLogFile(lf.path, cfg.LogMaxSizeMB, cfg.LogMaxBackups)
			if err != nil {
				return fmt.Errorf("log_file: %w", err)
			}
			defer w.Close()
			*lf.out = w
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	cfg.Logger = slog.New(slog.NewJSONHandler(logOut, opts))
	cfg.DenialLogger = slog.New(slog.NewJSONHandler(denialOut, opts))
	if o.checkAWS {
		if err := checkAWS(o.ctx, cfg); err != nil {
			return err
		}
	}
	srv, err := operator.New(cfg)
	if err != nil {
		return err
	}
	return srv.Run(o.ctx, func(addr net.Addr) {
		// Tell a supervisor (cluster up, tests) where we listen, also for --listen host:0.
		_ = fsutil.WriteFileAtomic(filepath.Join(cfg.StateDir, "operator.addr"), []byte(addr.String()+"\n"))
	})
}

// checkAWS makes the operator's first AWS call with the SDK's default credential chain: the
// variables of the cluster credentials' Secret, or EKS Pod Identity's endpoint.
func checkAWS(ctx context.Context, cfg operator.Config) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.STSTestEndpoint != "" {
		// TESTS ONLY: the operator's own check goes to the STS emulator its tokens are verified
		// against (a test node has no AWS).
		opts = append(opts, config.WithBaseEndpoint(cfg.STSTestEndpoint))
	}
	awsCfg, err := awssdk.LoadConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("the operator's AWS configuration: %w", err)
	}
	self, err := operator.CheckAWSCredentials(ctx, awsCfg, cfg.AccountID)
	if err != nil {
		return err
	}
	cfg.Logger.Info("operator AWS identity", "arn", self.ARN)
	return nil
}

// mergeFlags copies the flags the user set over the file's values.
func mergeFlags(changed func(string) bool, dst, src *operator.Config) {
	set := func(name string, d *string, v string) {
		if changed(name) {
			*d = v
		}
	}
	set("state-dir", &dst.StateDir, src.StateDir)
	set("listen", &dst.Listen, src.Listen)
	set("provider", &dst.Provider, src.Provider)
	set("kubeconfig", &dst.Kubernetes.Kubeconfig, src.Kubernetes.Kubeconfig)
	set("namespace", &dst.Kubernetes.Namespace, src.Kubernetes.Namespace)
	set("apis-namespace", &dst.Kubernetes.APIsNamespace, src.Kubernetes.APIsNamespace)
	set("api-image", &dst.Kubernetes.APIImage, src.Kubernetes.APIImage)
	set("cluster-name", &dst.ClusterName, src.ClusterName)
	set("cluster-id", &dst.ClusterID, src.ClusterID)
	set("account-id", &dst.AccountID, src.AccountID)
	set("region", &dst.Region, src.Region)
	set("partition", &dst.Partition, src.Partition)
	set("creator-arn", &dst.CreatorARN, src.CreatorARN)
	set("auth-mode", &dst.AuthMode, src.AuthMode)
	set("account-role", &dst.AccountRole, src.AccountRole)
	set("sts-test-endpoint", &dst.STSTestEndpoint, src.STSTestEndpoint)
	set("local-token-file", &dst.LocalTokenFile, src.LocalTokenFile)
	set("tls-cert-file", &dst.TLSCertFile, src.TLSCertFile)
	set("tls-key-file", &dst.TLSKeyFile, src.TLSKeyFile)
	if changed("eks-pod-identity") {
		dst.Kubernetes.EKSPodIdentity = src.Kubernetes.EKSPodIdentity
	}
	if changed("api-allowed-policy-arn") {
		dst.Kubernetes.APIIAM.PolicyARNs = src.Kubernetes.APIIAM.PolicyARNs
	}
	if changed("api-allowed-role-arn") {
		dst.Kubernetes.APIIAM.RoleARNs = src.Kubernetes.APIIAM.RoleARNs
	}
	if changed("public-endpoint") {
		dst.PublicEndpoints = src.PublicEndpoints
	}
	if changed("kubernetes-api-server") {
		dst.KubernetesAPIServers = src.KubernetesAPIServers
	}
	set("kubernetes-webhook-client-ca-file", &dst.KubernetesWebhookClientCAFile, src.KubernetesWebhookClientCAFile)
	set("log-file", &dst.LogFile, src.LogFile)
	set("apis-aws-settings-file", &dst.APIs.AWSSettingsFile, src.APIs.AWSSettingsFile)
	set("apis-gateway", &dst.APIs.Gateway, src.APIs.Gateway)
	set("apis-gateway-client-ca-file", &dst.APIs.GatewayClientCAFile, src.APIs.GatewayClientCAFile)
	if changed("apis-public-endpoint") {
		dst.APIs.PublicEndpoints = src.APIs.PublicEndpoints
	}
	if changed("apis-public-tls") {
		dst.APIs.PublicTLS = src.APIs.PublicTLS
	}
	setInt := func(name string, d *int, v int) {
		if changed(name) {
			*d = v
		}
	}
	setInt("max-conns", &dst.Connections.MaxConns, src.Connections.MaxConns)
	setInt("max-conns-per-client", &dst.Connections.MaxConnsPerClient, src.Connections.MaxConnsPerClient)
	setInt("log-max-size-mb", &dst.LogMaxSizeMB, src.LogMaxSizeMB)
	setInt("log-max-backups", &dst.LogMaxBackups, src.LogMaxBackups)
	setInt("denial-log-window", &dst.DenialLogWindowSeconds, src.DenialLogWindowSeconds)
	if changed("tls-dns-name") {
		dst.DNSNames = src.DNSNames
	}
}
