package kube_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// Red team: a spec's env may name the variables cortex itself sets without the CORTEX_ prefix
// (HOME for every kind, PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE for python): apispec lets
// them through, the container listed the name twice, and server-side apply refused the
// Deployment ("duplicate entries for key"): the deploy failed with the API server's message.
// These are defaults now, and the spec's value is the one set.
func TestSpecEnvCannotDuplicateCortexVariables(t *testing.T) {
	c := kubetest.Start(t)
	ns := "envdup"
	c.Namespace(t, ns)
	b := newBackend(t, c, ns)
	m := remoteManager(t, b, filepath.Join(t.TempDir(), "apis.json"))
	specs, err := apispec.Parse([]byte(`
- name: dup
  kind: RealtimeAPI
  handler: {type: container, image: nginx}
  env:
    HOME: /root
`), "cortex.yaml", t.TempDir())
	if err != nil {
		t.Logf("refused at validation (closed): %v", err)
		return
	}
	if _, err := m.ApplyUploaded(context.Background(), specs, nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	_, ctr := getDeployment(t, c, ns, "dup")
	var home []string
	for _, e := range ctr.Env {
		if e.Name == "HOME" {
			home = append(home, e.Value)
		}
	}
	if len(home) != 1 || home[0] != "/root" {
		t.Errorf("HOME in the container: %q, want the spec's alone", home)
	}
}
