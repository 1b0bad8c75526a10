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
