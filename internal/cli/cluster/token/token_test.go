package token

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"

	"github.com/cortexlabs-go/cortex/internal/cli/cmdutil"
	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/identity"
	"github.com/cortexlabs-go/cortex/internal/kube/ekstoken"
)

var now = time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)

func setup(t *testing.T, env cliconfig.Environment, execInfo string) (*Options, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_PROFILE", "")
	cfg, err := cliconfig.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Put(env)
	out := &bytes.Buffer{}
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{Out: out, ErrOut: &bytes.Buffer{}}, ConfigDir: func() (string, error) { return dir, nil },
		Now: func() time.Time { return now }}
	o := &Options{IO: f.IO, Environment: func(context.Context) (*cliconfig.Config, *cliconfig.Environment, error) {
		return cfg, &cfg.Environments[0], nil
	},
		Getenv: func(k string) string {
			if k == ExecInfoEnv {
				return execInfo
			}
			return ""
		}, Now: f.Now}
	return o, out
}

var prod = cliconfig.Environment{Name: "prod", OperatorEndpoint: "https://op.example.com", ClusterID: "c-123", STSHost: "sts.us-west-2.amazonaws.com",
	STSRegion: "us-west-2", Auth: cliconfig.AuthAWS}

func infoFor(server string) string {
	return `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"cluster":{"server":"` + server + `"},"interactive":false}}`
}

func decodeCredential(t *testing.T, out *bytes.Buffer) clientauthv1.ExecCredential {
	t.Helper()
	var ec clientauthv1.ExecCredential
	if err := json.Unmarshal(out.Bytes(), &ec); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if ec.APIVersion != APIVersion || ec.Kind != "ExecCredential" || ec.Status == nil || ec.Status.ExpirationTimestamp == nil {
		t.Fatalf("ExecCredential %s", out)
	}
	return ec
}

// The audience is the server kubectl dials, normalized: a token minted for one API server is
// refused by another's webhook configuration.
func TestCortexTokenIsBoundToTheServerKubectlDials(t *testing.T) {
	o, out := setup(t, prod, infoFor("https://K8S.example.com:6443/"))
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	ec := decodeCredential(t, out)
	b, err := identity.TokenBinding(ec.Status.Token)
	if err != nil {
		t.Fatal(err)
	}
	if b.Audience != "https://k8s.example.com:6443" || b.Host != prod.STSHost || b.Region != "us-west-2" {
		t.Fatalf("binding %+v", b)
	}
	if want := now.Add(identity.TokenLifetime - time.Minute); !ec.Status.ExpirationTimestamp.Time.Equal(want) {
		t.Fatalf("expiry %v, want %v", ec.Status.ExpirationTimestamp.Time, want)
	}
}

func TestCortexTokenRefusals(t *testing.T) {
	local := prod
	local.Auth, local.ClusterID = cliconfig.AuthLocal, ""
	for _, tc := range []struct {
		name     string
		env      cliconfig.Environment
		execInfo string
		server   string
		region   string
		want     string
	}{
		{"no server", prod, `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{}}`, "", "", "provideClusterInfo"},
		{"--server is not what kubectl dials", prod, infoFor("https://a.example.com"), "https://b.example.com", "", "not the API server kubectl is dialing"},
		{"v1beta1", prod, `{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential"}`, "", "", "this plugin speaks"},
		{"a server URL with a path", prod, infoFor("https://rancher.example.com/k8s/clusters/c-1"), "", "", "API server URL"},
		{"the local admin credential", local, infoFor("https://a.example.com"), "", "", "never accepts"},
		{"--region without --eks-cluster", prod, infoFor("https://a.example.com"), "", "us-east-1", "--eks-cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, out := setup(t, tc.env, tc.execInfo)
			o.Server, o.Region = tc.server, tc.region
			err := run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || out.Len() != 0 {
				t.Fatalf("err %v (want %q), output %q", err, tc.want, out)
			}
		})
	}
}

func TestEKSToken(t *testing.T) {
	o, out := setup(t, prod, `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`)
	o.EKSCluster, o.Region = "my-cluster", "eu-west-1"
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	ec := decodeCredential(t, out)
	want, _, _ := ekstoken.Mint(context.Background(), awsCredsFromEnv(t), ekstoken.Input{ClusterName: "my-cluster", Region: "eu-west-1", Now: now})
	if ec.Status.Token != want || !ec.Status.ExpirationTimestamp.Time.Equal(now.Add(ekstoken.Lifetime)) {
		t.Fatalf("EKS credential %s", out)
	}
}

func awsCredsFromEnv(t *testing.T) aws.Credentials {
	t.Helper()
	c, err := credentials(context.Background(), &cliconfig.Environment{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
