package rbac_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cli/operatorcmd"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// TestKubectlWithTheInstalledWebhook is the opt-in IAM webhook of the install end to end: the
// webhook material and the operator Deployment's arguments that install.Build makes for
// `cluster up --iam-webhook`, the operator run with exactly those arguments (in this process: no
// pod runs on kwok, so the Secrets' files are mapped to a temporary directory, as in
// internal/kube/install TestOperatorServesWithTheInstalledArguments), and a real kube-apiserver
// started with the webhook config file install.WebhookConfig writes. Then `cortex cluster up
// --provider kubernetes --iam-webhook` upgrades that install in place and `cortex cluster
// webhook-config` must print the very file the API server runs with; kubectl with `cortex cluster
// token` works for a granted identity and not for an unmapped one.
func TestKubectlWithTheInstalledWebhook(t *testing.T) {
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	rita := awstest.CreateUser(t, admin, "rita")
	ursula := awstest.CreateUser(t, admin, "ursula")
	cortex := buildCortex(t)
	work := t.TempDir()
	const opNS = "cortex" // the install's default; its APIs' namespace is cortex-apis (ns)

	tlsm, err := install.NewTLS(opNS, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var objs *install.Objects
	var opURL string
	var webhookFile string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cluster := kubetest.StartWith(t, kubetest.Options{TokenWebhook: func(apiServer string) (string, error) {
		w, err := install.NewWebhook(apiServer, nil)
		if err != nil {
			return "", err
		}
		objs, err = install.Build(install.Options{Namespace: opNS, Image: "cortex/cortex:test", ServiceType: corev1.ServiceTypeClusterIP,
			ClusterID: "webhook-test", AccountID: "123456789012", CreatorARN: alice.ARN, TLS: tlsm, Webhook: w})
		if err != nil {
			return "", err
		}
		opURL = runInstalledOperator(t, ctx, objs, work, "--sts-test-endpoint="+moto.URL, "--auth-mode=rules")
		data, err := install.WebhookConfig(opURL, tlsm.CACert, w)
		if err != nil {
			return "", err
		}
		webhookFile = filepath.Join(work, "webhook.kubeconfig")
		return webhookFile, os.WriteFile(webhookFile, data, 0o600)
	}})
	cli := &runner{t: t, cortex: cortex, kubectl: filepath.Join(cluster.BinDir, "kubectl"), configDir: filepath.Join(work, "cortex")}
	if out, err := cli.run(alice.Creds, cortex, "cluster", "webhook-config", "--kubeconfig", cluster.Kubeconfig); err == nil || !strings.Contains(out, "--iam-webhook") {
		t.Errorf("webhook-config before any install: %v\n%s", err, out)
	}
	if err := install.Apply(ctx, cluster.Client, objs, nil); err != nil {
		t.Fatal(err)
	}
	// Re-running cluster up with the flag keeps the webhook's CA and client certificate, and the
	// API server URL it derives from the kubeconfig is the one the operator was started with.
	cli.must(alice.Creds, cortex, "cluster", "up", "--provider", "kubernetes", "--kubeconfig", cluster.Kubeconfig, "--iam-webhook",
		"--image", "cortex/cortex:test", "--service-type", "ClusterIP", "--account-id", "123456789012", "--creator-arn", alice.ARN, "--wait-timeout", "1m")
	d, err := cluster.Client.AppsV1().Deployments(opNS).Get(ctx, install.OperatorName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := identity.NormalizeAudience(cluster.Config.Host)
	if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--kubernetes-api-server="+want+" ") {
		t.Errorf("after cluster up the operator's args are %s, want --kubernetes-api-server=%s", args, want)
	}
	printed := filepath.Join(work, "printed", "webhook.kubeconfig")
	out := cli.must(alice.Creds, cortex, "cluster", "webhook-config", "--kubeconfig", cluster.Kubeconfig, "--server", opURL, "--output", printed)
	for _, flag := range []string{"--authentication-token-webhook-config-file=" + printed, "--authentication-token-webhook-version=v1",
		"--authentication-token-webhook-cache-ttl="} {
		if !strings.Contains(out, flag) {
			t.Errorf("webhook-config does not say %s:\n%s", flag, out)
		}
	}
	running, _ := os.ReadFile(webhookFile)
	if got, err := os.ReadFile(printed); err != nil || !bytes.Equal(got, running) {
		t.Fatalf("cortex cluster webhook-config printed another file than the API server runs with (%v):\n%s\n---\n%s", err, got, running)
	}
	if fi, err := os.Stat(printed); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("webhook config mode: %v %v", fi, err)
	}

	cli.must(alice.Creds, cortex, "env", "configure", "test", "--operator-endpoint", opURL, "--ca-file", filepath.Join(work, "tls", "ca.crt"))
	cli.must(alice.Creds, cortex, "-e", "test", "cluster", "access", "grant", rita.ARN, "--role", "read")
	kubeconfig := filepath.Join(work, "test.kubeconfig")
	cli.must(alice.Creds, cortex, "-e", "test", "cluster", "kubeconfig", "--from-kubeconfig", cluster.Kubeconfig, "--output", kubeconfig)
	kubectl := func(creds aws.Credentials, args ...string) (string, error) {
		return cli.run(creds, cli.kubectl, append([]string{"--kubeconfig", kubeconfig, "-n", ns}, args...)...)
	}
	if who := whoami(t, kubectl, rita.Creds); who.Username != rita.ARN || !slices.Contains(who.Groups, rbac.GroupRead) {
		t.Errorf("kubectl auth whoami: %+v", who)
	}
	if out, err := kubectl(rita.Creds, "get", "pods"); err != nil {
		t.Errorf("read: get pods: %v\n%s", err, out)
	}
	if out, err := kubectl(rita.Creds, "create", "deployment", "x", "--image=registry.example/x:1", "--dry-run=server"); err == nil || !strings.Contains(out, "forbidden") {
		t.Errorf("read created a deployment: %v\n%s", err, out)
	}
	if out, err := kubectl(ursula.Creds, "get", "pods"); err == nil || !strings.Contains(out, "Unauthorized") {
		t.Errorf("unmapped identity: %v\n%s", err, out)
	}

	// cluster down removes the webhook's Secrets with the rest.
	cli.must(alice.Creds, cortex, "cluster", "down", "--provider", "kubernetes", "--kubeconfig", cluster.Kubeconfig, "--yes")
	for _, name := range []string{install.WebhookSecretName, install.WebhookClientCASecretName} {
		if _, err := cluster.Client.CoreV1().Secrets(opNS).Get(ctx, name, metav1.GetOptions{}); err == nil {
			t.Errorf("Secret %s left after cluster down", name)
		}
	}
}

