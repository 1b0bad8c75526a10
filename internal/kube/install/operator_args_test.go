package install_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cli/operatorcmd"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// The operator Deployment's arguments are ones `cortex operator serve` accepts, and it serves with
// the TLS Secret's certificate under the Services' in-cluster names, verified against the CA that
// `cluster up` pins. No pod runs on kwok, so the same arguments run in this process, with the
// container's paths (state dir, Secret mount, listen address) mapped to a temporary directory.
func TestOperatorServesWithTheInstalledArguments(t *testing.T) {
	o := options(t, "cortex")
	o.PublicEndpoints = []string{"https://10.0.0.5:8888"}
	objs, err := install.Build(o)
	if err != nil {
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
	ctr := objs.Deployments[0].Spec.Template.Spec.Containers[0]
	var args []string
	for _, a := range ctr.Args {
		a = strings.Replace(a, "/etc/cortex/tls", tlsDir, 1)
		a = strings.Replace(a, "--state-dir=/var/lib/cortex", "--state-dir="+filepath.Join(dir, "state"), 1)
		a = strings.Replace(a, "--listen=0.0.0.0:8888", "--listen=127.0.0.1:0", 1)
		args = append(args, a)
	}
	if args[0] != "operator" || args[1] != "serve" {
		t.Fatalf("args %q", args)
	}
	for _, e := range ctr.Env {
		if *e.Name == "CORTEX_GATEWAY_LISTEN" {
			if *e.Value != "0.0.0.0:8443" {
				t.Errorf("gateway listens on %s", *e.Value)
			}
			t.Setenv("CORTEX_GATEWAY_LISTEN", "127.0.0.1:0")
		}
	}
	f, _, _ := cmdutil.TestFactory(dir, "", false)
	cmd := operatorcmd.NewCmdOperator(f)
	cmd.SetArgs(args[1:])
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("operator: %v", err)
		}
	}()

	var addr string
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	err = kubetest.Poll(wctx, 20*time.Millisecond, func() (bool, error) {
		select {
		case err := <-done:
			done <- err
			return false, errors.New("the operator exited: " + errString(err))
		default:
		}
		b, err := os.ReadFile(filepath.Join(stateDirArg(args), "operator.addr"))
		addr = strings.TrimSpace(string(b))
		return err == nil && addr != "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(o.TLS.CACert)
	for _, name := range []string{"cortex-operator.cortex.svc", "cortex-operator.cortex.svc.cluster.local"} {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}}}
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: /healthz %s", name, resp.Status)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// stateDirArg is the value of --state-dir in args.
func stateDirArg(args []string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--state-dir="); ok {
			return v
		}
	}
	return ""
}
