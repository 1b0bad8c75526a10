// Package kubehelper starts a real Kubernetes control plane (internal/testutil/kubetest) for the
// Python client's tests (python/tests/test_kube_upload.py), which run an operator of provider
// kubernetes against it: the one provider whose operator takes a project's code with a deploy.
// It does nothing unless CORTEX_PYTEST_KUBE_DIR names a directory: then it writes the admin
// kubeconfig's path to DIR/kubeconfig, with the namespaces cortex and cortex-apis created, and
// keeps the control plane up until DIR/stop exists (or its parent, pytest, is gone).
package kubehelper

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

func TestServeControlPlane(t *testing.T) {
	dir := os.Getenv("CORTEX_PYTEST_KUBE_DIR")
	if dir == "" {
		t.Skip("a helper of python/tests: run by pytest with CORTEX_PYTEST_KUBE_DIR")
	}
	c := kubetest.Start(t)
	c.Namespace(t, "cortex")
	c.Namespace(t, "cortex-apis")
	tmp := filepath.Join(dir, "kubeconfig.tmp")
	if err := os.WriteFile(tmp, []byte(c.Kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "kubeconfig")); err != nil {
		t.Fatal(err)
	}
	// Up to 15 minutes: a pytest killed without its teardown must not leave a control plane behind.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	parent := os.Getppid()
	err := kubetest.Poll(ctx, 200*time.Millisecond, func() (bool, error) {
		_, err := os.Stat(filepath.Join(dir, "stop"))
		return err == nil || os.Getppid() != parent, nil
	})
	if err != nil {
		t.Logf("stopping: %v", err)
	}
}
