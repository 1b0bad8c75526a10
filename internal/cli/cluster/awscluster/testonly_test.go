package awscluster

import (
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/cliconfig"
	"github.com/cortexlabs-go/cortex/internal/credentials"
	provaws "github.com/cortexlabs-go/cortex/internal/provision/aws"
)

// cluster up's TESTS ONLY flags are hidden from --help and validated before anything else (no
// credentials are looked up, nothing is created); the error changes nothing.
func TestUpTestOnlyFlags(t *testing.T) {
	h := newHarness(t)
	cfg := h.writeConfig("cluster_name: testonly\nregion: us-west-2\n")
	cmd := NewCmdUp(h.factory, nil)
	for _, name := range []string{"sts-test-endpoint", "api-server-address", "aws-test-endpoint"} {
		if f := cmd.Flags().Lookup(name); f == nil || !f.Hidden || !strings.HasPrefix(f.Usage, "TESTS ONLY") {
			t.Errorf("--%s: %+v, want a hidden TESTS ONLY flag", name, f)
		}
		if help := cmd.UsageString(); strings.Contains(help, name) || strings.Contains(help, "TESTS ONLY") {
			t.Errorf("--help shows --%s:\n%s", name, help)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sts-test-endpoint", "ftp://moto:5000"}, "--sts-test-endpoint"},
		{[]string{"--sts-test-endpoint", "http://moto:5000/path?x=1"}, "--sts-test-endpoint"},
		{[]string{"--sts-test-endpoint", "http://user:pw@moto:5000"}, "--sts-test-endpoint"},
		{[]string{"--api-server-address", "10.213.0.1"}, "invalid --api-server-address"},
		{[]string{"--api-server-address", "10.213.0.1:0"}, "invalid --api-server-address"},
		{[]string{"--api-server-address", ":6443"}, "invalid --api-server-address"},
		{[]string{"--api-server-address", "10.213.0.1:http"}, "invalid --api-server-address"},
		{[]string{"--aws-test-endpoint", "10.213.0.1:5000"}, "--aws-test-endpoint"},
		{[]string{"--aws-test-endpoint", "ftp://moto:5000"}, "--aws-test-endpoint"},
		{[]string{"--aws-test-endpoint", "http://moto:5000/path"}, "--aws-test-endpoint"},
		{[]string{"--aws-test-endpoint", "http://moto:5000?x=1"}, "--aws-test-endpoint"},
		{[]string{"--aws-test-endpoint", "http://user:pw@moto:5000"}, "user info"},
	} {
		args := append([]string{cfg, "--yes", "--image", "cortex:test"}, tc.args...)
		err := h.run(NewCmdUp(h.factory, nil), args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
		if strings.Contains(h.errOut.String(), "using AWS credentials") {
			t.Errorf("%v: credentials were looked up before the flags were checked: %s", tc.args, h.errOut)
		}
	}
}

// The environment signs for the STS emulator when the operator verifies against it, and for the
// region's STS host otherwise.
func TestWriteEnvSignsForTheOperatorsSTS(t *testing.T) {
	h := newHarness(t)
	st := &provaws.State{ClusterName: "e", ClusterID: "0123456789abcdef0123456789abcdef", Region: "us-west-2",
		OperatorLoadBalancer: &provaws.LoadBalancer{DNSName: "op.elb.amazonaws.com"}, Kubernetes: &provaws.KubeInstall{CACert: "PEM"}}
	d := depsOf(h.factory)
	d.Config = func() (*cliconfig.Config, error) { return cliconfig.Load(h.dir) }
	for _, tc := range []struct {
		flags                testOnlyFlags
		host, region, scheme string
	}{
		{testOnlyFlags{}, "sts.us-west-2.amazonaws.com", "us-west-2", ""},
		{testOnlyFlags{stsEndpoint: "http://10.213.0.1:5000"}, "10.213.0.1:5000", "us-west-2", "http"},
	} {
		sts, err := tc.flags.validate("us-west-2")
		if err != nil {
			t.Fatal(err)
		}
		if err := writeEnv(&d, "e", st, &credentials.Creds{}, sts); err != nil {
			t.Fatal(err)
		}
		c, err := cliconfig.Load(h.dir)
		if err != nil {
			t.Fatal(err)
		}
		e, err := c.Get("e")
		if err != nil {
			t.Fatal(err)
		}
		if e.STSHost != tc.host || e.STSRegion != tc.region || e.STSScheme != tc.scheme || e.OperatorEndpoint != "https://op.elb.amazonaws.com" {
			t.Errorf("%+v: environment signs for %s://%s (%s), want %s://%s (%s)", tc.flags, e.STSScheme, e.STSHost, e.STSRegion, tc.scheme, tc.host, tc.region)
		}
	}
}
