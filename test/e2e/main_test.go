// Package e2e runs the real cortex binary end to end. TestMain builds it into a temp dir; each
// test gets its own CLI config dir, so a local cluster of one test never sees another's.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	cortexBin string
	repoRoot  string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped with -short (./scripts/test.sh --quick)")
		return 0
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	dir, err := os.MkdirTemp("", "cortex-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cortexBin = filepath.Join(dir, "cortex")
	build := exec.Command("go", "build", "-o", cortexBin, "./cmd/cortex")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build cortex:", err)
		return 1
	}
	return m.Run()
}

// cluster is one test's local cluster and CLI configuration.
type cluster struct {
	t         *testing.T
	configDir string
	env       []string
}

func newCluster(t *testing.T, extraEnv ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, configDir: t.TempDir()}
	c.env = append(os.Environ(), "CORTEX_CLI_CONFIG_DIR="+c.configDir, "CORTEX_ENV=")
	if os.Getenv("CORTEX_PYTHON") == "" {
		// Python handlers run on the repo's .venv (it has the runtime's HTTP server, waitress).
		c.env = append(c.env, "CORTEX_PYTHON="+filepath.Join(repoRoot, ".venv", "bin", "python"))
	}
	c.env = append(c.env, extraEnv...)
	t.Cleanup(func() {
		// Whatever happened, leave nothing running.
		_, _, _ = c.run("cluster", "down")
		if left := c.processes(); len(left) > 0 {
			t.Errorf("processes left after the test: %v", left)
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return c
}

// run executes cortex with args and returns stdout, stderr and the exit code.
func (c *cluster) run(args ...string) (string, string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cortexBin, args...)
	cmd.Env = c.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("cortex %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// must runs cortex and fails the test when it exits non-zero.
func (c *cluster) must(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("cortex %s: exit %d\nstdout: %s\nstderr: %s\noperator log:\n%s", strings.Join(args, " "), code, out, errOut, c.operatorLog())
	}
	return out
}

func (c *cluster) operatorLog() string {
	data, _ := os.ReadFile(filepath.Join(c.configDir, "local", "operator.log"))
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

type clusterInfo struct {
	Running          bool   `json:"running"`
	PID              int    `json:"pid"`
	OperatorEndpoint string `json:"operator_endpoint"`
	GatewayEndpoint  string `json:"gateway_endpoint"`
	StateDir         string `json:"state_dir"`
	APIs             []apiStatus
}

type apiStatus struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Endpoint string `json:"endpoint"`
	Version  string `json:"version"`
	Replicas struct {
		Requested int `json:"requested"`
		Ready     int `json:"ready"`
	} `json:"replicas"`
	UpdatedAt time.Time `json:"updated_at"`
	Details   []struct {
		ID       int    `json:"id"`
		State    string `json:"state"`
		Restarts int    `json:"restarts"`
	} `json:"replica_details"`
}

func (c *cluster) info() clusterInfo {
	c.t.Helper()
	var ci clusterInfo
	if err := json.Unmarshal([]byte(c.must("cluster", "info", "-o", "json")), &ci); err != nil {
		c.t.Fatal(err)
	}
	return ci
}

func (c *cluster) get(name string) apiStatus {
	c.t.Helper()
	var st apiStatus
	if err := json.Unmarshal([]byte(c.must("get", name, "-o", "json")), &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// waitFor polls cond (bounded; the bound only keeps a broken build from hanging CI).
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s\noperator log:\n%s", what, c.operatorLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// httpsClient trusts only the cluster's CA.
func (c *cluster) httpsClient() *http.Client {
	c.t.Helper()
	ca, err := os.ReadFile(filepath.Join(c.configDir, "local", "state", "tls", "ca.pem"))
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		c.t.Fatal("bad CA")
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// processes lists the pids whose command line mentions this test's config dir (the operator
// and python replicas do: the state dir and the runtime script live under it).
func (c *cluster) processes() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z")) {
			continue // a zombie is not running
		}
		if bytes.Contains(cmdline, []byte(c.configDir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || !bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z"))
}

func portOpen(endpoint string) bool {
	host := strings.TrimPrefix(endpoint, "https://")
	conn, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// callEcho POSTs to the echo API and returns the decoded answer.
func callEcho(t *testing.T, client *http.Client, url string) map[string]any {
	t.Helper()
	resp, err := client.Post(url, "application/json", strings.NewReader(`{"msg":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v: %s", url, err, body)
	}
	return m
}

// project copies an example into a temp dir (so tests can change its cortex.yaml).
func project(t *testing.T, example string, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(repoRoot, "examples", example, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
