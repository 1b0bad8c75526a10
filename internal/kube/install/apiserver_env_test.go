package install_test

import (
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/kube/install"
)

// Options.APIServer sets KUBERNETES_SERVICE_HOST/PORT on the operator's container (client-go's
// in-cluster configuration reads them), and only then; a bad address is refused.
func TestAPIServerAddressOverride(t *testing.T) {
	env := func(o install.Options) map[string]string {
		t.Helper()
		objs, err := install.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, e := range objs.Deployments[0].Spec.Template.Spec.Containers[0].Env {
			m[*e.Name] = *e.Value
		}
		return m
	}
	o := options(t, "cortex")
	if got := env(o); got["KUBERNETES_SERVICE_HOST"] != "" || got["KUBERNETES_SERVICE_PORT"] != "" {
		t.Errorf("without APIServer: env %v", got)
	}
	o.APIServer = "10.213.0.1:6443"
	if got := env(o); got["KUBERNETES_SERVICE_HOST"] != "10.213.0.1" || got["KUBERNETES_SERVICE_PORT"] != "6443" {
		t.Errorf("with APIServer %s: env %v", o.APIServer, got)
	}
	o.APIServer = "[fd00::1]:443"
	if got := env(o); got["KUBERNETES_SERVICE_HOST"] != "fd00::1" {
		t.Errorf("with APIServer %s: env %v", o.APIServer, got)
	}
	for _, bad := range []string{"10.213.0.1", "10.213.0.1:0", "10.213.0.1:99999", "Bad_Host:443", "https://h:443", ":443"} {
		o.APIServer = bad
		if _, err := install.Build(o); err == nil || !strings.Contains(err.Error(), "API server address") {
			t.Errorf("APIServer %q: err = %v", bad, err)
		}
	}
}
