package kubecluster

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/fsutil"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// WebhookConfigOptions are the dependencies and flags of `cortex cluster webhook-config`.
type WebhookConfigOptions struct {
	IO *cmdutil.IOStreams
	Target

	// Server is the operator's URL as the API server reaches it (default: the operator
	// Service's address, as cluster up found it).
	Server string
	// Output is the file to write (0600); standard output when empty.
	Output string

	ctx context.Context
}

// defaultWebhookConfigFile is where the printed flags say the file goes when --output is not given.
const defaultWebhookConfigFile = "/etc/kubernetes/cortex-webhook.kubeconfig"

// NewCmdWebhookConfig returns `cortex cluster webhook-config`.
func NewCmdWebhookConfig(f *cmdutil.Factory, runF func(*WebhookConfigOptions) error) *cobra.Command {
	o := &WebhookConfigOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "webhook-config [--output FILE]",
		Short: "Print the kube-apiserver webhook config file of an install with --iam-webhook",
		Long: `Print the authentication webhook config file (kubeconfig format) that a self-managed cluster's
kube-apiserver needs to ask the cortex operator who a kubectl user is
(--authentication-token-webhook-config-file): the operator's webhook URL, the CA of its certificate,
and the client certificate and key the API server presents (made by cortex cluster up
--provider kubernetes --iam-webhook, read from the Secret cortex-webhook with your kubeconfig).
The flags to add to kube-apiserver are printed on standard error.

The file holds a private key: --output writes it with mode 0600. Put it on every control-plane
node, readable by kube-apiserver only. It changes when cluster up renews the client certificate
(30 days before it expires, after a year): run this again then.`,
		Example: `  cortex cluster webhook-config --output cortex-webhook.kubeconfig
  cortex cluster webhook-config --context prod --server https://cortex-operator.internal:8888 --output cortex-webhook.kubeconfig`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.ctx = c.Context()
			if runF != nil {
				return runF(o)
			}
			return webhookConfigRun(o)
		},
	}
	o.Target.addFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.Server, "server", "", "the operator's URL as the API server reaches it (default: the operator Service's address); its certificate must cover the host")
	fl.StringVar(&o.Output, "output", "", "write to this `FILE` (0600) instead of standard output")
	return cmd
}

func webhookConfigRun(o *WebhookConfigOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	w, operatorCA, err := install.LoadWebhook(o.ctx, c, o.Namespace)
	if err != nil {
		return err
	}
	server := o.Server
	if server == "" {
		e, err := endpoints(o.ctx, c, o.Namespace)
		if err != nil {
			return err
		}
		if e.operator == "" {
			return fmt.Errorf("the Service %s/%s has no address yet: give the operator's URL with --server", o.Namespace, install.OperatorName)
		}
		server = e.operator
	}
	data, err := install.WebhookConfig(server, operatorCA, w)
	if err != nil {
		return err
	}
	file := defaultWebhookConfigFile
	if o.Output == "" {
		if _, err := o.IO.Out.Write(data); err != nil {
			return err
		}
	} else {
		if err := fsutil.WriteFileAtomic(o.Output, data); err != nil {
			return err
		}
		if file, err = filepath.Abs(o.Output); err != nil {
			return err
		}
		fmt.Fprintf(o.IO.ErrOut, "wrote %s (mode 0600: it holds the API server's client key)\n", o.Output)
	}
	fmt.Fprintf(o.IO.ErrOut, `Add to kube-apiserver (with the file at %s on every control-plane node;
a kube-apiserver static pod must mount it, e.g. a hostPath volume):
  --authentication-token-webhook-config-file=%s
  --authentication-token-webhook-version=v1
  --authentication-token-webhook-cache-ttl=10s
(the cache TTL is the longest a revoked identity keeps working; the default is 2m)
`, file, file)
	return nil
}
