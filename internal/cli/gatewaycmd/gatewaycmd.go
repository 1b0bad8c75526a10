// Package gatewaycmd is `cortex gateway`: running the gateway as a process of its own (on
// Kubernetes, the cortex-gateway Deployment), apart from the operator, which keeps every
// decision (see internal/gateway/remote).
package gatewaycmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/gateway"
	"github.com/cortexlabs-go/cortex/internal/gateway/remote"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
	"github.com/cortexlabs-go/cortex/internal/workload/kube/targets"
)

// NewCmdGateway returns `cortex gateway`.
func NewCmdGateway(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "gateway", Short: "Run the cortex gateway (the APIs' HTTPS front door) apart from the operator",
		Example: "  cortex gateway serve --operator https://cortex-operator.cortex.svc:8888 --apis-namespace cortex-apis ..."}
	cmd.AddCommand(NewCmdServe(f, nil))
	return cmd
}

// ServeOptions are the dependencies and flags of `cortex gateway serve`.
type ServeOptions struct {
	IO  *cmdutil.IOStreams
	ctx context.Context

	Listen                      string
	TLSCertFile, TLSKeyFile     string
	OperatorURL, OperatorCAFile string
	ClientCertFile              string
	ClientKeyFile               string
	APIsNamespace               string
	Kubeconfig                  string
	AccessLog                   string
	MaxBodyBytes                int64
	LogLevel                    string
}

// NewCmdServe returns `cortex gateway serve`.
func NewCmdServe(f *cmdutil.Factory, runF func(*ServeOptions) error) *cobra.Command {
	o := &ServeOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the APIs over HTTPS, asking the operator who may pass",
		Long: `Serve the cluster's APIs over HTTPS (TLS 1.2+) as a process of its own.

For every request the gateway asks the operator's internal endpoint whether it may pass, sending
the API's name, the client's address and the request's credential headers; the operator decides
(identity tokens, API keys, access rules, the failure limiter) and the gateway strips the
credentials before forwarding. When the operator cannot answer, requests are refused with 503
and Retry-After, never let through. The routes come from the operator too (a long poll; the last
routing table is kept while the operator is away), and the replicas' addresses from the APIs'
EndpointSlices (a watch in --apis-namespace: the gateway's ServiceAccount needs only list and
watch on endpointslices there).

The operator answers only a gateway with a client certificate of its gateway client CA
(--client-cert-file, --client-key-file; the operator's apis.gateway_client_ca_file), and the
gateway verifies the operator with --operator-ca-file. The Kubernetes client uses the pod's
service account (in-cluster), or --kubeconfig.`,
		Example: `  # as the cortex-gateway Deployment runs it (cortex cluster up --provider kubernetes)
  cortex gateway serve --listen 0.0.0.0:8443 \
    --tls-cert-file /etc/cortex/tls/tls.crt --tls-key-file /etc/cortex/tls/tls.key \
    --operator https://cortex-operator.cortex.svc:8888 --operator-ca-file /etc/cortex/client/ca.crt \
    --client-cert-file /etc/cortex/client/tls.crt --client-key-file /etc/cortex/client/tls.key \
    --apis-namespace cortex-apis`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.ctx = c.Context()
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return serveRun(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Listen, "listen", "127.0.0.1:8443", "HTTPS listen address")
	fl.StringVar(&o.TLSCertFile, "tls-cert-file", "", "the gateway's server certificate (PEM, may include the chain) (required)")
	fl.StringVar(&o.TLSKeyFile, "tls-key-file", "", "the key of --tls-cert-file (required)")
	fl.StringVar(&o.OperatorURL, "operator", "", "the operator's URL, https://host:port (required)")
	fl.StringVar(&o.OperatorCAFile, "operator-ca-file", "", "the CA that signed the operator's certificate (PEM) (required)")
	fl.StringVar(&o.ClientCertFile, "client-cert-file", "", "the gateway's client certificate for the operator (PEM) (required)")
	fl.StringVar(&o.ClientKeyFile, "client-key-file", "", "the key of --client-cert-file (required)")
	fl.StringVar(&o.APIsNamespace, "apis-namespace", "", "the Kubernetes namespace of the APIs, whose EndpointSlices give the targets (required)")
	fl.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster configuration, else the usual kubeconfig)")
	fl.StringVar(&o.AccessLog, "access-log", "-", "file for the JSON access log, one line per request (- : standard output)")
	fl.Int64Var(&o.MaxBodyBytes, "max-body-bytes", 0, "largest request body accepted (default 32 MiB)")
	fl.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func (o *ServeOptions) validate() error {
	for _, r := range []struct{ flag, v string }{
		{"--tls-cert-file", o.TLSCertFile}, {"--tls-key-file", o.TLSKeyFile}, {"--operator", o.OperatorURL},
		{"--operator-ca-file", o.OperatorCAFile}, {"--client-cert-file", o.ClientCertFile},
		{"--client-key-file", o.ClientKeyFile}, {"--apis-namespace", o.APIsNamespace},
	} {
		if r.v == "" {
			return fmt.Errorf("%s is required", r.flag)
		}
	}
	if errs := validation.IsDNS1123Label(o.APIsNamespace); len(errs) > 0 {
		return fmt.Errorf("--apis-namespace %q: %s", o.APIsNamespace, errs[0])
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return fmt.Errorf("--listen %q is not host:port", o.Listen)
	}
	if o.MaxBodyBytes < 0 {
		return errors.New("--max-body-bytes must not be negative")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", o.LogLevel)
	}
	return nil
}

