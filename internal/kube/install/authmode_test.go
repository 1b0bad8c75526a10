package install_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/operator"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

func authArgs(args []string) []string {
	var out []string
	for _, a := range args {
		if strings.HasPrefix(a, "--auth-mode") || strings.HasPrefix(a, "--account-role") {
			out = append(out, a)
		}
	}
	return out
}

// Options.Auth becomes the operator's --auth-mode/--account-role, and only when set (an install
// that never chose a mode keeps its Deployment as it was); a mode or role the operator would
// refuse, admin for a whole account, and a role that rules would ignore are refused.
func TestAuthModeArgs(t *testing.T) {
	args := func(o install.Options) []string {
		t.Helper()
		objs, err := install.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		return objs.Deployments[0].Spec.Template.Spec.Containers[0].Args
	}
	for _, tc := range []struct {
		auth install.Auth
		want []string
	}{
		{install.Auth{}, nil},
		{install.Auth{Mode: "rules"}, []string{"--auth-mode=rules"}},
		{install.Auth{Mode: "account"}, []string{"--auth-mode=account"}},
		{install.Auth{Mode: "account", AccountRole: "read"}, []string{"--auth-mode=account", "--account-role=read"}},
		{install.Auth{AccountRole: "deploy"}, []string{"--account-role=deploy"}},
	} {
		o := options(t, "cortex")
		o.Auth = tc.auth
		got := args(o)
		if a := authArgs(got); !slices.Equal(a, tc.want) {
			t.Errorf("%+v: auth args %q, want %q", tc.auth, a, tc.want)
		}
		if r := install.AuthOfArgs(got); r != tc.auth {
			t.Errorf("%+v: read back %+v", tc.auth, r)
		}
	}
	for _, bad := range []install.Auth{
		{Mode: "Rules"}, {Mode: "rules "}, {Mode: "none"}, {Mode: "rules\n--account-role=admin"}, {Mode: "yes"},
		{AccountRole: "admin"}, {Mode: "account", AccountRole: "admin"}, {AccountRole: "Deploy"}, {AccountRole: "write"},
		{Mode: "rules", AccountRole: "read"},
	} {
		o := options(t, "cortex")
		o.Auth = bad
		if _, err := install.Build(o); err == nil {
			t.Errorf("%q: built", bad)
		}
	}
	if s := (install.Auth{}).String(); s != "account (every identity of the account: deploy)" {
		t.Errorf("String of the default: %q", s)
	}
}

// SetAuth (cluster configure) changes only the auth arguments of the installed operator's
// Deployment, reports whether it changed, refuses a bad mode without writing, and LoadExisting
// reads the mode back (cluster up keeps it). The Deployment's arguments then start a real
// operator (`cortex operator serve`) that reports the mode in /v1/info.
func TestSetAuth(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := options(t, "cortex")
	o.AccountID = "123456789012"
	o.PublicEndpoints = []string{"https://10.0.0.5:8888"}
	objs, err := install.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := install.Apply(ctx, c.Client, objs, nil); err != nil {
		t.Fatal(err)
	}
	deployed := func() []string {
		t.Helper()
		d, err := c.Client.AppsV1().Deployments("cortex").Get(ctx, install.OperatorName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Args
	}
	before := deployed()
	if a := authArgs(before); a != nil {
		t.Fatalf("a default install has auth args %q", a)
	}
	if ex, err := install.LoadExisting(ctx, c.Client, "cortex"); err != nil || ex.Auth != (install.Auth{}) {
		t.Fatalf("LoadExisting: %+v %v", ex, err)
	}
	if changed, err := install.SetAuth(ctx, c.Client, "cortex", install.Auth{Mode: "rules", AccountRole: "read"}); err == nil || changed {
		t.Fatalf("rules with an account role: changed %v, err %v", changed, err)
	}
	if changed, err := install.SetAuth(ctx, c.Client, "cortex", install.Auth{Mode: "rules"}); err != nil || !changed {
		t.Fatalf("SetAuth rules: changed %v, err %v", changed, err)
	}
	after := deployed()
	if a := authArgs(after); !slices.Equal(a, []string{"--auth-mode=rules"}) {
		t.Fatalf("auth args after SetAuth: %q", a)
	}
	if other := slices.DeleteFunc(slices.Clone(after), func(s string) bool { return s == "--auth-mode=rules" }); !slices.Equal(other, before) {
		t.Errorf("other args changed:\n%q\n%q", before, other)
	}
	if changed, err := install.SetAuth(ctx, c.Client, "cortex", install.Auth{Mode: "rules"}); err != nil || changed {
		t.Fatalf("SetAuth again: changed %v, err %v", changed, err)
	}
	if ex, err := install.LoadExisting(ctx, c.Client, "cortex"); err != nil || ex.Auth != (install.Auth{Mode: "rules"}) {
		t.Fatalf("LoadExisting after SetAuth: %+v %v", ex, err)
	}
	// The installed arguments are what a real operator accepts, and it runs in rules mode.
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
	var args []string
	for _, a := range after {
		if strings.HasPrefix(a, "--apis-gateway") || strings.HasPrefix(a, "--apis-public-endpoint=") {
			continue
		}
		a = strings.Replace(a, "/etc/cortex/tls", tlsDir, 1)
		a = strings.Replace(a, "--state-dir=/tmp/cortex", "--state-dir="+filepath.Join(dir, "state"), 1)
		a = strings.Replace(a, "--listen=0.0.0.0:8888", "--listen=127.0.0.1:0", 1)
		args = append(args, a)
	}
	t.Setenv("CORTEX_GATEWAY_LISTEN", "127.0.0.1:0")
	kubeconfig := operatorKubeconfig(t, c, dir, "system:serviceaccount:cortex:"+install.OperatorName)
	op := runOperator(t, append(args, "--kubeconfig="+kubeconfig, "--local-token-file="+filepath.Join(dir, "admin.token")))
	token, err := operator.LoadOrCreateLocalToken(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(o.TLS.CACert)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "cortex-operator.cortex.svc", MinVersion: tls.VersionTLS12}}}
	req, _ := http.NewRequest("GET", "https://"+op.addr+"/v1/info", nil)
	req.Header.Set("Authorization", "Bearer "+operator.LocalTokenPrefix+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Cluster struct {
			AuthMode string `json:"auth_mode"`
		} `json:"cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || info.Cluster.AuthMode != "rules" {
		t.Errorf("/v1/info: auth_mode %q, %v", info.Cluster.AuthMode, err)
	}
	op.stop()
	// Back to the defaults: the arguments are gone.
	if changed, err := install.SetAuth(ctx, c.Client, "cortex", install.Auth{}); err != nil || !changed {
		t.Fatalf("SetAuth default: changed %v, err %v", changed, err)
	}
	if got := deployed(); !slices.Equal(got, before) {
		t.Errorf("after SetAuth of the defaults: %q, want %q", got, before)
	}
}
