package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const echoYAML = `- name: echo
  kind: RealtimeAPI
  handler:
    type: python
    path: handler.py
    config:
      greeting: hello
  replicas: %d
  auth:
    type: none
`

// up -> deploy echo -> get live -> verified HTTPS call -> replicas 1->2 -> kill a replica, it
// comes back -> delete -> down: no process, no open port.
func TestLocalLifecycle(t *testing.T) {
	c := newCluster(t)
	c.must("cluster", "up")
	// Twice is safe.
	if _, errOut, code := c.run("cluster", "up"); code != 0 || !strings.Contains(errOut, "already running") {
		t.Fatalf("second up: %d %s", code, errOut)
	}
	ci := c.info()
	if !ci.Running || !strings.HasPrefix(ci.OperatorEndpoint, "https://127.0.0.1:") || !strings.HasPrefix(ci.GatewayEndpoint, "https://127.0.0.1:") {
		t.Fatalf("info %+v", ci)
	}
	for _, f := range []string{"local/admin.token", "cli.yaml", "local/operator.pid", "local/state/apis.json"} {
		p := filepath.Join(c.configDir, f)
		if f == "local/state/apis.json" {
			continue // written at the first deploy
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}

	dir := project(t, "echo", "handler.py")
	yaml := filepath.Join(dir, "cortex.yaml")
	writeFile(t, yaml, fmt.Sprintf(echoYAML, 1))
	out := c.must("deploy", yaml)
	if !strings.Contains(out, "created api echo") || !strings.Contains(out, "api echo is live at") {
		t.Fatalf("deploy output: %s", out)
	}
	out = c.must("get")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "echo") || !strings.Contains(out, "live") || !strings.Contains(out, "1/1") {
		t.Fatalf("get: %s", out)
	}
	st := c.get("echo")
	if st.Endpoint != ci.GatewayEndpoint+"/echo" {
		t.Fatalf("endpoint %q", st.Endpoint)
	}

	client := c.httpsClient()
	ans := callEcho(t, client, st.Endpoint)
	if ans["greeting"] != "hello" {
		t.Fatalf("answer %v", ans)
	}
	// Without the CA the client refuses the gateway.
	if _, err := http.Get(st.Endpoint); err == nil {
		t.Fatal("the gateway was trusted without the cluster's CA")
	}

	// Redeploying the same file changes nothing.
	if out := c.must("deploy", yaml, "--no-wait"); !strings.Contains(out, "unchanged api echo") {
		t.Fatalf("redeploy: %s", out)
	}
	// Scale 1 -> 2.
	writeFile(t, yaml, fmt.Sprintf(echoYAML, 2))
	if out := c.must("deploy", yaml); !strings.Contains(out, "updated api echo") {
		t.Fatalf("update: %s", out)
	}
	st = c.get("echo")
	if st.Status != "live" || st.Replicas.Ready != 2 || st.Replicas.Requested != 2 {
		t.Fatalf("after scaling: %+v", st)
	}
	pids := map[string]int{}
	c.waitFor("both replicas answering", func() bool {
		a := callEcho(t, client, st.Endpoint)
		pids[a["replica"].(string)] = int(a["pid"].(float64))
		return len(pids) == 2
	})

	// Kill replica 0: it comes back with a new process.
	victim := pids["0"]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.waitFor("replica 0 restarted", func() bool {
		s := c.get("echo")
		return s.Status == "live" && s.Replicas.Ready == 2 && len(s.Details) == 2 && s.Details[0].Restarts >= 1
	})
	c.waitFor("a new replica 0 answering", func() bool {
		a := callEcho(t, client, st.Endpoint)
		if a["replica"] == "0" {
			pids["0"] = int(a["pid"].(float64))
			return true
		}
		return false
	})
	if pids["0"] == victim {
		t.Fatal("replica 0 has the killed pid")
	}

	logs := c.must("logs", "echo")
	if !strings.Contains(logs, "[echo-0] cortex: echo serving") || !strings.Contains(logs, "[echo-1]") {
		t.Fatalf("logs: %s", logs)
	}

	if out := c.must("delete", "echo", "--yes"); !strings.Contains(out, "deleted api echo") {
		t.Fatalf("delete: %s", out)
	}
	if _, errOut, code := c.run("get", "echo"); code == 0 || !strings.Contains(errOut, "not deployed") {
		t.Fatalf("get after delete: %d %s", code, errOut)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("replica pid %d alive after delete", pid)
		}
	}

	c.must("cluster", "down")
	if alive(ci.PID) {
		t.Errorf("operator pid %d alive after down", ci.PID)
	}
	if left := c.processes(); len(left) != 0 {
		t.Errorf("processes left after down: %v", left)
	}
	for _, ep := range []string{ci.OperatorEndpoint, ci.GatewayEndpoint} {
		if portOpen(ep) {
			t.Errorf("%s still open after down", ep)
		}
	}
	if _, err := os.Stat(filepath.Join(c.configDir, "local")); !os.IsNotExist(err) {
		t.Errorf("cluster files left after down: %v", err)
	}
	// No cluster any more: info says so and fails (issue 12, item 10).
	if out, errOut, code := c.run("cluster", "info"); code != 1 || !strings.Contains(errOut, "there is no local cluster") {
		t.Errorf("info after down: exit %d\n%s%s", code, out, errOut)
	}
}