// runInstalledOperator runs `cortex operator serve` in this process with the arguments of the
// install's operator Deployment, the container's paths mapped into dir (the Secrets' files at
// dir/tls and dir/webhook, the state in dir/state), plus extra; it returns the operator's URL.
func runInstalledOperator(t *testing.T, ctx context.Context, objs *install.Objects, dir string, extra ...string) string {
	t.Helper()
	mounts := map[string]string{install.TLSSecretName: "tls", install.WebhookClientCASecretName: "webhook"}
	for _, s := range objs.Secrets {
		sub, ok := mounts[*s.Name]
		if !ok {
			continue // not mounted by the operator
		}
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
		for k, v := range s.Data {
			if err := os.WriteFile(filepath.Join(dir, sub, k), v, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	var args []string
	for _, a := range objs.Deployments[0].Spec.Template.Spec.Containers[0].Args[1:] { // [0] is "operator"
		// The operator must answer before the API server starts (the API server's webhook config
		// names it), so it cannot keep its state and APIs in that API server: this test is about
		// the webhook, and runs the installed operator on the local provider.
		switch {
		case a == "--provider=kubernetes":
			a = "--provider=local"
		case strings.HasPrefix(a, "--namespace="), strings.HasPrefix(a, "--apis-namespace="), strings.HasPrefix(a, "--api-image="),
			strings.HasPrefix(a, "--apis-gateway"), strings.HasPrefix(a, "--apis-public-endpoint="):
			continue
		}
		a = strings.Replace(a, "=/etc/cortex/tls", "="+filepath.Join(dir, "tls"), 1)
		a = strings.Replace(a, "=/etc/cortex/webhook", "="+filepath.Join(dir, "webhook"), 1)
		a = strings.Replace(a, "--state-dir=/tmp/cortex", "--state-dir="+filepath.Join(dir, "state"), 1)
		a = strings.Replace(a, "--listen=0.0.0.0:8888", "--listen=127.0.0.1:0", 1)
		args = append(args, a)
	}
	args = append(args, extra...)
	f, _, _ := cmdutil.TestFactory(dir, "", false)
	cmd := operatorcmd.NewCmdOperator(f)
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("operator: %v", err)
		}
	})
	var addr string
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	err := kubetest.Poll(wctx, 20*time.Millisecond, func() (bool, error) {
		select {
		case err := <-done:
			done <- err
			return false, errors.New("the operator exited: " + errString(err))
		default:
		}
		b, err := os.ReadFile(filepath.Join(dir, "state", "operator.addr"))
		addr = strings.TrimSpace(string(b))
		return err == nil && addr != "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return "https://" + addr
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
