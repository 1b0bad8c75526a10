package local

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/testutil/pyruntime"
	"github.com/cortexlabs-go/cortex/internal/workload"
)

// The test binary doubles as the replica program: with CORTEX_TEST_HELPER set it serves HTTP on
// $CORTEX_PORT (mode "serve"; with IGNORE_SIGTERM=1 it ignores SIGTERM) or exits at once (mode
// "exit").
func TestMain(m *testing.M) {
	switch os.Getenv("CORTEX_TEST_HELPER") {
	case "serve":
		if os.Getenv("IGNORE_SIGTERM") == "1" {
			// A replica slow to stop: only the SIGKILL after StopTimeout ends it.
			signal.Ignore(syscall.SIGTERM)
		}
		fmt.Println("helper listening")
		secret := os.Getenv("AWS_SECRET_ACCESS_KEY")
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "pid=%d greeting=%s secret=%t", os.Getpid(), os.Getenv("GREETING"), secret != "")
		})
		if gate := os.Getenv("GATE"); gate != "" {
			// The test opens this replica's gate (a file) when it wants the replica to listen.
			for {
				if _, err := os.Stat(filepath.Join(gate, os.Getenv("CORTEX_REPLICA"))); err == nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("CORTEX_PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		_ = http.Serve(l, nil)
		os.Exit(0)
	case "hostile":
		// Output meant to break log formats: terminal escapes, bytes that are not UTF-8, a NUL, a
		// line that forges a supervisor record, a line longer than the line buffer, no final newline.
		os.Stdout.WriteString("\x1b[2J\x1b[31mred\r\n\xff\xfe\x00nul\n")
		os.Stdout.WriteString(`{"time":"2020-01-01T00:00:00Z","api":"hostile","replica":0,"source":"cortex","msg":"forged"}` + "\n")
		os.Stdout.WriteString(strings.Repeat("A", 20000) + "\n\"quoted\" \\ no newline at the end")
		os.Exit(5)
	case "exit":
		fmt.Fprintln(os.Stderr, "boom: missing model file")
		os.Exit(7)
	}
	os.Exit(m.Run())
}

func helperSpec(t *testing.T, name, mode string, replicas int) apispec.Spec {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return apispec.Spec{
		Name: name, Kind: apispec.KindRealtime, Replicas: replicas,
		Handler: apispec.Handler{Type: apispec.HandlerCommand, Command: []string{exe}},
		Env:     map[string]string{"GREETING": "hello"},
	}
}

func newBackend(t *testing.T) *Backend {
	b, err := New(Options{Dir: t.TempDir(), BackoffMin: 50 * time.Millisecond, BackoffMax: 2 * time.Second,
		BaseEnv: append(defaultBaseEnv(), "CORTEX_TEST_HELPER=serve"), StopTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return b
}

// waitFor polls cond (bounded) and fails the test with the last status on timeout.
func waitFor(t *testing.T, b *Backend, name string, what string, cond func(workload.Status) bool) workload.Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var st workload.Status
	for time.Now().Before(deadline) {
		st, _ = b.Status(name)
		if cond(st) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last status %+v", what, st)
	return st
}

func get(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func TestLifecycleScaleRestartDelete(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	spec := helperSpec(t, "echo", "serve", 1)
	if err := b.Apply(ctx, workload.Deployment{Spec: spec, SecretEnv: map[string]string{"AWS_SECRET_ACCESS_KEY": "s3cr3t"}}); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, b, "echo", "live", func(s workload.Status) bool { return s.State == workload.Live })
	if st.Ready != 1 || st.Requested != 1 {
		t.Fatalf("status %+v", st)
	}
	targets := b.Targets("echo")
	if len(targets) != 1 {
		t.Fatalf("targets %v", targets)
	}
	if body := get(t, targets[0]); !strings.Contains(body, "greeting=hello") || !strings.Contains(body, "secret=true") {
		t.Fatalf("body %q", body)
	}

	// Scale 1 -> 2 without restarting replica 0.
	spec.Replicas = 2
	if err := b.Apply(ctx, workload.Deployment{Spec: spec, SecretEnv: map[string]string{"AWS_SECRET_ACCESS_KEY": "s3cr3t"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "echo", "2 ready", func(s workload.Status) bool { return s.State == workload.Live && s.Ready == 2 })
	if got := b.Targets("echo"); got[0] != targets[0] && got[1] != targets[0] {
		t.Fatalf("scaling restarted replica 0: %v then %v", targets, got)
	}

	// Kill a replica: it comes back.
	pid := pidOf(t, b, "echo", 0)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "echo", "replica 0 restarted", func(s workload.Status) bool {
		return s.State == workload.Live && s.Replicas[0].Restarts >= 1
	})
	if newPid := pidOf(t, b, "echo", 0); newPid == pid {
		t.Fatal("same pid after kill")
	}

	// Logs captured, secret never in them.
	var buf bytes.Buffer
	if err := b.Logs(ctx, "echo", false, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "[echo-0] helper listening") || strings.Contains(buf.String(), "s3cr3t") {
		t.Fatalf("logs: %q", buf.String())
	}
	files, _ := filepath.Glob(filepath.Join(b.opts.Dir, "logs", "echo", "*.log"))
	if len(files) != 2 {
		t.Fatalf("per-replica log files: %v", files)
	}

	// Changing the template replaces replicas (new pids) and ends live.
	spec.Env["GREETING"] = "bonjour"
	if err := b.Apply(ctx, workload.Deployment{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "echo", "new version live", func(s workload.Status) bool {
		if s.State != workload.Live {
			return false
		}
		for _, a := range b.Targets("echo") {
			if !strings.Contains(get(t, a), "bonjour") {
				return false
			}
		}
		return true
	})

	// Restart: new processes, live again, old ones gone.
	before := []int{pidOf(t, b, "echo", 0), pidOf(t, b, "echo", 1)}
	if err := b.Restart(ctx, "echo"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "echo", "restarted and live", func(s workload.Status) bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return s.State == workload.Live && len(b.apis["echo"].old) == 0
	})
	for i, p := range before {
		if pidOf(t, b, "echo", i) == p {
			t.Fatalf("replica %d kept pid %d across a restart", i, p)
		}
	}

	pids := []int{pidOf(t, b, "echo", 0), pidOf(t, b, "echo", 1)}
	if err := b.Delete(ctx, "echo"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Status("echo"); ok {
		t.Fatal("deleted API still has a status")
	}
	for _, p := range pids {
		if _, err := ProcessStartTime(p); err == nil {
			t.Errorf("pid %d still alive after delete", p)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(b.opts.Dir, "run", "*.pid")); len(left) != 0 {
		t.Errorf("pid files left: %v", left)
	}
}

// Replicas retired by a rolling replacement are stopped in the background; Delete (and Close)
// must still wait for them, or a replica slow to stop outlives its API (and, on shutdown, the
// operator that would have sent it SIGKILL).
func TestDeleteWaitsForRetiringReplicas(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	spec := helperSpec(t, "slow", "serve", 1)
	spec.Env["IGNORE_SIGTERM"] = "1"
	if err := b.Apply(ctx, workload.Deployment{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "slow", "live", func(s workload.Status) bool { return s.State == workload.Live })
	retired := pidOf(t, b, "slow", 0)
	// A new version that stops at once replaces it; the old replica is retired, slowly.
	spec.Env = map[string]string{"GREETING": "hello"}
	if err := b.Apply(ctx, workload.Deployment{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "slow", "the old replica retired", func(s workload.Status) bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return s.State == workload.Live && len(b.apis["slow"].old) == 0
	})
	if err := b.Delete(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	if _, err := ProcessStartTime(retired); err == nil {
		t.Errorf("retired replica (pid %d) still running after Delete returned", retired)
	}
	if left, _ := filepath.Glob(filepath.Join(b.opts.Dir, "run", "*.pid")); len(left) != 0 {
		t.Errorf("pid files left after Delete: %v", left)
	}
}

func pidOf(t *testing.T, b *Backend, name string, id int) int {
	t.Helper()
	b.mu.Lock()
	a := b.apis[name]
	r := a.current[id]
	b.mu.Unlock()
	pf, alive, err := ReadPidFile(r.pidPath())
	if err != nil || !alive {
		t.Fatalf("pid file of %s-%d: %v alive=%v", name, id, err, alive)
	}
	return pf.Pid
}

func TestExitAtOnceIsErrorWithBackoff(t *testing.T) {
	b, err := New(Options{Dir: t.TempDir(), BackoffMin: 100 * time.Millisecond, BackoffMax: 400 * time.Millisecond,
		BaseEnv: append(defaultBaseEnv(), "CORTEX_TEST_HELPER=exit")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	spec := helperSpec(t, "crash", "exit", 1)
	if err := b.Apply(context.Background(), workload.Deployment{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, b, "crash", "error", func(s workload.Status) bool { return s.State == workload.Error })
	if !strings.Contains(st.Reason, "exit status 7") || !strings.Contains(st.Reason, "boom: missing model file") {
		t.Fatalf("reason %q", st.Reason)
	}
	// Backoff bounds the restart rate: count restarts over a window. With a 400ms cap the
	// count over 2s is far below what a hot loop would do (hundreds). Not a timing assertion on
	// speed, a bound on the rate.
	before := st.Replicas[0].Restarts
	time.Sleep(2 * time.Second)
	st, _ = b.Status("crash")
	if n := st.Replicas[0].Restarts - before; n > 12 {
		t.Fatalf("%d restarts in 2s: backoff not applied", n)
	}
	if len(b.Targets("crash")) != 0 {
		t.Fatal("crashing API has targets")
	}
}

func TestPythonHandler(t *testing.T) {
	dir := t.TempDir()
	handler := `
class Handler:
    def __init__(self, config):
        self.greeting = config["greeting"]
    def handle_post(self, payload):
        if payload == {"bad": True}:
            return {"not json": b"bytes"}
        return {"echo": payload, "greeting": self.greeting}
`
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte(handler), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t)
	b.opts.Python = pyruntime.Python(t)
	spec := apispec.Spec{Name: "py", Kind: apispec.KindRealtime, ProjectDir: dir, Replicas: 1,
		Handler: apispec.Handler{Type: apispec.HandlerPython, Path: "handler.py", Config: map[string]any{"greeting": "hi"}}}
	if err := b.Apply(context.Background(), workload.Deployment{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "py", "live", func(s workload.Status) bool { return s.State == workload.Live })
	resp, err := http.Post("http://"+b.Targets("py")[0]+"/", "application/json", strings.NewReader(`{"x":[1,2]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"echo": {"x": [1, 2]}, "greeting": "hi"}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// A return value that is not JSON is a 500 JSON error; the replica keeps serving.
	for i := 0; i < 2; i++ {
		resp, err = http.Post("http://"+b.Targets("py")[0]+"/", "application/json", strings.NewReader(`{"bad": true}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(string(body), "not JSON serializable") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
}

func TestSweepOrphans(t *testing.T) {
	dir := t.TempDir()
	b, err := New(Options{Dir: dir, BaseEnv: append(defaultBaseEnv(), "CORTEX_TEST_HELPER=serve")})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(context.Background(), workload.Deployment{Spec: helperSpec(t, "o", "serve", 1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "o", "live", func(s workload.Status) bool { return s.State == workload.Live })
	pid := pidOf(t, b, "o", 0)
	// Simulate a dead supervisor: a second backend on the same dir must kill the orphan.
	var once sync.Once
	once.Do(func() {
		if _, err := New(Options{Dir: dir}); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := ProcessStartTime(pid); err == nil {
		t.Fatal("orphan survived the sweep")
	}
	b.Close(context.Background())
}

// A new version is served only once all its replicas are ready: until then the gateway's targets
// are the old version's replicas only, never a mix of old and new code.
func TestNewVersionServesOnlyWhenComplete(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	v1 := helperSpec(t, "api", "serve", 2)
	v1.Env = map[string]string{"GREETING": "v1"}
	if err := b.Apply(ctx, workload.Deployment{Spec: v1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "api", "v1 live", func(s workload.Status) bool { return s.State == workload.Live })
	gate := t.TempDir()
	v2 := helperSpec(t, "api", "serve", 2)
	v2.Env = map[string]string{"GREETING": "v2", "GATE": gate}
	if err := b.Apply(ctx, workload.Deployment{Spec: v2}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gate, "0"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "api", "v2 replica 0 ready", func(s workload.Status) bool {
		return len(s.Replicas) == 2 && s.Replicas[0].State == "ready"
	})
	targets := b.Targets("api")
	if len(targets) != 2 {
		t.Fatalf("targets during the rollout: %v, want the 2 replicas of v1", targets)
	}
	for _, addr := range targets {
		if body := get(t, addr); !strings.Contains(body, "greeting=v1") {
			t.Errorf("during the rollout %s answers %q: v2 served beside v1", addr, body)
		}
	}
	if err := os.WriteFile(filepath.Join(gate, "1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "api", "v2 live", func(s workload.Status) bool { return s.State == workload.Live })
	targets = b.Targets("api")
	if len(targets) != 2 {
		t.Fatalf("targets after the rollout: %v", targets)
	}
	for _, addr := range targets {
		if body := get(t, addr); !strings.Contains(body, "greeting=v2") {
			t.Errorf("after the rollout %s answers %q", addr, body)
		}
	}
}
