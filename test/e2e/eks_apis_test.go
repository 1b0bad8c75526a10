//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/testutil/awstest"
	"github.com/cortexlabs-go/cortex/internal/testutil/eksfake"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// This file is TestEKSRealNode's part "from an AWS account to a called API": APIs deployed and
// called through the API load balancer (docs/testing.md "EKS end to end on the real node").

// eksAPIsYAML: a `container` API running the test server image (auth iam, the default) and a
// python API on the runtime image (cluster up --api-image) that takes API keys.
const eksAPIsYAML = `- name: web
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
  auth:
    type: api_key
  replicas: 1
`

// startEKSFakeOnNode serves the EKS fake on the node's address instead of 127.0.0.1: the
// operator pod reaches it there (cluster up --aws-test-endpoint: the operator's EKS and IAM
// calls, such as a deploy's pod identity cleanup), as it reaches moto's STS.
func startEKSFakeOnNode(t *testing.T, opts eksfake.Options) *eksfake.Server {
	t.Helper()
	s := eksfake.New(opts)
	l, err := net.Listen("tcp", net.JoinHostPort(kubetest.RealNodeIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// checkAPIsThroughAPILoadBalancer deploys the APIs as the creator, waits until they are live and
// calls them with `cortex call` at the endpoints the operator reports: the API load balancer's
// name, which lbProxy follows to target group port 30443 and the gateway Service. The gateway
// pods reach the operator by its Service's name (the install's hosts entry) at its cluster IP,
// which ForwardService makes reachable as kube-proxy would.
func checkAPIsThroughAPILoadBalancer(t *testing.T, k *kubetest.Cluster, c *cluster, proxy *lbProxy, creator, outsider awstest.User) {
	t.Helper()
	ctx := context.Background()
	k.ForwardService(t, install.DefaultNamespace, install.OperatorName)
	as := func(u awstest.User, kv ...string) *cluster {
		return newClusterEnv(c, append([]string{"CORTEX_ENV=" + eksClusterName, "CORTEX_API_KEY=", "AWS_ACCESS_KEY_ID=" + u.Creds.AccessKeyID,
			"AWS_SECRET_ACCESS_KEY=" + u.Creds.SecretAccessKey, "AWS_SESSION_TOKEN=" + u.Creds.SessionToken}, kv...)...)
	}
	me := as(creator)
	diag := func() string {
		return fmt.Sprintf("proxy:\n%s\noperator:\n%s\ngateway:\n%s\napis:\n%s", proxy.log(), operatorPodLog(ctx, k),
			podLogs(ctx, k, install.DefaultNamespace, install.LabelName+"="+install.GatewayName), podLogs(ctx, k, install.DefaultNamespace+"-apis", ""))
	}

	dir := t.TempDir()
	spec := filepath.Join(dir, "cortex.yaml")
	writeFile(t, spec, fmt.Sprintf(eksAPIsYAML, k.Node.Images["testserver"]))
	writeFile(t, filepath.Join(dir, "handler.py"), pythonHandler)
	begin := time.Now()
	if out, errOut, code := me.run("deploy", spec); code != 0 {
		t.Fatalf("cortex deploy: exit %d\n%s%s\n%s", code, out, errOut, diag())
	}
	for _, api := range []string{"web", "py"} {
		wait, cancel := context.WithTimeout(ctx, 3*time.Minute) // bounds a broken build only
		err := kubetest.Poll(wait, 200*time.Millisecond, func() (bool, error) { return me.get(api).Status == "live", nil })
		cancel()
		if err != nil {
			t.Fatalf("api %s live: %v (status %+v)\n%s", api, err, me.get(api), diag())
		}
	}
	t.Logf("container and python APIs live in %s", time.Since(begin).Round(10*time.Millisecond))

	// The endpoints the operator reports are the API load balancer's name (not the operator's).
	e := cliEnvironment(t, c.configDir, eksClusterName)
	for _, api := range []string{"web", "py"} {
		ep := me.get(api).Endpoint
		u, err := url.Parse(ep)
		op, _ := url.Parse(e.OperatorEndpoint)
		if err != nil || u.Scheme != "https" || !strings.HasSuffix(u.Hostname(), ".elb.amazonaws.com") || u.Hostname() == op.Hostname() || u.Path != "/"+api {
			t.Fatalf("api %s endpoint %q: want the API load balancer's name", api, ep)
		}
	}

	// auth iam (the default): the creator's token for the gateway's URL passes. The gateway
	// learns routes from the operator by long poll, a moment after the operator says live (after
	// the rollout of the operator above, the gateway first follows it to the new pod): until
	// then it answers 404 "no API at"; anything else ends the wait.
	begin = time.Now()
	var out, errOut string
	var code int
	routed, cancelRouted := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelRouted()
	_ = kubetest.Poll(routed, 100*time.Millisecond, func() (bool, error) {
		out, errOut, code = me.run("call", "web", "--path", "/hello", `{"a":1}`)
		return code == 0 || !strings.Contains(out+errOut, "no API at /web"), nil
	})
	if code != 0 || !strings.Contains(out, `"server":"cortex-testserver"`) || !strings.Contains(out, `"path":"/hello"`) {
		t.Fatalf("cortex call web as the creator: exit %d %s %s\n%s", code, out, errOut, diag())
	}
	t.Logf("cortex call web through the API load balancer in %s: %s", time.Since(begin).Round(time.Millisecond), strings.TrimSpace(out))
	if !strings.Contains(proxy.log(), "port 30443 -> cortex/cortex-gateway -> ") {
		t.Errorf("cortex call did not go listener -> target group 30443 -> the gateway Service:\n%s", proxy.log())
	}
	// Another account's identity has no role on the cluster: the gateway refuses it (the operator
	// asked moto's STS who it is).
	if out, errOut, code := as(outsider).run("call", "web", `{"a":1}`); code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("cortex call web as another account's identity: exit %d %s %s", code, out, errOut)
	}

	// auth api_key: a key the creator made opens the python API; a wrong key is refused.
	key := strings.TrimSpace(me.must("api-key", "create", "e2e", "--api", "py"))
	if !strings.HasPrefix(key, "cxk_") {
		t.Fatalf("api-key create: %q", key)
	}
	out, errOut, code = as(creator, "CORTEX_API_KEY="+key).run("call", "py", `{"n":14}`)
	if code != 0 || (!strings.Contains(out, `"product": 42`) && !strings.Contains(out, `"product":42`)) || !strings.Contains(out, `"py"`) {
		t.Fatalf("cortex call py with its key: exit %d %s %s\n%s", code, out, errOut, diag())
	}
	t.Logf("cortex call py (api_key) through the API load balancer: %s", strings.TrimSpace(out))
	wrong := key[:len(key)-1] + map[bool]string{true: "A", false: "B"}[!strings.HasSuffix(key, "A")]
	if out, errOut, code := as(creator, "CORTEX_API_KEY="+wrong).run("call", "py", `{"n":14}`); code == 0 || !strings.Contains(errOut, "401") {
		t.Errorf("cortex call py with a wrong key: exit %d %s %s", code, out, errOut)
	}
}
