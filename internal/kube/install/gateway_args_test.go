package install_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cortexlabs-go/cortex/internal/apitypes"
	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cli/gatewaycmd"
	"github.com/cortexlabs-go/cortex/internal/cli/operatorcmd"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// lockedBuffer is a goroutine-safe writer (the commands' output).
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// runCmd runs a cortex command in-process until the test ends.
func runCmd(t *testing.T, name string, build func(*cmdutil.Factory) *cobra.Command, args []string) {
	t.Helper()
	f, _, _ := cmdutil.TestFactory(t.TempDir(), "", false)
	out := &lockedBuffer{}
	f.IO.Out, f.IO.ErrOut = out, out
	cmd := build(f)
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v\n%s", name, err, out.buf.String())
		} else if t.Failed() {
			t.Logf("%s:\n%s", name, out.buf.String())
		}
	})
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// testGatewayServes runs the installed operator and gateway in this process with their
// Deployments' own arguments (container paths mapped to a temporary directory; no container runs
// on kwok), the gateway's Kubernetes client impersonating its ServiceAccount: the gateway
// verifies the operator, the operator accepts the gateway's client certificate, the routes reach
// the gateway and the decisions are the operator's. (Fail-closed when the operator is away:
// internal/operator TestRemoteGatewayDecidesLikeTheEmbeddedOne.)
func testGatewayServes(t *testing.T, c *kubetest.Cluster, objs *install.Objects, ns string) {
	dir := t.TempDir()
	mount := func(secret string) string {
		d := filepath.Join(dir, secret)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, s := range objs.Secrets {
			if *s.Name == secret {
				for k, v := range s.Data {
					if err := os.WriteFile(filepath.Join(d, k), v, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		return d
	}
	opTLS, gwTLS := mount(install.TLSSecretName), mount(install.GatewayTLSSecretName)
	opPort, gwPort := freePort(t), freePort(t)
	argsOf := func(name string, repl ...string) []string {
		for _, d := range objs.Deployments {
			if *d.Name == name {
				var out []string
				r := strings.NewReplacer(repl...)
				for _, a := range d.Spec.Template.Spec.Containers[0].Args {
					out = append(out, r.Replace(a))
				}
				return out
			}
		}
		t.Fatalf("no Deployment %s", name)
		return nil
	}
	token := filepath.Join(dir, "admin.token")
	// The operator's kubeconfig: the test control plane's, as the operator's ServiceAccount (a pod
	// uses its in-cluster configuration).
	opKubeconfig := operatorKubeconfig(t, c, dir, "system:serviceaccount:"+ns+":"+install.OperatorName)
	opArgs := append(argsOf(install.OperatorName, "/etc/cortex/tls", opTLS, "/tmp/cortex", filepath.Join(dir, "state"),
		"0.0.0.0:8888", "127.0.0.1:"+strconv.Itoa(opPort)), "--local-token-file="+token, "--kubeconfig="+opKubeconfig)
	runCmd(t, "operator", func(f *cmdutil.Factory) *cobra.Command { return operatorcmd.NewCmdOperator(f) }, opArgs[1:])

	// The gateway's kubeconfig: the test control plane's, as the gateway's ServiceAccount.
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + ns + ":" + install.GatewayName
	}
	kcFile := filepath.Join(dir, "gateway.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kcFile); err != nil {
		t.Fatal(err)
	}
	gwArgs := append(argsOf(install.GatewayName, "/etc/cortex/gateway", gwTLS, "0.0.0.0:8443", "127.0.0.1:"+strconv.Itoa(gwPort),
		"https://"+install.OperatorName+"."+ns+".svc:8888", "https://127.0.0.1:"+strconv.Itoa(opPort)), "--kubeconfig="+kcFile)
	if gwArgs[0] != "gateway" || gwArgs[1] != "serve" {
		t.Fatalf("gateway args %q", gwArgs)
	}
	runCmd(t, "gateway", func(f *cmdutil.Factory) *cobra.Command { return gatewaycmd.NewCmdGateway(f) }, gwArgs[1:])

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(objs.Options().TLS.CACert)
	client := func(serverName string) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}}}
	}
	opURL, gwURL := "https://127.0.0.1:"+strconv.Itoa(opPort), "https://127.0.0.1:"+strconv.Itoa(gwPort)
	secret, err := waitFile(t, token)
	if err != nil {
		t.Fatal(err)
	}
	call := func(cl *http.Client, method, url, body, bearer string) (int, string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := cl.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	// Deploy two APIs through the operator (the kube backend writes them into the APIs'
	// namespace; kwok reports their pods ready with addresses where nothing of ours listens).
	headers, err := filepath.Abs(filepath.Join("..", "..", "operator", "testdata", "headers"))
	if err != nil {
		t.Fatal(err)
	}
	spec := func(name, auth string) string {
		p, _ := json.Marshal(headers)
		return `{"name":"` + name + `","kind":"RealtimeAPI","project_dir":` + string(p) +
			`,"handler":{"type":"command","command":["python3","server.py"]},"auth":{"type":"` + auth + `"}}`
	}
	op := client("cortex-operator." + ns + ".svc")
	var code int
	var body string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = kubetest.Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		code, body = call(op, "POST", opURL+"/v1/apis", `{"apis":[`+spec("open", "none")+","+spec("keyed", "api_key")+`]}`, apitypes.LocalTokenPrefix+secret)
		return code == 200, nil
	})
	if err != nil {
		t.Fatalf("deploy through the installed operator: %d %s", code, body)
	}
	gw := client(install.GatewayName + "." + ns + ".svc")
	// The operator's decisions, through the gateway: the keyed API wants a key, an unknown path is
	// not found, and the open API is let through to its replicas (kwok's fake pod addresses: what
	// answers there, if anything, is the network's, so only the gateway's own refusals are checked).
	want := map[string]string{"/keyed": "unauthenticated", "/missing": "not_found"}
	refusals := []string{`"unauthenticated"`, `"not_found"`, `"forbidden"`, `"authorizer_unavailable"`, `"no_ready_replica"`}
	err = kubetest.Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		for path, code := range want {
			if st, b := call(gw, "GET", gwURL+path, "", ""); !strings.Contains(b, `"`+code+`"`) {
				body = path + ": " + strconv.Itoa(st) + " " + b
				return false, nil
			}
		}
		st, b := call(gw, "GET", gwURL+"/open", "", "")
		for _, r := range refusals {
			if st == 0 || strings.Contains(b, r) {
				body = "/open: " + strconv.Itoa(st) + " " + b
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the installed gateway: %v (last: %s)", err, body)
	}
}

func waitFile(t *testing.T, path string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s string
	err := kubetest.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
		b, err := os.ReadFile(path)
		s = strings.TrimSpace(string(b))
		return err == nil && s != "", nil
	})
	return s, err
}
