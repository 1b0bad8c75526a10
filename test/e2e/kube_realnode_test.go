//go:build linux

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/testutil/motoserver"
)

// containerAPIYAML is a `container` API running the test server image (imported into the node).
const containerAPIYAML = `- name: web
  kind: RealtimeAPI
  handler:
    type: container
    image: %s
    port: 8080
    health_check_path: /healthz
  replicas: 1
- name: py
  kind: RealtimeAPI
  handler:
    type: python
    path: handler.py
    config:
      factor: 3
  replicas: 1
`

// pythonHandler is the python API's handler: its answer is derived from the payload and the
// config, so the call proves the project's code (from the deploy's ConfigMap) ran.
const pythonHandler = `import os


class Handler:
    def __init__(self, config):
        self.factor = config["factor"]

    def handle_post(self, payload):
        return {"product": payload["n"] * self.factor, "api": os.environ.get("CORTEX_API_NAME")}
`

// TestKubernetesRealNode installs cortex with the real CLI onto a control plane whose node is a
// real kubelet with containerd: the operator runs as a pod from the cortex image (loaded from its
// OCI archive), answers over TLS verified with the CA that `cluster up` pinned, then a `container`
// API running the test server is deployed and called through the gateway, and `cluster down`
// leaves no cortex object.
//
// The Services are ClusterIP and this machine has no kube-proxy (no iptables): the test makes
// the operator's and the gateway's cluster IPs reachable from the host with
// kubetest.ForwardService, which copies bytes (TLS included) to the Services' ready endpoints, so
// the CLI dials the very URL the environment and the operator's --public-endpoint name, and the
// token audience matches. The operator pod reaches the API server at its real address
// (--api-server-address), for the same reason, and verifies tokens against moto's STS on the
// node's address (--sts-test-endpoint); the gateway pods reach the operator's cluster IP by a
// hosts entry (no cluster DNS on this node).
func TestKubernetesRealNode(t *testing.T) {
	k := kubetest.StartWith(t, kubetest.Options{RealNode: true})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The operator pod verifies identity tokens against moto's STS (auth on), listening on the
	// node's address so that the pod reaches it; the CLI signs its tokens as an IAM user made in
	// that moto, for the same endpoint.
	moto := motoserver.Start(t, motoserver.Options{Auth: true, FreeActions: awstest.FreeActions, BindAddress: kubetest.RealNodeIP})
	admin := awstest.Bootstrap(t, moto)
	alice := awstest.CreateUser(t, admin, "alice")
	c := &cluster{t: t, configDir: t.TempDir()}
	c.env = append(os.Environ(), "CORTEX_CLI_CONFIG_DIR="+c.configDir, "CORTEX_ENV=", "KUBECONFIG="+k.Kubeconfig,
		"AWS_ACCESS_KEY_ID="+alice.Creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+alice.Creds.SecretAccessKey,
		"AWS_REGION=us-east-1", "AWS_PROFILE=", "AWS_SESSION_TOKEN=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	kube := []string{"--provider", "kubernetes", "--kubeconfig", k.Kubeconfig}

	// 1. cluster up: the operator becomes Available on the real node.
	begin := time.Now()
	up := append([]string{"cluster", "up"}, kube...)
	up = append(up, "--image", k.Node.Images["cortex"], "--api-image", k.Node.Images["python-runtime"], "--service-type", "ClusterIP",
		"--api-server-address", strings.TrimPrefix(k.Config.Host, "https://"), "--wait-timeout", "150s",
		"--sts-test-endpoint", moto.URL, "--account-id", "123456789012") // moto's account
	if out, errOut, code := c.run(up...); code != 0 {
		t.Fatalf("cortex %s: exit %d\n%s%s\n%s", strings.Join(up, " "), code, out, errOut, operatorPodLog(ctx, k))
	}
	t.Logf("cluster up (operator Available on the real node) in %s", time.Since(begin).Round(10*time.Millisecond))
	downDone := false
	t.Cleanup(func() {
		if !downDone {
			_, _, _ = c.run(append([]string{"cluster", "down", "--yes"}, kube...)...)
		}
	})

	pods, err := k.Client.CoreV1().Pods(install.DefaultNamespace).List(ctx, metav1.ListOptions{LabelSelector: install.LabelName + "=" + install.OperatorName})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("operator pods: %v %d", err, len(pods.Items))
	}
	op := pods.Items[0]
	if op.Spec.NodeName != kubetest.RealNodeName || !podReady(&op) {
		t.Fatalf("operator pod %s: node %q, ready %v", op.Name, op.Spec.NodeName, podReady(&op))
	}
	env := map[string]string{}
	for _, e := range op.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["KUBERNETES_SERVICE_HOST"] != kubetest.RealNodeIP {
		t.Errorf("operator env %v: want KUBERNETES_SERVICE_HOST=%s", env, kubetest.RealNodeIP)
	}

	// 2. The environment names the operator's Service address and pins the CA: the operator
	// answers there over verified TLS.
	for _, svc := range []string{install.OperatorName, install.GatewayName} {
		k.ForwardService(t, install.DefaultNamespace, svc)
	}
	e := cliEnvironment(t, c.configDir, install.DefaultNamespace)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(e.CACert)) {
		t.Fatalf("environment %s has no CA", e.Name)
	}
	verified := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := verified.Get(e.OperatorEndpoint + "/healthz")
	if err != nil {
		t.Fatalf("operator at %s: %v", e.OperatorEndpoint, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("operator /healthz: %s %s", resp.Status, body)
	}
	t.Logf("operator answers at %s over TLS verified with the pinned CA", e.OperatorEndpoint)

	// 3. Deploy the container API and call it through the gateway.
	dir := t.TempDir()
	spec := filepath.Join(dir, "cortex.yaml")
	writeFile(t, spec, fmt.Sprintf(containerAPIYAML, k.Node.Images["testserver"]))
	writeFile(t, filepath.Join(dir, "handler.py"), pythonHandler)
	begin = time.Now()
	if out, errOut, code := c.run("deploy", spec); code != 0 {
		t.Fatalf("cortex deploy: exit %d\n%s%s\noperator log:\n%s", code, out, errOut, operatorPodLog(ctx, k))
	}
	for _, api := range []string{"web", "py"} {
		live := func() (bool, error) { return c.get(api).Status == "live", nil }
		wait, cancel := context.WithTimeout(ctx, 3*time.Minute) // bounds a broken build only
		err := kubetest.Poll(wait, 200*time.Millisecond, live)
		cancel()
		if err != nil {
			t.Fatalf("api %s live: %v (status %+v)\n%s", api, err, c.get(api), podLogs(ctx, k, install.DefaultNamespace+"-apis", ""))
		}
	}
	t.Logf("container and python APIs live in %s", time.Since(begin).Round(10*time.Millisecond))
	// The API's endpoint is the gateway Service's address (the gateway's public endpoint, which
	// its certificate covers and `cortex call` verifies with the pinned CA).
	gw, err := k.Client.CoreV1().Services(install.DefaultNamespace).Get(ctx, install.GatewayName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.get("web"); !strings.HasPrefix(st.Endpoint, "https://"+gw.Spec.ClusterIP+":443/") {
		t.Fatalf("api web endpoint %q, want the gateway Service's https://%s:443/...", st.Endpoint, gw.Spec.ClusterIP)
	}
	out := c.must("call", "web", "--path", "/hello", `{"a":1}`)
	if !strings.Contains(out, `"server":"cortex-testserver"`) || !strings.Contains(out, `"path":"/hello"`) {
		t.Fatalf("cortex call web: %s", out)
	}
	t.Logf("cortex call web answered through the gateway: %s", strings.TrimSpace(out))
	// The python API: the runtime image (--api-image) runs the handler from the deploy's project.
	if st := c.get("py"); !strings.HasPrefix(st.Endpoint, "https://"+gw.Spec.ClusterIP+":443/") {
		t.Fatalf("api py endpoint %q, want the gateway Service's https://%s:443/...", st.Endpoint, gw.Spec.ClusterIP)
	}
	out = c.must("call", "py", `{"n":14}`)
	if !strings.Contains(out, `"product": 42`) && !strings.Contains(out, `"product":42`) || !strings.Contains(out, `"py"`) {
		t.Fatalf("cortex call py: %s", out)
	}
	t.Logf("cortex call py answered through the gateway: %s", strings.TrimSpace(out))
	// The operator pod really asks moto's STS: a key moto does not know gets nothing.
	stranger := newClusterEnv(c, "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7NOTREAL", "AWS_SECRET_ACCESS_KEY=wrong")
	if _, errOut, code := stranger.run("get"); code == 0 || !strings.Contains(errOut, "401") {
		t.Fatalf("unknown credentials: exit %d %s", code, errOut)
	}

	// 4. cluster down leaves no cortex object.
	finishDown(t, c, k, kube, &downDone)
}

// finishDown runs cluster down and checks that no Deployment, Service or pod of cortex is left.
func finishDown(t *testing.T, c *cluster, k *kubetest.Cluster, kube []string, done *bool) {
	t.Helper()
	c.must(append([]string{"cluster", "down", "--yes"}, kube...)...)
	*done = true
	checkNoCortexObjects(t, k)
}

// checkNoCortexObjects waits until no Deployment, Service or pod of cortex is left.
func checkNoCortexObjects(t *testing.T, k *kubetest.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	managed := metav1.ListOptions{LabelSelector: install.LabelManagedBy + "=" + install.ManagedBy}
	err := kubetest.Poll(ctx, 200*time.Millisecond, func() (bool, error) {
		for _, ns := range []string{install.DefaultNamespace, install.DefaultNamespace + "-apis"} {
			deps, err := k.Client.AppsV1().Deployments(ns).List(ctx, managed)
			if err != nil {
				return false, err
			}
			svcs, err := k.Client.CoreV1().Services(ns).List(ctx, managed)
			if err != nil {
				return false, err
			}
			pods, err := k.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			if n := len(deps.Items) + len(svcs.Items) + len(pods.Items); n > 0 {
				return false, fmt.Errorf("%s: %d deployments, %d services, %d pods left", ns, len(deps.Items), len(svcs.Items), len(pods.Items))
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("after cluster down: %v", err)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// cliEnvironment reads the environment `cluster up` wrote.
func cliEnvironment(t *testing.T, configDir, name string) cliconfig.Environment {
	t.Helper()
	cfg, err := cliconfig.Load(configDir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := cfg.Get(name)
	if err != nil {
		t.Fatalf("environment %s: %v", name, err)
	}
	return *e
}

// operatorPodLog is the operator pod's log through pods/log (the kubelet of the real node).
func operatorPodLog(ctx context.Context, k *kubetest.Cluster) string {
	return podLogs(ctx, k, install.DefaultNamespace, install.LabelName+"="+install.OperatorName)
}

// podLogs is the state and the log of the pods of a namespace that match selector.
func podLogs(ctx context.Context, k *kubetest.Cluster, ns, selector string) string {
	// The caller's context may be the one that expired.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	pods, err := k.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(pods.Items) == 0 {
		return fmt.Sprintf("(no pod in %s matching %q: %v)", ns, selector, err)
	}
	var b strings.Builder
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "--- pod %s (%s, node %q):\n", p.Name, p.Status.Phase, p.Spec.NodeName)
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "  %s ready=%v restarts=%d state=%+v\n", cs.Name, cs.Ready, cs.RestartCount, cs.State)
		}
		rc, err := k.Client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{}).Stream(ctx)
		if err != nil {
			fmt.Fprintf(&b, "  (log: %v)\n", err)
			continue
		}
		data, _ := io.ReadAll(io.LimitReader(rc, 8<<10))
		rc.Close()
		b.Write(data)
	}
	return b.String()
}