// The operator killed with SIGKILL: its replicas die with it, `cluster up` notices the stale pid
// file and brings every API back on the same endpoint.
func TestOperatorSIGKILLAndRestart(t *testing.T) {
	c := newCluster(t)
	c.must("cluster", "up")
	dir := project(t, "echo", "handler.py")
	yaml := filepath.Join(dir, "cortex.yaml")
	writeFile(t, yaml, fmt.Sprintf(echoYAML, 2))
	c.must("deploy", yaml)
	st := c.get("echo")
	client := c.httpsClient()
	replicaPID := int(callEcho(t, client, st.Endpoint)["pid"].(float64))
	ci := c.info()

	if err := syscall.Kill(ci.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.waitFor("operator and replicas gone", func() bool { return !alive(ci.PID) && !alive(replicaPID) })
	if out := c.must("cluster", "info"); !strings.Contains(out, "stale pid file") {
		t.Fatalf("info after kill: %s", out)
	}
	_, errOut, code := c.run("cluster", "up")
	if code != 0 || !strings.Contains(errOut, "stale pid file") {
		t.Fatalf("up after kill: %d %s", code, errOut)
	}
	c.waitFor("echo live again", func() bool {
		s := c.get("echo")
		return s.Status == "live" && s.Replicas.Ready == 2
	})
	st2 := c.get("echo")
	if st2.Endpoint != st.Endpoint {
		t.Errorf("endpoint changed across the restart: %s -> %s", st.Endpoint, st2.Endpoint)
	}
	if a := callEcho(c.t, c.httpsClient(), st2.Endpoint); a["greeting"] != "hello" {
		t.Fatalf("after restart: %v", a)
	}
	c.must("cluster", "down")
	if left := c.processes(); len(left) != 0 {
		t.Errorf("processes left after down: %v", left)
	}
}

// Hostile specs are refused with the field and the line and change nothing; a command that
// exits at once is an error with its reason, not a hot crash loop; a 100 MiB body is a 413.
func TestHostileInput(t *testing.T) {
	c := newCluster(t)
	c.must("cluster", "up")
	dir := project(t, "echo", "handler.py")
	good := filepath.Join(dir, "cortex.yaml")
	writeFile(t, good, fmt.Sprintf(echoYAML, 1))
	c.must("deploy", good)
	before := c.get("echo")

	// (echoYAML is 10 lines: its auth field is the last two.)
	cases := map[string]struct{ yaml, want string }{
		"unknown kind":    {strings.Replace(fmt.Sprintf(echoYAML, 3), "RealtimeAPI", "BatchAPI", 1), `:2: api "echo" (#1): kind: unknown kind "BatchAPI"`},
		"duplicate names": {fmt.Sprintf(echoYAML, 3) + fmt.Sprintf(echoYAML, 1), `:11: api "echo" (#2): name: duplicate name "echo"`},
		"dotdot endpoint": {fmt.Sprintf(echoYAML, 3) + "  networking:\n    endpoint: /a/../b\n", `:12: api "echo" (#1): networking.endpoint: invalid endpoint`},
		"space endpoint":  {fmt.Sprintf(echoYAML, 3) + "  networking:\n    endpoint: \"/a b\"\n", `:12: api "echo" (#1): networking.endpoint: invalid endpoint`},
		"unknown field":   {fmt.Sprintf(echoYAML, 3) + "  replicaz: 2\n", `:11: api "echo" (#1): replicaz: unknown field`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.yaml")
			writeFile(t, p, tc.yaml)
			_, errOut, code := c.run("deploy", p)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want it to contain %q", code, errOut, tc.want)
			}
		})
	}
	after := c.get("echo")
	if after.Replicas.Requested != 1 || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("an invalid spec changed the API: %+v -> %+v", before, after)
	}

	// A command that exits at once.
	crash := filepath.Join(dir, "crash.yaml")
	writeFile(t, crash, `- name: crash
  kind: RealtimeAPI
  handler:
    type: command
    command: [python3, -c, "import sys; print('cannot load model.bin', file=sys.stderr); sys.exit(3)"]
  auth: {type: none}
`)
	_, errOut, code := c.run("deploy", crash)
	if code == 0 || !strings.Contains(errOut, "exit status 3") || !strings.Contains(errOut, "cannot load model.bin") {
		t.Fatalf("deploy of a crashing API: exit %d, stderr %s", code, errOut)
	}
	st := c.get("crash")
	if st.Status != "error" || !strings.Contains(st.Reason, "exit status 3") {
		t.Fatalf("crash status %+v", st)
	}
	// Backoff: restarts grow slowly (doubling from 250ms, capped at 30s), so even now the
	// count is small; a hot loop would be in the hundreds or thousands.
	if n := st.Details[0].Restarts; n > 20 {
		t.Fatalf("%d restarts: crash loop without backoff", n)
	}
	resp, err := c.httpsClient().Get(c.info().GatewayEndpoint + "/crash")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"code":"no_ready_replica"`) {
		t.Fatalf("call to a crashing API: %d %s", resp.StatusCode, body)
	}

	// 100 MiB to the gateway: 413, nothing buffered.
	req, _ := http.NewRequest("POST", before.Endpoint, io.LimitReader(zeroReader{}, 100<<20))
	req.ContentLength = 100 << 20
	resp, err = c.httpsClient().Do(req)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || !strings.Contains(string(body), "body_too_large") {
			t.Fatalf("100 MiB body: %d %s", resp.StatusCode, body)
		}
	} else if !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "broken pipe") {
		t.Fatal(err)
	}
	// The API still works afterwards.
	callEcho(t, c.httpsClient(), before.Endpoint)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
