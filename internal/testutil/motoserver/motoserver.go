// Package motoserver runs moto (the AWS emulator, from the repo's .venv) as a real server for tests.
package motoserver

import (
	"bytes"
	"fmt"
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

// Options select how moto runs.
type Options struct {
	// Auth turns on moto's IAM authentication: every request after the first FreeActions must be
	// signed with an access key that exists in moto (FreeActions lets a test create that key).
	Auth        bool
	FreeActions int
	// BindAddress is the IP moto listens on (default 127.0.0.1): another local address, such as
	// a test node's, lets pods on that node reach it.
	BindAddress string
}

// Server is a running moto.
type Server struct {
	URL  string // http://ADDR:PORT (ADDR is Options.BindAddress, default 127.0.0.1)
	Host string // ADDR:PORT
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// Binary finds moto_server: $CORTEX_MOTO_SERVER, else .venv/bin/moto_server at the repo root.
func Binary() (string, error) {
	if p := os.Getenv("CORTEX_MOTO_SERVER"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".venv", "bin", "moto_server")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("moto_server not found at %s: run scripts/setup.sh", p)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("repo root (go.mod) not found above the working directory")
		}
		dir = parent
	}
}

// SkipIfShort skips a test that needs moto under go test -short (the inner loop's quick mode,
// ./scripts/test.sh --quick); CI runs the full suite.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs moto: skipped with -short (./scripts/test.sh --quick)")
	}
}

// Start runs moto on a free loopback port and stops it when the test ends. Without moto
// installed the test fails (CI installs it; a silent skip would hide a broken setup).
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	SkipIfShort(t)
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	addr := opts.BindAddress
	if addr == "" {
		addr = "127.0.0.1"
	}
	if net.ParseIP(addr) == nil {
		t.Fatalf("motoserver: BindAddress %q is not an IP address", addr)
	}
	port := freePort(t, addr)
	cmd := exec.Command(bin, "-H", addr, "-p", strconv.Itoa(port))
	// moto authenticates once INITIAL_NO_AUTH_ACTION_COUNT actions have been served; unset, it
	// never does (its default is infinity). A negative count would mean "from the first request".
	cmd.Env = []string{"MOTO_CALL_RESET_API=false"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INITIAL_NO_AUTH_ACTION_COUNT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if opts.Auth {
		cmd.Env = append(cmd.Env, "INITIAL_NO_AUTH_ACTION_COUNT="+strconv.Itoa(opts.FreeActions))
	}
	log := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto: %v", err)
	}
	host := net.JoinHostPort(addr, strconv.Itoa(port))
	s := &Server{URL: "http://" + host, Host: host, cmd: cmd, log: log}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// moto's own API answers without counting as an AWS action.
		resp, err := http.Get(s.URL + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto did not start on port %d: %v\n%s", port, err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) stop() {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		_ = s.cmd.Wait()
	}
}

// Log returns what moto printed so far (useful in failure messages).
func (s *Server) Log() string { return s.log.String() }

func freePort(t testing.TB, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
