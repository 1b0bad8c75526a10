package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Editing handler.py and deploying again rolls the API out ("updated"), and every replica then
// serves the new code; a replica restarted later, or `cortex restart`, runs the deployed code, not
// whatever is in the project directory by then.
func TestChangedCodeIsRedeployed(t *testing.T) {
	c := newCluster(t)
	c.must("cluster", "up")
	t.Cleanup(func() { c.run("cluster", "down") })
	dir := project(t, "echo", "handler.py")
	yaml := filepath.Join(dir, "cortex.yaml")
	writeFile(t, yaml, fmt.Sprintf(echoYAML, 2))
	handler := filepath.Join(dir, "handler.py")
	orig, err := os.ReadFile(handler)
	if err != nil {
		t.Fatal(err)
	}
	withCode := func(tag string) {
		t.Helper()
		src := strings.Replace(string(orig), `"greeting": self.greeting,`, `"greeting": self.greeting, "code": "`+tag+`",`, 1)
		if src == string(orig) {
			t.Fatal("the example handler changed; adapt the test")
		}
		writeFile(t, handler, src)
	}
	withCode("v1")
	if out := c.must("deploy", yaml); !strings.Contains(out, "created api echo") {
		t.Fatalf("deploy: %s", out)
	}
	v1 := c.get("echo").Version
	if len(v1) != 64 {
		t.Fatalf("the API's status has no content hash: %q", v1)
	}
	if out := c.must("get", "echo"); !strings.Contains(out, v1[:12]) {
		t.Fatalf("cortex get API does not show the version %s:\n%s", v1[:12], out)
	}
	client := c.httpsClient()
	endpoint := c.get("echo").Endpoint
	// answers collects the code tag of each replica (polls until both replicas have answered).
	answers := func() map[string]string {
		seen := map[string]string{}
		c.waitFor("both replicas answering", func() bool {
			a := callEcho(t, client, endpoint)
			seen[a["replica"].(string)], _ = a["code"].(string)
			return len(seen) == 2
		})
		return seen
	}
	allServe := func(when, tag string) {
		t.Helper()
		for r, code := range answers() {
			if code != tag {
				t.Errorf("%s: replica %s serves code %q, want %q", when, r, code, tag)
			}
		}
	}
	allServe("first deploy", "v1")

	withCode("v2")
	out := c.must("deploy", yaml)
	if !strings.Contains(out, "updated api echo") {
		t.Fatalf("deploy after editing handler.py: %s", out)
	}
	v2 := c.get("echo").Version
	if v2 == v1 {
		t.Fatal("the version did not change with the code")
	}
	allServe("after the redeploy", "v2")

	// Edited but not deployed: a replica that restarts still runs v2, beside the other v2 replica.
	withCode("v3")
	pid := 0
	c.waitFor("replica 0's pid", func() bool {
		a := callEcho(t, client, endpoint)
		if a["replica"] == "0" {
			pid = int(a["pid"].(float64))
		}
		return pid != 0
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.waitFor("replica 0 back", func() bool {
		s := c.get("echo")
		return s.Status == "live" && s.Replicas.Ready == 2 && s.Details[0].Restarts >= 1
	})
	allServe("after replica 0 restarted", "v2")

	// cortex restart replaces every replica, with the deployed code.
	if out := c.must("restart", "echo"); !strings.Contains(out, "restarted api echo") {
		t.Fatalf("restart: %s", out)
	}
	c.waitFor("live after restart", func() bool { s := c.get("echo"); return s.Status == "live" && s.Replicas.Ready == 2 })
	if c.get("echo").Version != v2 {
		t.Error("restart changed the version")
	}
	allServe("after cortex restart", "v2")
	if out := c.must("deploy", yaml); !strings.Contains(out, "updated api echo") {
		t.Fatalf("deploy of v3: %s", out)
	}
	allServe("after deploying v3", "v3")
	if _, errOut, code := c.run("restart", "nope"); code == 0 || !strings.Contains(errOut, "not deployed") {
		t.Errorf("restart of an unknown API: %d %s", code, errOut)
	}
}
