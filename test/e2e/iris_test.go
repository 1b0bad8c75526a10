package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The iris example: trained with scikit-learn from the repo's .venv, deployed, called over
// verified TLS with a known flower.
func TestIrisExample(t *testing.T) {
	py := filepath.Join(repoRoot, ".venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s not found: run scripts/setup.sh (it installs scikit-learn)", py)
	}
	dir := project(t, "iris", "handler.py", "train.py", "cortex.yaml", "sample.json")
	train := exec.Command(py, filepath.Join(dir, "train.py"))
	if out, err := train.CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	c := newCluster(t)
	c.must("cluster", "up", "--python", py)
	c.must("deploy", filepath.Join(dir, "cortex.yaml"))
	st := c.get("iris")
	client := c.httpsClient()
	// The example says auth: api_key: no key, no prediction; a key from the CLI opens it.
	resp, err := client.Post(st.Endpoint, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("iris without a key: %d, want 401", resp.StatusCode)
	}
	key := strings.TrimSpace(c.must("api-key", "create", "e2e", "--api", "iris"))
	for flower, want := range map[string]string{
		`{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}`: `{"prediction": "setosa"}`,
		`{"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}`: `{"prediction": "virginica"}`,
	} {
		req, _ := http.NewRequest("POST", st.Endpoint, strings.NewReader(flower))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("%s: %d %s, want %s", flower, resp.StatusCode, body, want)
		}
	}
	// And with cortex itself: the sample flower from a file, then bad payloads refused locally.
	if out := c.must("call", "iris", "--api-key", key, "@"+filepath.Join(dir, "sample.json")); strings.TrimSpace(out) != `{"prediction": "setosa"}` {
		t.Errorf("cortex call iris: %q", out)
	}
	if _, stderr, code := c.run("call", "iris", "{}"); code == 0 || !strings.Contains(stderr, "API key") {
		t.Errorf("call without a key: exit %d, %s", code, stderr)
	}
	c.must("api-key", "revoke", "e2e")
	if _, stderr, code := c.run("call", "iris", "--api-key", key, "{}"); code == 0 || !strings.Contains(stderr, "401") {
		t.Errorf("call with a revoked key: exit %d, %s", code, stderr)
	}
	if _, stderr, code := c.run("call", "iris", "{not json"); code == 0 || !strings.Contains(stderr, "not valid JSON") {
		t.Errorf("invalid JSON payload: exit %d, %s", code, stderr)
	}
	if _, stderr, code := c.run("call", "nope", "{}"); code == 0 || !strings.Contains(stderr, "not deployed") {
		t.Errorf("call of a missing API: exit %d, %s", code, stderr)
	}
}
