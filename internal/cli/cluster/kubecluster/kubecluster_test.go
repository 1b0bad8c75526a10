package kubecluster

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

func TestFlagsParseIntoOptions(t *testing.T) {
	f, _, _ := cmdutil.TestFactory(t.TempDir(), "", false)
	for _, tc := range []struct {
		name  string
		args  []string
		check func(*UpOptions) bool
	}{
		{"defaults", []string{"--image", "i"}, func(o *UpOptions) bool {
			return o.Image == "i" && o.APIImage == "" && o.Namespace == "cortex" && o.ServiceType == "LoadBalancer" && o.WaitTimeout == 5*time.Minute &&
				o.Kubeconfig == "" && o.Context == "" && o.AuthMode == "" && o.AccountRole == ""
		}},
		{"auth", []string{"--image", "i", "--auth-mode", "account", "--account-role", "read"}, func(o *UpOptions) bool {
			return o.AuthMode == "account" && o.AccountRole == "read"
		}},
		{"rules", []string{"--image", "i", "--auth-mode", "rules"}, func(o *UpOptions) bool {
			return o.AuthMode == "rules" && o.AccountRole == ""
		}},
		{"all", []string{"--image", "i", "--kubeconfig", "k", "--context", "c", "--namespace", "team", "--service-type", "NodePort",
			"--wait-timeout", "10s", "--account-id", "123456789012", "--creator-arn", "arn:aws:iam::123456789012:user/a", "--region", "eu-west-1", "--iam-webhook",
			"--api-server-address", "10.213.0.1:6443", "--sts-test-endpoint", "http://10.213.0.1:5000", "--api-image", "reg/py:1"},
			func(o *UpOptions) bool {
				return o.APIImage == "reg/py:1" && o.APIServer == "10.213.0.1:6443" && o.STSTestEndpoint == "http://10.213.0.1:5000" && o.Kubeconfig == "k" && o.Context == "c" && o.Namespace == "team" && o.ServiceType == "NodePort" &&
					o.WaitTimeout == 10*time.Second && o.AccountID == "123456789012" && o.Region == "eu-west-1" && o.apisNamespace() == "team-apis" && o.IAMWebhook
			}},
	} {
		var got *UpOptions
		if err := cmdutil.ExecuteTest(NewCmdUp(f, func(o *UpOptions) error { got = o; return nil }), tc.args...); err != nil || !tc.check(got) {
			t.Errorf("%s: %+v %v", tc.name, got, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--service-type", "LoadBalancer"}, "--image is required"},
		{[]string{"--image", "i", "--service-type", "ExternalName"}, "invalid service type"},
		{[]string{"--image", "i", "--region", "mars-1"}, "--region"},
		{[]string{"--image", "i", "--sts-test-endpoint", "10.213.0.1:5000"}, "--sts-test-endpoint"},
		{[]string{"--image", "i", "--namespace", "Bad_NS"}, "invalid --namespace"},
		{[]string{"--image", "i", "--namespace", strings.Repeat("n", 60)}, "invalid --namespace"},
		// Refused before a client is made (no kubeconfig here): nothing is written.
		{[]string{"--image", "i", "--auth-mode", "Rules"}, `--auth-mode/--account-role: invalid auth mode "Rules": use account or rules`},
		{[]string{"--image", "i", "--auth-mode", "none"}, "use account or rules"},
		{[]string{"--image", "i", "--auth-mode", "rules "}, "use account or rules"},
		{[]string{"--image", "i", "--account-role", "admin"}, `account role: role "admin" is not offered for a whole account`},
		{[]string{"--image", "i", "--account-role", "write"}, `invalid role "write"`},
		{[]string{"--image", "i", "--auth-mode", "rules", "--account-role", "read"}, "applies only in auth mode account"},
	} {
		err := cmdutil.ExecuteTest(NewCmdUp(f, nil), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
	for _, cmd := range []*cobra.Command{NewCmdInfo(f, nil), NewCmdDown(f, nil), NewCmdWebhookConfig(f, nil)} {
		if err := cmdutil.ExecuteTest(cmd, "--namespace", "a.b"); err == nil || !strings.Contains(err.Error(), "invalid --namespace") {
			t.Errorf("%s --namespace a.b: %v", cmd.Name(), err)
		}
	}
	var wc *WebhookConfigOptions
	if err := cmdutil.ExecuteTest(NewCmdWebhookConfig(f, func(o *WebhookConfigOptions) error { wc = o; return nil }),
		"--context", "c", "--namespace", "team", "--server", "https://op:8888", "--output", "f"); err != nil ||
		wc.Context != "c" || wc.Namespace != "team" || wc.Server != "https://op:8888" || wc.Output != "f" {
		t.Errorf("webhook-config flags: %+v %v", wc, err)
	}
	if err := cmdutil.ExecuteTest(NewCmdManifests(f, nil)); err == nil || !strings.Contains(err.Error(), "--image is required") {
		t.Errorf("manifests without --image: %v", err)
	}
	for _, bad := range [][]string{{"--auth-mode", "yes"}, {"--account-role", "admin"}, {"--auth-mode", "rules", "--account-role", "deploy"}} {
		mf, out, _ := cmdutil.TestFactory(t.TempDir(), "", false)
		if err := cmdutil.ExecuteTest(NewCmdManifests(mf, nil), append([]string{"--image", "i"}, bad...)...); err == nil || !strings.Contains(err.Error(), "--auth-mode/--account-role") || out.Len() != 0 {
			t.Errorf("manifests %v: %v, output %d bytes", bad, err, out.Len())
		}
	}
	// --api-image reaches the operator's arguments (the image of python and command APIs); without
	// it the APIs run the cortex image.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--image", "reg/cortex:1", "--api-image", "reg/py:1"}, "--api-image=reg/py:1"},
		{[]string{"--image", "reg/cortex:1"}, "--api-image=reg/cortex:1"},
		{[]string{"--image", "reg/cortex:1", "--auth-mode", "rules"}, "--auth-mode=rules"},
		{[]string{"--image", "reg/cortex:1", "--auth-mode", "account", "--account-role", "read"}, "--account-role=read"},
	} {
		mf, out, _ := cmdutil.TestFactory(t.TempDir(), "", false)
		if err := cmdutil.ExecuteTest(NewCmdManifests(mf, nil), tc.args...); err != nil || !strings.Contains(out.String(), tc.want) {
			t.Errorf("manifests %v: %v, want %q in the output", tc.args, err, tc.want)
		}
	}
}

// TestUpInfoDown drives the commands against a real control plane (kwok node: the operator pod
// is scheduled and reported ready, nothing runs).
func TestUpInfoDown(t *testing.T) {
	c := kubetest.Start(t)
	dir := t.TempDir()
	f, out, errOut := cmdutil.TestFactory(dir, "", false)
	run := func(cmd func() error) {
		t.Helper()
		out.Reset()
		errOut.Reset()
		if err := cmd(); err != nil {
			t.Fatalf("%v\nstderr:\n%s", err, errOut)
		}
	}
	up := []string{"--kubeconfig", c.Kubeconfig, "--image", "cortex/cortex:test", "--service-type", "ClusterIP", "--wait-timeout", "1m",
		"--api-image", "cortex/cortex-python-runtime:test"}
	run(func() error { return cmdutil.ExecuteTest(NewCmdUp(f, nil), up...) })
	for _, want := range []string{"installing cortex in namespace cortex", "applied Role cortex-apis/cortex-operator",
		"applied Deployment cortex/cortex-operator", "waiting for Deployments cortex/cortex-operator and cortex-gateway to be available", "applied Deployment cortex/cortex-gateway"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out.String(), "auth mode account, without an account id") {
		t.Errorf("up does not say its auth mode:\n%s", out)
	}
	ctx := context.Background()
	svc, err := c.Client.CoreV1().Services("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := c.Client.CoreV1().Secrets("cortex").Get(ctx, install.TLSSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := cliconfig.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	env, err := cfg.Get("cortex")
	if err != nil {
		t.Fatal(err)
	}
	wantEndpoint := "https://" + svc.Spec.ClusterIP + ":8888"
	if env.Provider != "kubernetes" || env.OperatorEndpoint != wantEndpoint || env.CACert != string(ca.Data["ca.crt"]) ||
		env.ClusterID == "" || env.Auth != cliconfig.AuthAWS || env.STSHost != "sts.us-east-1.amazonaws.com" || env.ClusterName != "cortex" {
		t.Errorf("environment %+v, want endpoint %s", env, wantEndpoint)
	}
	d, err := c.Client.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "--public-endpoint="+wantEndpoint) || !strings.Contains(args, "--cluster-id="+env.ClusterID) ||
		!strings.Contains(args, "--api-image=cortex/cortex-python-runtime:test") || strings.Contains(args, "--auth-mode") {
		t.Errorf("operator args %s", args)
	}
	// The gateway resolves the operator's Service name to its cluster IP without cluster DNS.
	gw, err := c.Client.AppsV1().Deployments("cortex").Get(ctx, install.GatewayName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ha := gw.Spec.Template.Spec.HostAliases; len(ha) != 1 || ha[0].IP != svc.Spec.ClusterIP ||
		len(ha[0].Hostnames) != 1 || ha[0].Hostnames[0] != "cortex-operator.cortex.svc" {
		t.Errorf("gateway host aliases %+v, want cortex-operator.cortex.svc at %s", ha, svc.Spec.ClusterIP)
	}

	// Again: an upgrade in place that changes nothing.
	gen, rv := d.Generation, ca.ResourceVersion
	run(func() error { return cmdutil.ExecuteTest(NewCmdUp(f, nil), up...) })
	if !strings.Contains(errOut.String(), "upgrading cortex in namespace cortex (cluster id "+env.ClusterID+")") {
		t.Errorf("second up:\n%s", errOut)
	}
	d, _ = c.Client.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
	ca, _ = c.Client.CoreV1().Secrets("cortex").Get(ctx, install.TLSSecretName, metav1.GetOptions{})
	if d.Generation != gen || ca.ResourceVersion != rv {
		t.Errorf("second up changed the install: generation %d -> %d, secret %s -> %s", gen, d.Generation, rv, ca.ResourceVersion)
	}

	// A changed --service-type changes the address: the certificate, the operator's public
	// endpoint and the environment follow it, under the same CA.
	// A second node whose address sorts first (an ExternalIP) but that can run nothing (no
	// capacity): the Services are externalTrafficPolicy Local, so its node port would drop the
	// connection. The environment gets the node that runs the operator; the certificate and the
	// operator's public endpoints cover both nodes, so the pod moving changes nothing applied.
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "empty"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, "empty", metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: "192.0.2.9"}}
		_, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// --auth-mode rules locks the cluster down; the later runs without the flag keep it.
	nodePort := append(append([]string{}, up...), "--service-type", "NodePort", "--auth-mode", "rules")
	run(func() error { return cmdutil.ExecuteTest(NewCmdUp(f, nil), nodePort...) })
	svc, err = c.Client.CoreV1().Services("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ = cliconfig.Load(dir)
	env2, err := cfg.Get("cortex")
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != "NodePort" || !strings.HasSuffix(env2.OperatorEndpoint, ":"+strconv.Itoa(int(svc.Spec.Ports[0].NodePort))) ||
		env2.CACert != env.CACert || env2.ClusterID != env.ClusterID {
		t.Errorf("after NodePort: %s %+v", svc.Spec.Type, env2)
	}
	d, _ = c.Client.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
	port := strconv.Itoa(int(svc.Spec.Ports[0].NodePort))
	if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--public-endpoint=https://127.0.0.1:"+port) ||
		!strings.Contains(args, "--public-endpoint=https://192.0.2.9:"+port) {
		t.Errorf("operator args after NodePort: %s, want both nodes' addresses as public endpoints", args)
	}
	pods, err := c.Client.CoreV1().Pods("cortex").List(ctx, metav1.ListOptions{LabelSelector: install.LabelName + "=" + install.OperatorName})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("operator pods: %v", err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != kubetest.NodeName {
			t.Errorf("operator pod %s on node %q, want the kwok node", p.Name, p.Spec.NodeName)
		}
	}
	if env2.OperatorEndpoint != "https://127.0.0.1:"+port {
		t.Errorf("environment endpoint %s, want the node that runs the operator (https://127.0.0.1:%s), not the empty node", env2.OperatorEndpoint, port)
	}
	blk, _ := pem.Decode(mustSecret(t, c, install.TLSSecretName).Data[corev1.TLSCertKey])
	if cert, err := x509.ParseCertificate(blk.Bytes); err != nil || cert.VerifyHostname("192.0.2.9") != nil || cert.VerifyHostname("127.0.0.1") != nil {
		t.Errorf("the server certificate does not cover both nodes (%v)", err)
	}
	if !strings.Contains(out.String(), "auth mode rules: only the creator and the principals of access rules") {
		t.Errorf("up --auth-mode rules says:\n%s", out)
	}
	run(func() error { return cmdutil.ExecuteTest(NewCmdUp(f, nil), up...) })
	wantEndpoint = "https://" + svc.Spec.ClusterIP + ":8888"
	d, _ = c.Client.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
	if a := install.AuthOf(d); a != (install.Auth{Mode: "rules"}) || !strings.Contains(out.String(), "auth mode rules") {
		t.Errorf("up without --auth-mode after rules: %+v\n%s", a, out)
	}

	run(func() error {
		return cmdutil.ExecuteTest(NewCmdInfo(f, nil), "--kubeconfig", c.Kubeconfig, "-o", "json")
	})
	var info infoResult
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// 15 objects: 13, and the state Role and its binding in the operator's namespace.
	if !strings.HasPrefix(info.Operator, "available") || info.ClusterID != env.ClusterID || info.Image != "cortex/cortex:test" ||
		info.Endpoint != wantEndpoint+" (cluster IP)" || len(info.Objects) != 24 ||
		!strings.HasPrefix(info.Gateway, "available (2/2") || !strings.HasPrefix(info.GatewayURL, "https://") ||
		info.AuthMode != "rules" || info.AccountRole != "" {
		t.Errorf("info %+v", info)
	}

	// manifests: the same objects (TLS material and cluster id aside) as YAML.
	run(func() error {
		return cmdutil.ExecuteTest(NewCmdManifests(f, nil), "--image", "cortex/cortex:test", "--service-type", "ClusterIP")
	})
	var kinds []string
	for _, doc := range strings.Split(out.String(), "\n---\n") {
		var m struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name, Namespace string
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, m.Kind+" "+m.Metadata.Namespace+"/"+m.Metadata.Name)
	}
	// The replicas bound (cluster-scoped) is in them too.
	if len(kinds) != 26 || !slices.Contains(kinds, "ValidatingAdmissionPolicy /cortex-max-replicas-cortex-apis") ||
		!slices.Contains(kinds, "ValidatingAdmissionPolicyBinding /cortex-max-replicas-cortex-apis") || !strings.Contains(errOut.String(), "private keys") {
		t.Errorf("manifests: %q\n%s", kinds, errOut)
	}

	// A ConfigMap that is not cortex's survives down.
	if _, err := c.Client.CoreV1().ConfigMaps("cortex").Create(ctx, &corev1ConfigMap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Without a terminal, down needs --yes and changes nothing without it.
	err = cmdutil.ExecuteTest(NewCmdDown(f, nil), "--kubeconfig", c.Kubeconfig)
	if err == nil || !strings.Contains(err.Error(), "pass --yes") {
		t.Fatalf("down without --yes: %v", err)
	}
	if items, _ := install.Installed(ctx, c.Client, "cortex", "cortex-apis"); len(items) != 24 {
		t.Fatalf("down without --yes changed the install: %v", items)
	}
	run(func() error { return cmdutil.ExecuteTest(NewCmdDown(f, nil), "--kubeconfig", c.Kubeconfig, "--yes") })
	if !strings.Contains(out.String(), "forgot environment cortex") {
		t.Errorf("down: %s", out)
	}
	items, err := install.Installed(ctx, c.Client, "cortex", "cortex-apis")
	if err != nil || len(items) != 0 {
		t.Errorf("left: %v %v", items, err)
	}
	if _, err := c.Client.CoreV1().ConfigMaps("cortex").Get(ctx, corev1ConfigMap.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("foreign ConfigMap: %v", err)
	}
	if _, err := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, "cortex-max-replicas-cortex-apis", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the replicas policy after down: %v", err)
	}
	if _, err := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, "cortex-max-replicas-cortex-apis", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the replicas policy binding after down: %v", err)
	}
	cfg, _ = cliconfig.Load(dir)
	if _, err := cfg.Get("cortex"); err == nil {
		t.Error("environment kept")
	}
	err = cmdutil.ExecuteTest(NewCmdInfo(f, nil), "--kubeconfig", c.Kubeconfig)
	if err == nil || !strings.Contains(err.Error(), "cortex is not installed in namespace cortex") {
		t.Errorf("info after down: %v", err)
	}
}

var corev1ConfigMap = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "cortex"}}

func mustSecret(t *testing.T, c *kubetest.Cluster, name string) *corev1.Secret {
	t.Helper()
	s, err := c.Client.CoreV1().Secrets("cortex").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
