package operatorcmd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/operator"
)

// Flags win over --config; both land in the operator's configuration.
func TestServeOptions(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "operator.yaml")
	_ = os.WriteFile(conf, []byte("state_dir: /from/file\nlisten: 127.0.0.1:1\napis:\n  aws_settings_file: /file/apis-aws.json\n"), 0o600)
	f, _, _ := cmdutil.TestFactory(dir, "", false)
	var got *ServeOptions
	err := cmdutil.ExecuteTest(NewCmdServe(f, func(o *ServeOptions) error { got = o; return nil }),
		"--config", conf, "--listen", "127.0.0.1:2", "--apis-aws-settings-file", "/flag/apis-aws.json")
	if err != nil {
		t.Fatal(err)
	}
	if got.configFile != conf || !got.changed("listen") || got.changed("state-dir") || got.cfg.APIs.AWSSettingsFile != "/flag/apis-aws.json" {
		t.Fatalf("%+v", got)
	}
	// The kubernetes provider's flags and their --config keys.
	_ = os.WriteFile(conf, []byte("state_dir: /from/file\nprovider: kubernetes\nkubernetes:\n  namespace: file-ns\n  apis_namespace: file-apis\n  api_image: file:1\n"), 0o600)
	err = cmdutil.ExecuteTest(NewCmdServe(f, func(o *ServeOptions) error { got = o; return nil }),
		"--config", conf, "--kubeconfig", "/k/config", "--apis-namespace", "flag-apis")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(conf)
	cfg, err := operator.ParseConfigFile(data, conf)
	if err != nil {
		t.Fatal(err)
	}
	mergeFlags(got.changed, &cfg, &got.cfg)
	if k := cfg.Kubernetes; cfg.Provider != "kubernetes" || k.Namespace != "file-ns" || k.APIsNamespace != "flag-apis" || k.APIImage != "file:1" || k.Kubeconfig != "/k/config" {
		t.Fatalf("merged: %s %+v", cfg.Provider, cfg.Kubernetes)
	}
	// The allowlist of what APIs may be given: kubernetes.api_iam in the file, repeated flags win.
	_ = os.WriteFile(conf, []byte("provider: kubernetes\nkubernetes:\n  api_iam:\n    allowed_policy_arns: [\"arn:aws:iam::aws:policy/A\"]\n    allowed_role_arns: [\"arn:aws:iam::123456789012:role/file\"]\n"), 0o600)
	err = cmdutil.ExecuteTest(NewCmdServe(f, func(o *ServeOptions) error { got = o; return nil }),
		"--config", conf, "--api-allowed-role-arn", "arn:aws:iam::123456789012:role/a", "--api-allowed-role-arn", "arn:aws:iam::123456789012:role/b")
	if err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(conf)
	if cfg, err = operator.ParseConfigFile(data, conf); err != nil {
		t.Fatal(err)
	}
	mergeFlags(got.changed, &cfg, &got.cfg)
	if a := cfg.Kubernetes.APIIAM; !slices.Equal(a.PolicyARNs, []string{"arn:aws:iam::aws:policy/A"}) ||
		!slices.Equal(a.RoleARNs, []string{"arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b"}) {
		t.Fatalf("api_iam merged: %+v", a)
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--state-dir", dir, "--provider", "kubernetes", "--apis-namespace", "a", "--api-image", "i", "--tls-cert-file", "c", "--tls-key-file", "k"},
			"kubernetes.namespace: required with provider kubernetes"},
		{[]string{"--state-dir", dir, "--namespace", "cortex"}, "kubernetes.namespace: only with provider kubernetes"},
		{nil, "--state-dir (or state_dir in --config) is required"},
		{[]string{"--state-dir", dir, "--log-level", "loud"}, "invalid --log-level"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{[]string{"extra"}, "unknown command"},
	} {
		if err := cmdutil.ExecuteTest(NewCmdServe(f, nil), tc.args...); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.err)
		}
	}
}
