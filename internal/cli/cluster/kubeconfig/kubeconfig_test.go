package kubeconfig

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
)

var prod = cliconfig.Environment{Name: "prod", OperatorEndpoint: "https://op.example.com", ClusterID: "c-123", STSHost: "sts.us-west-2.amazonaws.com",
	STSRegion: "us-west-2", Auth: cliconfig.AuthAWS}

func options(t *testing.T, env cliconfig.Environment) *Options {
	return &Options{IO: &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}},
		Environment: func(context.Context) (*cliconfig.Config, *cliconfig.Environment, error) { return nil, &env, nil },
		Executable:  func() (string, error) { return "/opt/cortex/bin/cortex", nil },
		Getenv: func(k string) string {
			if k == cliconfig.DirEnv {
				return "/home/u/.cortex-test"
			}
			return ""
		}}
}

func TestWritesAPrivateKubeconfigThatRunsTheTokenPlugin(t *testing.T) {
	dir := t.TempDir()
	src := clientcmdapi.NewConfig()
	src.Clusters["k"] = &clientcmdapi.Cluster{Server: "https://10.0.0.1:6443", CertificateAuthorityData: []byte("CA PEM")}
	src.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "admin-secret"}
	src.Contexts["admin@k"] = &clientcmdapi.Context{Cluster: "k", AuthInfo: "admin"}
	src.CurrentContext = "admin@k"
	srcFile := filepath.Join(dir, "admin.kubeconfig")
	if err := clientcmd.WriteToFile(*src, srcFile); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		eks      bool
		wantArgs []string
	}{
		{"cortex", false, []string{"--env", "prod", "cluster", "token"}},
		{"eks", true, []string{"--env", "prod", "cluster", "token", "--eks-cluster", "my-eks", "--region", "us-west-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options(t, prod)
			o.FromKubeconfig, o.Output = srcFile, filepath.Join(dir, tc.name+".kubeconfig")
			if tc.eks {
				o.EKSCluster, o.Region = "my-eks", "us-west-2"
			}
			if err := run(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(o.Output); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v, %v", fi.Mode(), err)
			}
			data, _ := os.ReadFile(o.Output)
			if strings.Contains(string(data), "admin-secret") {
				t.Fatal("the admin's credential was copied")
			}
			kc, err := clientcmd.Load(data)
			if err != nil {
				t.Fatal(err)
			}
			c := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster]
			if c.Server != "https://10.0.0.1:6443" || string(c.CertificateAuthorityData) != "CA PEM" {
				t.Fatalf("cluster %+v", c)
			}
			ex := kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo].Exec
			if ex == nil || ex.Command != "/opt/cortex/bin/cortex" || !reflect.DeepEqual(ex.Args, tc.wantArgs) || !ex.ProvideClusterInfo ||
				ex.APIVersion != "client.authentication.k8s.io/v1" || ex.InteractiveMode != clientcmdapi.NeverExecInteractiveMode ||
				len(ex.Env) != 1 || ex.Env[0].Name != cliconfig.DirEnv {
				t.Fatalf("exec %+v", ex)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	insecure := clientcmdapi.NewConfig()
	insecure.Clusters["k"] = &clientcmdapi.Cluster{Server: "https://10.0.0.1:6443", InsecureSkipTLSVerify: true}
	insecure.Contexts["c"] = &clientcmdapi.Context{Cluster: "k"}
	insecure.CurrentContext = "c"
	insecureFile := filepath.Join(dir, "insecure")
	if err := clientcmd.WriteToFile(*insecure, insecureFile); err != nil {
		t.Fatal(err)
	}
	local := prod
	local.Auth, local.ClusterID = cliconfig.AuthLocal, ""
	for _, tc := range []struct {
		name string
		env  cliconfig.Environment
		set  func(*Options)
		want string
	}{
		{"no server", prod, func(o *Options) {}, "no API server"},
		{"insecure source", prod, func(o *Options) { o.FromKubeconfig = insecureFile }, "skips TLS verification"},
		{"local environment", local, func(o *Options) { o.Server = "https://k.example.com" }, "no IAM cluster binding"},
		{"server with a path", prod, func(o *Options) { o.Server = "https://k.example.com/proxy" }, "--server"},
		{"eks without region", prod, func(o *Options) { o.Server, o.EKSCluster = "https://k.example.com", "x" }, "--region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options(t, tc.env)
			tc.set(o)
			if err := run(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}
