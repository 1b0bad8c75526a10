package install_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// Options.STSTestEndpoint (tests only) becomes the operator's --sts-test-endpoint, and only when
// set; an endpoint the operator would refuse at start is refused here.
func TestSTSTestEndpoint(t *testing.T) {
	args := func(o install.Options) []string {
		t.Helper()
		objs, err := install.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		return objs.Deployments[0].Spec.Template.Spec.Containers[0].Args
	}
	o := options(t, "cortex")
	for _, a := range args(o) {
		if strings.HasPrefix(a, "--sts-test-endpoint") {
			t.Errorf("without STSTestEndpoint: %s", a)
		}
	}
	o.STSTestEndpoint = "http://10.213.0.1:5000"
	if got := args(o); !slices.Contains(got, "--sts-test-endpoint=http://10.213.0.1:5000") {
		t.Errorf("with STSTestEndpoint: args %v", got)
	}
	for _, bad := range []string{"10.213.0.1:5000", "ftp://h", "http://h/path", "http://u:p@h"} {
		o.STSTestEndpoint = bad
		if _, err := install.Build(o); err == nil || !strings.Contains(err.Error(), "STS test endpoint") {
			t.Errorf("STSTestEndpoint %q: err = %v", bad, err)
		}
	}
}

// Options.OperatorServiceIP gives the gateway pods a hosts entry for the operator Service's
// name (the name in their --operator URL) at that IP, and only when set; a bad IP is refused.
func TestGatewayResolvesTheOperatorWithoutDNS(t *testing.T) {
	pod := func(o install.Options) (aliases map[string][]string, operatorArg string) {
		t.Helper()
		objs, err := install.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		spec := objs.Deployments[1].Spec.Template.Spec
		aliases = map[string][]string{}
		for _, a := range spec.HostAliases {
			aliases[*a.IP] = a.Hostnames
		}
		for _, a := range spec.Containers[0].Args {
			if strings.HasPrefix(a, "--operator=") {
				operatorArg = a
			}
		}
		return aliases, operatorArg
	}
	o := options(t, "team")
	if got, arg := pod(o); len(got) != 0 || arg != "--operator=https://cortex-operator.team.svc:8888" {
		t.Errorf("without OperatorServiceIP: aliases %v, %s", got, arg)
	}
	o.OperatorServiceIP = "10.0.0.17"
	if got, _ := pod(o); len(got) != 1 || !slices.Equal(got["10.0.0.17"], []string{"cortex-operator.team.svc"}) {
		t.Errorf("with OperatorServiceIP: aliases %v", got)
	}
	o.OperatorServiceIP = "cortex-operator"
	if _, err := install.Build(o); err == nil || !strings.Contains(err.Error(), "operator Service IP") {
		t.Errorf("OperatorServiceIP %q: err = %v", o.OperatorServiceIP, err)
	}
}
