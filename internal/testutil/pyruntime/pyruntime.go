// Package pyruntime finds the Python interpreter that tests run the serving runtime
// (internal/workload/local/runtime/serve.py) with.
package pyruntime

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Python returns $CORTEX_PYTHON, else the repository's .venv/bin/python (scripts/setup.sh makes
// it). It fails the test when that interpreter cannot import the runtime's HTTP server (waitress),
// rather than letting every replica crash with a less obvious error.
func Python(t testing.TB) string {
	t.Helper()
	py := os.Getenv("CORTEX_PYTHON")
	if py == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		py = filepath.Join(root, ".venv", "bin", "python")
	}
	if out, err := exec.Command(py, "-c", "import waitress").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import waitress, the serving runtime's HTTP server (run scripts/setup.sh, or set CORTEX_PYTHON): %v\n%s", py, err, out)
	}
	return py
}

// repoRoot is the directory of go.mod above the working directory (tests run in their package).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
