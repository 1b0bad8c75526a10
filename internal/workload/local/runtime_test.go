package local

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/testutil/pyruntime"
	"github.com/cortexlabs-go/cortex/internal/workload"
)

// runPython deploys handler (handler.py) on the real runtime and returns the replica's address
// and the project dir.
func runPython(t *testing.T, name, handler string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte(handler), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Dir: t.TempDir(), Python: pyruntime.Python(t), StopTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	spec := apispec.Spec{Name: name, Kind: apispec.KindRealtime, ProjectDir: dir, Replicas: 1,
		Handler: apispec.Handler{Type: apispec.HandlerPython, Path: "handler.py"}}
	if err := b.Apply(context.Background(), workload.Deployment{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, name, "live", func(s workload.Status) bool { return s.State == workload.Live })
	return b.Targets(name)[0], dir
}

// The runtime reads every declared body, whatever the method: a GET's body that looks like a
// request is not served as one (it would answer the next caller on a pooled connection).
func TestRuntimeReadsEveryDeclaredBody(t *testing.T) {
	addr, dir := runPython(t, "rt", `
import json, os
class Handler:
    def __init__(self, config):
        self.record = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.jsonl")
    def note(self, call):
        with open(self.record, "a") as f:
            f.write(json.dumps(call) + "\n")
    def handle_post(self, payload):
        self.note({"post": payload})
        return {"you_sent": payload}
    def handle_get(self):
        self.note({"get": True})
        return {"get": "ok"}
`)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	inner := "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"smuggled\":1}"
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(inner), inner)
	// Then a request of our own on the same connection: its answer must be the next one.
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"mine\": 2}")
	for i, want := range []string{`{"get": "ok"}`, `{"you_sent": {"mine": 2}}`} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("answer %d: %d %s, want %s", i, resp.StatusCode, body, want)
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, "calls.jsonl"))
	if got := strings.TrimSpace(string(data)); got != `{"get": true}`+"\n"+`{"post": {"mine": 2}}` {
		t.Fatalf("the handler served:\n%s", got)
	}
}

// Every answer of the runtime is JSON, the errors too (never the server's HTML page).
func TestRuntimeErrorsAreJSON(t *testing.T) {
	addr, _ := runPython(t, "errs", `
class Handler:
    def __init__(self, config):
        pass
    def handle_post(self, payload):
        if payload == {"raise": True}:
            raise RuntimeError("boom")
        return payload
`)
	for _, tc := range []struct {
		method, body, ctype string
		status              int
		code                string
	}{
		{"GET", "", "", 405, "method_not_allowed"},
		{"PUT", "{}", "application/json", 405, "method_not_allowed"},
		{"DELETE", "", "", 405, "method_not_allowed"},
		{"FOO", "", "", 405, "method_not_allowed"},
		{"POST", `{"raise": true}`, "application/json", 500, "handler_error"},
		{"POST", `{not json`, "application/json", 400, "bad_request"},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+addr+"/", strings.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(body, &e) != nil || e.Error.Code != tc.code {
			t.Errorf("%s %s: %d %s %s, want %d with a JSON error %q", tc.method, tc.body, resp.StatusCode,
				resp.Header.Get("Content-Type"), body, tc.status, tc.code)
		}
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"ok": true}` {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
}

// The pin the runtime names when waitress is missing is the one setup installs.
func TestRuntimeServerPin(t *testing.T) {
	req, err := os.ReadFile("../../../requirements-dev.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(serveScript), `"`+RuntimeServer+`"`) || !strings.Contains(string(req), "\n"+RuntimeServer+"\n") {
		t.Fatalf("serve.py and requirements-dev.txt must both pin %s", RuntimeServer)
	}
}

// Without waitress, the replica fails with a status that says what to install.
func TestRuntimeWithoutServerSaysWhatToInstall(t *testing.T) {
	// A fresh venv without packages: an interpreter that surely lacks waitress.
	venv := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command("python3", "-m", "venv", "--without-pip", venv).CombinedOutput(); err != nil {
		t.Fatalf("python3 -m venv: %v\n%s", err, out)
	}
	py := filepath.Join(venv, "bin", "python")
	if err := CheckPython(py); err == nil || !strings.Contains(err.Error(), "pip install '"+RuntimeServer+"'") {
		t.Fatalf("CheckPython: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte("class Handler:\n    def __init__(self, c): pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t)
	b.opts.Python = py
	spec := apispec.Spec{Name: "nows", Kind: apispec.KindRealtime, ProjectDir: dir, Replicas: 1,
		Handler: apispec.Handler{Type: apispec.HandlerPython, Path: "handler.py"}}
	if err := b.Apply(context.Background(), workload.Deployment{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, b, "nows", "error", func(s workload.Status) bool { return s.State == workload.Error })
	if !strings.Contains(st.Reason, "needs the waitress HTTP server") || !strings.Contains(st.Reason, RuntimeServer) {
		t.Fatalf("reason %q does not say what to install", st.Reason)
	}
}

// serve.py listens on $CORTEX_HOST (default 127.0.0.1: the local provider is unchanged; the
// Kubernetes backend sets 0.0.0.0 so the pod's address answers). 127.0.0.2 stands for an address
// other than 127.0.0.1 (on Linux all of 127/8 is the loopback interface).
func TestRuntimeListensOnCortexHost(t *testing.T) {
	py := pyruntime.Python(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte("class Handler:\n    def __init__(self, c): pass\n    def handle_post(self, p): return p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host         string // "" leaves CORTEX_HOST unset
		want, refuse []string
	}{
		{"", []string{"127.0.0.1"}, []string{"127.0.0.2"}},
		{"127.0.0.2", []string{"127.0.0.2"}, []string{"127.0.0.1"}},
		{"0.0.0.0", []string{"127.0.0.1", "127.0.0.2"}, nil},
	} {
		t.Run("host="+c.host, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, py, filepath.Join("runtime", "serve.py"))
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CORTEX_PORT=" + fmt.Sprint(port),
				"CORTEX_HANDLER_PATH=" + filepath.Join(dir, "handler.py"), "CORTEX_HANDLER_CONFIG={}"}
			if c.host != "" {
				cmd.Env = append(cmd.Env, "CORTEX_HOST="+c.host)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			// The runtime says where it listens once the socket is bound.
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || !strings.Contains(line, "serving on") {
				t.Fatalf("runtime output %q: %v", line, err)
			}
			for _, h := range c.want {
				resp, err := http.Get(fmt.Sprintf("http://%s:%d/healthz", h, port))
				if err != nil {
					t.Errorf("%s: %v", h, err)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("%s: %s", h, resp.Status)
				}
			}
			for _, h := range c.refuse {
				if conn, err := net.Dial("tcp", net.JoinHostPort(h, fmt.Sprint(port))); err == nil {
					conn.Close()
					t.Errorf("%s:%d accepted a connection", h, port)
				}
			}
		})
	}
}