// operatorTLS verifies the operator with the CA file and presents the gateway's client
// certificate.
func (o *ServeOptions) operatorTLS() (*tls.Config, error) {
	caPEM, err := os.ReadFile(o.OperatorCAFile)
	if err != nil {
		return nil, fmt.Errorf("--operator-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("--operator-ca-file: %s holds no PEM certificate", o.OperatorCAFile)
	}
	cert, err := tls.LoadX509KeyPair(o.ClientCertFile, o.ClientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--client-cert-file/--client-key-file: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert}}, nil
}

func kubeClient(kubeconfig string) (kubernetes.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the Kubernetes client: %w", err)
	}
	return kubernetes.NewForConfig(cfg)
}

func serveRun(o *ServeOptions) error {
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.LogLevel))
	log := slog.New(slog.NewJSONHandler(o.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	cert, err := tlsutil.LoadServer(o.TLSCertFile, o.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert-file/--tls-key-file: %w", err)
	}
	opTLS, err := o.operatorTLS()
	if err != nil {
		return err
	}
	client, err := remote.NewClient(remote.ClientOptions{OperatorURL: o.OperatorURL, TLS: opTLS,
		Logf: func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) }})
	if err != nil {
		return fmt.Errorf("--operator: %w", err)
	}
	kc, err := kubeClient(o.Kubeconfig)
	if err != nil {
		return err
	}
	syncCtx, cancel := context.WithTimeout(o.ctx, time.Minute)
	watcher, stopWatch, err := targets.Start(syncCtx, kc, o.APIsNamespace)
	cancel()
	if err != nil {
		return err
	}
	defer stopWatch()
	var accessLog io.Writer = o.IO.Out
	if o.AccessLog != "-" {
		f, err := os.OpenFile(o.AccessLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("--access-log: %w", err)
		}
		defer f.Close()
		accessLog = f
	}
	gw := gateway.New(gateway.Options{
		Targets:      watcher.Targets,
		Authorize:    client.Authorize,
		MaxBodyBytes: o.MaxBodyBytes,
		AccessLog:    accessLog,
		ErrorLog:     func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) },
	})
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	log.Info("gateway listening", "addr", "https://"+ln.Addr().String(), "operator", o.OperatorURL, "apis_namespace", o.APIsNamespace)
	return remote.Serve(o.ctx, gw, client, ln, tlsutil.ServerConfig(cert))
}
