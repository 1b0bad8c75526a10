package install_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cli/operatorcmd"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// The operator Deployment's arguments are ones `cortex operator serve` accepts: it serves with
// the TLS Secret's certificate under the Services' in-cluster names, verified against the CA that
// `cluster up` pins, and keeps its state in Kubernetes with exactly the installed Roles (it runs
// as the operator's ServiceAccount, by impersonation), so that an operator started afresh on an
// empty state dir (a rescheduled pod) finds the cluster id, the access rules, the API keys and the
// APIs as they were. No pod runs on kwok, so the same arguments run in this process, with the
// container's paths (state dir, Secret mount, listen address) mapped to a temporary directory and
// two test-only additions: the kubeconfig (a pod uses its in-cluster configuration) and a local
// admin token file (to drive the operator without STS).
func TestOperatorServesWithTheInstalledArguments(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := options(t, "cortex")
	o.PublicEndpoints = []string{"https://10.0.0.5:8888"}
	objs, err := install.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := install.Apply(ctx, c.Client, objs, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range objs.Secrets[0].Data {
		if err := os.WriteFile(filepath.Join(tlsDir, k), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := operatorKubeconfig(t, c, dir, "system:serviceaccount:cortex:"+install.OperatorName)
	ctr := objs.Deployments[0].Spec.Template.Spec.Containers[0]
	// The installed operator runs the remote gateway mode (the gateway is its own Deployment,
	// exercised by TestInstall's GatewayServesWithTheInstalledArguments). This test is about the
	// operator's state, and calls an API key through a gateway: the gateway runs embedded here.
	t.Setenv("CORTEX_GATEWAY_LISTEN", "127.0.0.1:0")
	args := func(stateDir string) []string {
		var args []string
		for _, a := range ctr.Args {
			if strings.HasPrefix(a, "--apis-gateway") || strings.HasPrefix(a, "--apis-public-endpoint=") {
				continue
			}
			a = strings.Replace(a, "/etc/cortex/tls", tlsDir, 1)
			a = strings.Replace(a, "--state-dir=/tmp/cortex", "--state-dir="+stateDir, 1)
			a = strings.Replace(a, "--listen=0.0.0.0:8888", "--listen=127.0.0.1:0", 1)
			args = append(args, a)
		}
		if args[0] != "operator" || args[1] != "serve" {
			t.Fatalf("args %q", args)
		}
		return append(args, "--kubeconfig="+kubeconfig, "--local-token-file="+filepath.Join(dir, "admin.token"))
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(o.TLS.CACert)
	client := func(name string) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}}}
	}
	first := runOperator(t, args(filepath.Join(dir, "state1")))
	for _, name := range []string{"cortex-operator.cortex.svc", "cortex-operator.cortex.svc.cluster.local"} {
		resp, err := client(name).Get("https://" + first.addr + "/healthz")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: /healthz %s", name, resp.Status)
		}
	}
	token, err := operator.LoadOrCreateLocalToken(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token = operator.LocalTokenPrefix + token
	hc := client("cortex-operator.cortex.svc")
	call := func(op *runningOperator, method, path, body string, want int, out any) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+op.addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, data)
			}
		}
	}
	// gatewayStatus calls the API through the gateway with key and returns the HTTP status.
	gatewayStatus := func(op *runningOperator, key string) int {
		t.Helper()
		var api struct {
			Endpoint string `json:"endpoint"`
		}
		call(op, "GET", "/v1/apis/echo", "", 200, &api)
		u, err := url.Parse(api.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", api.Endpoint, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Host = u.Host
		resp, err := client("cortex-gateway.cortex.svc").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// The first operator: a rule, an API (api_key auth) and a key for it.
	const bob = "arn:aws:iam::123456789012:user/bob"
	// Two grants: the document is created, then updated over its version.
	call(first, "PUT", "/v1/access", `{"principal":"`+bob+`","role":"read"}`, 200, nil)
	call(first, "PUT", "/v1/access", `{"principal":"`+bob+`","role":"deploy"}`, 200, nil)
	call(first, "POST", "/v1/apis", `{"apis":[{"name":"echo","kind":"RealtimeAPI","replicas":2,
		"handler":{"type":"container","image":"registry.example.com/echo:1"},"auth":{"type":"api_key"}}]}`, 200, nil)
	var created struct {
		Key    string `json:"key"`
		APIKey struct {
			ID string `json:"id"`
		} `json:"api_key"`
	}
	call(first, "POST", "/v1/api-keys", `{"name":"ci","apis":["echo"]}`, 201, &created)
	// The key authenticates (no replica answers on kwok: 503, not 401); a wrong one does not.
	if code := gatewayStatus(first, created.Key); code == 401 || code == 403 {
		t.Fatalf("the key is refused by the first operator: %d", code)
	}
	if code := gatewayStatus(first, created.Key[:len(created.Key)-2]+"AA"); code != 401 {
		t.Fatalf("a wrong key: %d", code)
	}
	dep, err := c.Client.AppsV1().Deployments("cortex-apis").Get(ctx, "echo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first.stop()

	// Every document is a labelled Secret of the operator's namespace.
	for _, name := range []string{"cortex-state-cluster", "cortex-state-access", "cortex-state-api-keys", "cortex-state-apis"} {
		sec, err := c.Client.CoreV1().Secrets("cortex").Get(ctx, name, metav1.GetOptions{})
		if err != nil || sec.Labels["app.kubernetes.io/managed-by"] != "cortex" {
			t.Errorf("state Secret %s: %v %v", name, err, sec.Labels)
		}
	}

	// A new operator on an empty state dir: everything is still there.
	second := runOperator(t, args(filepath.Join(dir, "state2")))
	var info struct {
		Cluster struct {
			ID       string `json:"id"`
			Provider string `json:"provider"`
		} `json:"cluster"`
	}
	call(second, "GET", "/v1/info", "", 200, &info)
	if info.Cluster.ID != o.ClusterID || info.Cluster.Provider != "kubernetes" {
		t.Errorf("info: %+v", info.Cluster)
	}
	var acl struct {
		Rules []struct {
			Principal, Role string
		} `json:"rules"`
	}
	call(second, "GET", "/v1/access", "", 200, &acl)
	if len(acl.Rules) != 1 || acl.Rules[0].Principal != bob || acl.Rules[0].Role != "deploy" {
		t.Errorf("access rules after the restart: %+v", acl.Rules)
	}
	var keys struct {
		APIKeys []struct {
			ID   string   `json:"id"`
			APIs []string `json:"apis"`
		} `json:"api_keys"`
	}
	call(second, "GET", "/v1/api-keys", "", 200, &keys)
	if len(keys.APIKeys) != 1 || keys.APIKeys[0].ID != created.APIKey.ID {
		t.Errorf("API keys after the restart: %+v", keys.APIKeys)
	}
	if code := gatewayStatus(second, created.Key); code == 401 || code == 403 {
		t.Errorf("the key is refused after the restart: %d", code)
	}
	var apis struct {
		APIs []struct {
			Name     string `json:"name"`
			Replicas struct {
				Requested int `json:"requested"`
			} `json:"replicas"`
		} `json:"apis"`
	}
	call(second, "GET", "/v1/apis", "", 200, &apis)
	if len(apis.APIs) != 1 || apis.APIs[0].Name != "echo" || apis.APIs[0].Replicas.Requested != 2 {
		t.Errorf("APIs after the restart: %+v", apis.APIs)
	}
	// Restoring the API wrote nothing: the Deployment's spec is the one the first operator wrote.
	after, err := c.Client.AppsV1().Deployments("cortex-apis").Get(ctx, "echo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.UID != dep.UID || after.Generation != dep.Generation {
		t.Errorf("the Deployment changed on restart: uid %s->%s generation %d->%d", dep.UID, after.UID, dep.Generation, after.Generation)
	}
	// The operator's ServiceAccount still cannot read the CA key's Secret.
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	as, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := as.CoreV1().Secrets("cortex").Get(ctx, install.CASecretName, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the operator read the CA key's Secret: %v", err)
	}
}

type runningOperator struct {
	addr string
	stop func()
}

// runOperator runs `cortex operator serve args` in this process until the test ends or stop.
func runOperator(t *testing.T, args []string) *runningOperator {
	t.Helper()
	var stateDir string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--state-dir="); ok {
			stateDir = v
		}
	}
	f, _, _ := cmdutil.TestFactory(t.TempDir(), "", false)
	cmd := operatorcmd.NewCmdOperator(f)
	cmd.SetArgs(args[1:])
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	stopped := false
	op := &runningOperator{stop: func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("operator: %v", err)
		}
	}}
	t.Cleanup(op.stop)
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	err := kubetest.Poll(wctx, 20*time.Millisecond, func() (bool, error) {
		select {
		case err := <-done:
			done <- err
			return false, errors.New("the operator exited: " + errString(err))
		default:
		}
		b, err := os.ReadFile(filepath.Join(stateDir, "operator.addr"))
		op.addr = strings.TrimSpace(string(b))
		return err == nil && op.addr != "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// operatorKubeconfig writes a kubeconfig of the test cluster that acts as user (impersonation by
// the harness's admin): what the operator's pod gets from its ServiceAccount token.
func operatorKubeconfig(t *testing.T, c *kubetest.Cluster, dir, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = user
	}
	path := filepath.Join(dir, "operator.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
