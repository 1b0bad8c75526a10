package apispec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const containerYAML = `- name: web
  kind: RealtimeAPI
  handler:
    type: container
    image: registry.example.com/team/web:1.2
    port: 9000
    command: [/server]
    args: [--verbose]
    health_check_path: /healthz
  env:
    MODE: fast
  compute:
    cpu: 500m
    mem: 1Gi
    gpu: 1
    node_group: gpu
`

func TestParseContainerAndCompute(t *testing.T) {
	specs, err := Parse([]byte(containerYAML), "cortex.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, c := specs[0].Handler, specs[0].Compute
	if h.Type != HandlerContainer || h.Image != "registry.example.com/team/web:1.2" || h.Port != 9000 ||
		len(h.Command) != 1 || len(h.Args) != 1 || h.HealthCheckPath != "/healthz" {
		t.Errorf("handler %+v", h)
	}
	if c != (Compute{CPU: "500m", Mem: "1Gi", GPU: 1, NodeGroup: "gpu"}) {
		t.Errorf("compute %+v", c)
	}
	// The defaults: port 8080, the image's own entrypoint, a TCP probe.
	min := "- name: web\n  kind: RealtimeAPI\n  handler: {type: container, image: nginx}\n"
	specs, err = Parse([]byte(min), "cortex.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].Handler.Port != DefaultContainerPort || specs[0].Handler.Command != nil || specs[0].Handler.HealthCheckPath != "" {
		t.Errorf("defaults %+v", specs[0].Handler)
	}
	// YAML 1.2: a number is the quantity as written.
	specs, err = Parse([]byte(strings.Replace(containerYAML, "cpu: 500m", "cpu: 2", 1)), "cortex.yaml", t.TempDir())
	if err != nil || specs[0].Compute.CPU != "2" {
		t.Errorf("cpu 2: %v %+v", err, specs)
	}
}

// A spec without compute hashes as before compute existed, so an upgrade does not restart APIs.
func TestNoComputeKeepsTheHash(t *testing.T) {
	s := Spec{Name: "a", Kind: KindRealtime, Handler: Handler{Type: HandlerCommand, Command: []string{"x"}}}
	if strings.Contains(string(mustJSON(t, s)), "compute") {
		t.Errorf("empty compute is serialized: %s", mustJSON(t, s))
	}
}

func TestContainerAndComputeErrors(t *testing.T) {
	cases := []struct {
		name, old, new, field string
		line                  int
		msg                   string
	}{
		{"no image", "    image: registry.example.com/team/web:1.2\n", "", "handler.image", 3, "required"},
		{"upper-case image", "registry.example.com/team/web:1.2", "Registry/Web", "handler.image", 5, "invalid image reference"},
		{"space in image", "registry.example.com/team/web:1.2", `"web app"`, "handler.image", 5, "invalid image reference"},
		{"bad tag", "registry.example.com/team/web:1.2", `"web:-x"`, "handler.image", 5, "invalid image reference"},
		{"bad digest", "registry.example.com/team/web:1.2", "web@sha256:1234", "handler.image", 5, "invalid image reference"},
		{"option as image", "registry.example.com/team/web:1.2", "--privileged", "handler.image", 5, "invalid image reference"},
		{"port zero", "port: 9000", "port: -1", "handler.port", 6, "between 1 and 65535"},
		{"port high", "port: 9000", "port: 65536", "handler.port", 6, "between 1 and 65535"},
		{"port text", "port: 9000", "port: http", "handler.port", 6, "integer"},
		{"args not a list", "args: [--verbose]", "args: --verbose", "handler.args", 8, "list"},
		{"empty command", "command: [/server]", `command: [""]`, "handler.command[0]", 7, "must not be empty"},
		{"relative health path", "/healthz", "healthz", "handler.health_check_path", 9, "invalid path"},
		{"health path with space", "/healthz", `"/health z"`, "handler.health_check_path", 9, "invalid path"},
		{"health path dotdot", "/healthz", "/a/../b", "handler.health_check_path", 9, "invalid path"},
		{"path with container", "    port: 9000\n", "    port: 9000\n    path: x.py\n", "handler.path", 7, "not allowed with type container"},
		{"image with command type", "type: container", "type: command", "handler.image", 5, "only allowed with type container"},
		{"bad cpu", "cpu: 500m", "cpu: lots", "compute.cpu", 13, "invalid quantity"},
		{"negative cpu", "cpu: 500m", "cpu: -1", "compute.cpu", 13, "must be positive"},
		{"zero mem", "mem: 1Gi", "mem: 0Gi", "compute.mem", 14, "must be positive"},
		{"bad mem unit", "mem: 1Gi", "mem: 1GB", "compute.mem", 14, "invalid quantity"},
		{"negative gpu", "gpu: 1", "gpu: -2", "compute.gpu", 15, "must not be negative"},
		{"fractional gpu", "gpu: 1", "gpu: 0.5", "compute.gpu", 15, "integer"},
		{"node group with slash", "node_group: gpu", "node_group: a/b", "compute.node_group", 16, "invalid node group"},
		{"node group too long", "node_group: gpu", "node_group: " + strings.Repeat("a", 64), "compute.node_group", 16, "invalid node group"},
		{"unknown compute field", "gpu: 1", "gpus: 1", "compute.gpus", 15, "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := strings.Replace(containerYAML, c.old, c.new, 1)
			if y == containerYAML {
				t.Fatalf("%q is not in the spec", c.old)
			}
			_, err := Parse([]byte(y), "cortex.yaml", t.TempDir())
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a FieldError, got %v", err)
			}
			if fe.Field != c.field || fe.Line != c.line || !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("got field %q line %d msg %q; want %q line %d containing %q", fe.Field, fe.Line, fe.Msg, c.field, c.line, c.msg)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestContainerExampleParses(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "container", "cortex.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := Parse(data, "examples/container/cortex.yaml", t.TempDir())
	if err != nil || len(specs) != 1 || specs[0].Handler.Type != HandlerContainer {
		t.Fatalf("%v %+v", err, specs)
	}
}
