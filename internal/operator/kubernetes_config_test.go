package operator_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/apiidentity"
	"github.com/cortexlabs-go/cortex/internal/operator"
)

// Every field of the kubernetes provider is checked, and the error names it; none of them is
// accepted with another provider (a namespace that silently does nothing is a misconfiguration).
func TestKubernetesConfigValidation(t *testing.T) {
	dir := t.TempDir()
	good := func() operator.Config {
		return operator.Config{Provider: "kubernetes", TLSCertFile: "c.pem", TLSKeyFile: "k.pem",
			Kubernetes: operator.KubernetesConfig{Namespace: "cortex", APIsNamespace: "cortex-apis", APIImage: "img:1",
				Kubeconfig: filepath.Join(dir, "missing-kubeconfig")}}
	}
	for _, tc := range []struct {
		mut  func(*operator.Config)
		want string
	}{
		{func(c *operator.Config) { c.Provider = "k8s" }, `provider: "k8s" is not local, aws or kubernetes`},
		{func(c *operator.Config) { c.Kubernetes.Namespace = "" }, "kubernetes.namespace: required with provider kubernetes"},
		{func(c *operator.Config) { c.Kubernetes.Namespace = "Cortex_NS" }, "kubernetes.namespace: \"Cortex_NS\" is not a namespace name"},
		{func(c *operator.Config) { c.Kubernetes.APIsNamespace = "" }, "kubernetes.apis_namespace: required"},
		{func(c *operator.Config) { c.Kubernetes.APIsNamespace = "a.b" }, "kubernetes.apis_namespace: \"a.b\" is not a namespace name"},
		{func(c *operator.Config) { c.Kubernetes.APIsNamespace = "cortex" }, "kubernetes.apis_namespace: must differ"},
		{func(c *operator.Config) { c.Kubernetes.APIImage = "" }, "kubernetes.api_image: required"},
		{func(c *operator.Config) { c.TLSCertFile, c.TLSKeyFile = "", "" }, "tls_cert_file: required with provider kubernetes"},
		{func(c *operator.Config) { c.Provider = "local" }, "kubernetes.kubeconfig: only with provider kubernetes"},
		{func(c *operator.Config) { c.Provider, c.Kubernetes = "aws", operator.KubernetesConfig{APIImage: "x"} }, "kubernetes.api_image: only with provider kubernetes"},
		{func(c *operator.Config) { c.Kubernetes.EKSPodIdentity = true }, "kubernetes.eks_pod_identity: needs account_id"},
		{func(c *operator.Config) {
			c.Provider, c.Kubernetes = "local", operator.KubernetesConfig{EKSPodIdentity: true}
		}, "kubernetes.eks_pod_identity: only on Kubernetes"},
		{func(c *operator.Config) {
			c.Kubernetes.APIIAM.PolicyARNs = []string{"arn:aws:iam::aws:policy/*"}
		}, `kubernetes.api_iam.allowed_policy_arns[0]: "arn:aws:iam::aws:policy/*": wildcards are not allowed`},
		{func(c *operator.Config) {
			c.Kubernetes.APIIAM.RoleARNs = []string{"arn:aws:iam::123456789012:role/r", "arn:aws:iam::123456789012:role/r"}
		}, `kubernetes.api_iam.allowed_role_arns[1]: "arn:aws:iam::123456789012:role/r" is listed twice`},
		{func(c *operator.Config) {
			c.Provider, c.Kubernetes = "local", operator.KubernetesConfig{APIIAM: apiidentity.Allowed{RoleARNs: []string{"arn:aws:iam::123456789012:role/r"}}}
		}, "kubernetes.api_iam: only on Kubernetes"},
		// All fields valid: the kubeconfig is read (and is missing here).
		{func(c *operator.Config) {}, "kubernetes.kubeconfig: stat " + filepath.Join(dir, "missing-kubeconfig")},
		// Provider aws with kubernetes.namespace is the operator `cluster up --provider aws` puts
		// into EKS: the same checks, and it gets as far as reading the kubeconfig.
		{func(c *operator.Config) { c.Provider = "aws" }, "kubernetes.kubeconfig: stat " + filepath.Join(dir, "missing-kubeconfig")},
		{func(c *operator.Config) { c.Provider, c.Kubernetes.APIsNamespace = "aws", "" }, "kubernetes.apis_namespace: required"},
	} {
		cfg := good()
		cfg.StateDir = dir
		tc.mut(&cfg)
		if _, err := operator.New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}
