package kube_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/bundle"
	"github.com/cortexlabs-go/cortex/internal/statestore"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/kube"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// remoteManager drives b as the operator of a cluster does: specs go through validation and
// ComputeOf, and code comes with the deploy. state is the path of its apis.json.
func remoteManager(t *testing.T, b workload.Backend, state string) *workload.Manager {
	t.Helper()
	m, err := workload.NewManager(statestore.NewFiles(filepath.Dir(state)), b)
	if err != nil {
		t.Fatal(err)
	}
	m.Remote = true
	return m
}

func deploy(t *testing.T, m *workload.Manager, specs []apispec.Spec, uploads map[string]bundle.Upload) []workload.Result {
	t.Helper()
	r, err := m.ApplyUploaded(context.Background(), specs, uploads)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return r
}

func getDeployment(t *testing.T, c *kubetest.Cluster, ns, name string) (*corev1.PodSpec, *corev1.Container) {
	t.Helper()
	d, err := c.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps := &d.Spec.Template.Spec
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	return ps, &ps.Containers[0]
}

func envOf(c *corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// checkLockedDown asserts the pod security every API gets, whatever its kind.
func checkLockedDown(t *testing.T, ps *corev1.PodSpec, ctr *corev1.Container) {
	t.Helper()
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken || ps.SecurityContext == nil ||
		ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot ||
		ps.SecurityContext.SeccompProfile == nil || ps.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security %+v automount %v", ps.SecurityContext, ps.AutomountServiceAccountToken)
	}
	sc := ctr.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
		sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("container security %+v", sc)
	}
	vol, mount := false, false
	for _, v := range ps.Volumes {
		vol = vol || (v.Name == "tmp" && v.EmptyDir != nil)
	}
	for _, m := range ctr.VolumeMounts {
		mount = mount || (m.Name == "tmp" && m.MountPath == "/tmp" && !m.ReadOnly)
	}
	if !vol || !mount {
		t.Errorf("no writable emptyDir /tmp: %+v %+v", ps.Volumes, ctr.VolumeMounts)
	}
}

func testContainerKind(t *testing.T, c *kubetest.Cluster) {
	ns := "container"
	c.Namespace(t, ns)
	b := newBackend(t, c, ns)
	m := remoteManager(t, b, filepath.Join(t.TempDir(), "apis.json"))
	specs, err := apispec.Parse([]byte(`
- name: web
  kind: RealtimeAPI
  handler:
    type: container
    image: registry.example.com/team/web:1.2
    port: 9000
    command: [/server]
    args: [--verbose, --port, "9000"]
    health_check_path: /healthz
  env:
    MODE: fast
  compute:
    cpu: 500m
    mem: 1Gi
    node_group: `+kubetest.NodeGroup+`
- name: plain
  kind: RealtimeAPI
  handler: {type: container, image: nginx}
`), "cortex.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	deploy(t, m, specs, nil)
	waitLive(t, b, "web", 1)
	waitLive(t, b, "plain", 1)
	// The gateway's targets are the container's own port.
	if tg := b.Targets("web"); len(tg) != 1 || !strings.HasSuffix(tg[0], ":9000") {
		t.Errorf("web targets %v", tg)
	}

	ps, ctr := getDeployment(t, c, ns, "web")
	if ctr.Image != "registry.example.com/team/web:1.2" || strings.Join(ctr.Command, " ") != "/server" ||
		strings.Join(ctr.Args, " ") != "--verbose --port 9000" {
		t.Errorf("image %q command %q args %q", ctr.Image, ctr.Command, ctr.Args)
	}
	if len(ctr.Ports) != 1 || ctr.Ports[0].ContainerPort != 9000 || ctr.Ports[0].Name != "http" {
		t.Errorf("ports %+v", ctr.Ports)
	}
	env := envOf(ctr)
	if env["MODE"] != "fast" || env["CORTEX_PORT"] != "9000" || env["CORTEX_HOST"] != "0.0.0.0" {
		t.Errorf("env %v", env)
	}
	if p := ctr.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.StrVal != "http" {
		t.Errorf("readiness probe %+v", p)
	}
	r := ctr.Resources
	if cpu, mem, lim := r.Requests[corev1.ResourceCPU], r.Requests[corev1.ResourceMemory], r.Limits[corev1.ResourceMemory]; cpu.String() != "500m" || mem.String() != "1Gi" || lim.String() != "1Gi" {
		t.Errorf("resources %+v", r)
	}
	if _, gpu := r.Limits["nvidia.com/gpu"]; gpu {
		t.Errorf("a GPU limit without gpu: %+v", r)
	}
	if ps.NodeSelector[apispec.NodeGroupLabel] != kubetest.NodeGroup || len(ps.NodeSelector) != 1 {
		t.Errorf("node selector %v", ps.NodeSelector)
	}
	for _, v := range ps.Volumes {
		if v.ConfigMap != nil {
			t.Errorf("a container API mounts code: %+v", v)
		}
	}
	checkLockedDown(t, ps, ctr)

	// The defaults: the image's entrypoint, port 8080, a TCP probe, no resources, any node.
	ps, ctr = getDeployment(t, c, ns, "plain")
	if ctr.Image != "nginx" || ctr.Command != nil || ctr.Args != nil || ctr.Ports[0].ContainerPort != 8080 ||
		ctr.ReadinessProbe == nil || ctr.ReadinessProbe.TCPSocket == nil || len(ctr.Resources.Requests) != 0 || len(ps.NodeSelector) != 0 {
		t.Errorf("plain: %+v", ctr)
	}
	checkLockedDown(t, ps, ctr)
}

// project writes a project directory and reads it as cortex deploy sends it.
func project(t *testing.T, handler string) (string, bundle.Upload) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"handler.py": handler, "lib/util.py": "X = 1\n", "run.sh": "#!/bin/sh\n"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o600)
		if name == "run.sh" {
			mode = 0o700
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	u, err := bundle.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, u
}

func codeConfigMaps(t *testing.T, c *kubetest.Cluster, ns, api string) map[string]corev1.ConfigMap {
	t.Helper()
	l, err := c.Client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kube.LabelAPI + "=" + api})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.ConfigMap{}
	for _, cm := range l.Items {
		out[cm.Name] = cm
	}
	return out
}

func testPythonCode(t *testing.T, c *kubetest.Cluster) {
	ns := "pycode"
	c.Namespace(t, ns)
	ctx := context.Background()
	b := newBackend(t, c, ns)
	state := filepath.Join(t.TempDir(), "apis.json")
	m := remoteManager(t, b, state)
	dir, u1 := project(t, "class Handler: pass  # v1\n")
	py := apispec.Spec{Name: "py", Kind: apispec.KindRealtime, ProjectDir: dir, Replicas: 2,
		Handler: apispec.Handler{Type: apispec.HandlerPython, Path: "handler.py", Config: map[string]any{"k": "v"}}}

	// Without its code, a python API is refused on a cluster, and so is a handler the upload lacks.
	if _, err := m.ApplyUploaded(ctx, []apispec.Spec{py}, nil); !isValidation(err) || !strings.Contains(err.Error(), "did not come with the deploy") {
		t.Errorf("python API without code: %v", err)
	}
	other := py
	other.Handler.Path = "other.py"
	if _, err := m.ApplyUploaded(ctx, []apispec.Spec{other}, map[string]bundle.Upload{dir: u1}); !isValidation(err) || !strings.Contains(err.Error(), "not among the project's files") {
		t.Errorf("handler not uploaded: %v", err)
	}
	tampered := u1
	tampered.Files = append([]bundle.File(nil), u1.Files...)
	tampered.Files[0].Data = []byte("import os; os.system('x')")
	if _, err := m.ApplyUploaded(ctx, []apispec.Spec{py}, map[string]bundle.Upload{dir: tampered}); !isValidation(err) || !strings.Contains(err.Error(), "hash mismatch") {
		t.Errorf("tampered upload: %v", err)
	}
	if cms := codeConfigMaps(t, c, ns, "py"); len(cms) != 0 {
		t.Fatalf("a refused deploy left ConfigMaps: %v", cms)
	}

	deploy(t, m, []apispec.Spec{py}, map[string]bundle.Upload{dir: u1})
	waitLive(t, b, "py", 2)
	name1 := "py-code-" + u1.Hash[:16]
	cms := codeConfigMaps(t, c, ns, "py")
	cm, ok := cms[name1]
	if !ok || len(cms) != 1 {
		t.Fatalf("code ConfigMaps %v, want %s", keys(cms), name1)
	}
	if cm.Immutable == nil || !*cm.Immutable || cm.Annotations[kube.AnnotationCodeHash] != u1.Hash || cm.Labels[kube.LabelManagedBy] != "cortex" {
		t.Errorf("ConfigMap meta %+v immutable %v", cm.ObjectMeta, cm.Immutable)
	}
	// Safe keys, whatever the file names; the files' bytes.
	want := map[string]string{"f0000": "class Handler: pass  # v1\n", "f0001": "X = 1\n", "f0002": "#!/bin/sh\n"}
	if len(cm.BinaryData) != len(want) {
		t.Errorf("binaryData keys %v", keys(cm.BinaryData))
	}
	for k, v := range want {
		if string(cm.BinaryData[k]) != v {
			t.Errorf("binaryData[%s] = %q, want %q", k, cm.BinaryData[k], v)
		}
	}

	ps, ctr := getDeployment(t, c, ns, "py")
	var vol *corev1.Volume
	for i := range ps.Volumes {
		if ps.Volumes[i].ConfigMap != nil {
			vol = &ps.Volumes[i]
		}
	}
	if vol == nil || vol.ConfigMap.Name != name1 {
		t.Fatalf("code volume %+v", ps.Volumes)
	}
	items := map[string]string{}
	for _, it := range vol.ConfigMap.Items {
		items[it.Key] = fmt.Sprintf("%s %o", it.Path, *it.Mode)
	}
	if fmt.Sprint(items) != fmt.Sprint(map[string]string{"f0000": "handler.py 444", "f0001": "lib/util.py 444", "f0002": "run.sh 555"}) {
		t.Errorf("items %v", items)
	}
	mounted := false
	for _, mt := range ctr.VolumeMounts {
		if mt.Name == vol.Name {
			mounted = mt.MountPath == "/app" && mt.ReadOnly
		}
	}
	env := envOf(ctr)
	if !mounted || ctr.WorkingDir != "/app" || env["CORTEX_HANDLER_PATH"] != "/app/handler.py" || env["CORTEX_HOST"] != "0.0.0.0" ||
		env["CORTEX_HANDLER_CONFIG"] != `{"k":"v"}` || ctr.Image != testImage {
		t.Errorf("mount %v workdir %q env %v image %q", ctr.VolumeMounts, ctr.WorkingDir, env, ctr.Image)
	}
	checkLockedDown(t, ps, ctr)

	// Immutable: the API server refuses to change the code in place.
	cm.BinaryData["f0000"] = []byte("import evil")
	if _, err := c.Client.CoreV1().ConfigMaps(ns).Update(ctx, &cm, metav1.UpdateOptions{}); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("update of the code ConfigMap: %v", err)
	}

	// The same code again: unchanged, nothing rolls.
	if r := deploy(t, m, []apispec.Spec{py}, map[string]bundle.Upload{dir: u1}); r[0].Action != workload.ActionUnchanged {
		t.Errorf("same code: %+v", r)
	}

	// An operator restart (a new backend and manager on the same state and cluster) restores the
	// API from the ConfigMap, without the files, and changes nothing.
	gen := generation(t, c, ns, "py")
	b2 := newBackend(t, c, ns)
	m2 := remoteManager(t, b2, state)
	if err := m2.Restore(ctx); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if g := generation(t, c, ns, "py"); g != gen {
		t.Errorf("restore changed the Deployment: generation %d -> %d", gen, g)
	}

	// New code: a new ConfigMap; the old one goes once no pod uses it.
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte("class Handler: pass  # v2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u2, err := bundle.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r := deploy(t, m2, []apispec.Spec{py}, map[string]bundle.Upload{dir: u2}); r[0].Action != workload.ActionUpdated {
		t.Errorf("new code: %+v", r)
	}
	name2 := "py-code-" + u2.Hash[:16]
	waitLive(t, b2, "py", 2)
	waitFor(t, "only the new code's ConfigMap", func() (bool, string) {
		cms := codeConfigMaps(t, c, ns, "py")
		_, ok := cms[name2]
		return ok && len(cms) == 1, fmt.Sprint(keys(cms))
	})
	if _, ctr := getDeployment(t, c, ns, "py"); ctr.VolumeMounts == nil {
		t.Error("no mounts")
	}

	// A project too big for a ConfigMap is refused with the reason (straight to the backend:
	// the manager refuses it earlier, see package bundle).
	big := workload.Deployment{Spec: py, Code: strings.Repeat("b", 64), Files: []bundle.File{
		{Path: "a.bin", Data: make([]byte, 600<<10)}, {Path: "b.bin", Data: make([]byte, 600<<10)}}}
	if err := b2.Apply(ctx, big); err == nil || !strings.Contains(err.Error(), "1 MiB") || !strings.Contains(err.Error(), "ConfigMap") {
		t.Errorf("oversize code: %v", err)
	}
	// A ConfigMap of the code's name that cortex did not make is not used.
	squat := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "sq-code-" + strings.Repeat("c", 16)}, Data: map[string]string{"x": "y"}}
	if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, squat, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sq := py
	sq.Name = "sq"
	if err := b2.Apply(ctx, workload.Deployment{Spec: sq, Code: strings.Repeat("c", 64), Files: u2.Files}); err == nil || !strings.Contains(err.Error(), "not this API's code") {
		t.Errorf("squatted ConfigMap: %v", err)
	}

	// Delete removes the code too.
	if err := m2.Delete(ctx, "py"); err != nil {
		t.Fatal(err)
	}
	if cms := codeConfigMaps(t, c, ns, "py"); len(cms) != 0 {
		t.Errorf("code left after delete: %v", keys(cms))
	}
	if _, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, squat.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("a ConfigMap cortex does not own was touched: %v", err)
	}
}

// testGPUThroughTheSpec: compute.gpu beyond the node's capacity, deployed as a user would,
// reports the scheduler's reason.
func testGPUThroughTheSpec(t *testing.T, c *kubetest.Cluster) {
	ns := "gpuspec"
	c.Namespace(t, ns)
	b := newBackend(t, c, ns)
	m := remoteManager(t, b, filepath.Join(t.TempDir(), "apis.json"))
	specs, err := apispec.Parse([]byte(fmt.Sprintf(`
- name: big
  kind: RealtimeAPI
  handler: {type: container, image: registry.example.com/llm:1}
  compute: {gpu: %d, mem: 2Gi}
`, kubetest.NodeGPUs+1)), "cortex.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	deploy(t, m, specs, nil)
	waitFor(t, "big unschedulable", func() (bool, string) {
		st, err := m.Get("big")
		return err == nil && st.Status == workload.Error && strings.Contains(st.Reason, "unschedulable") &&
			strings.Contains(st.Reason, "Insufficient nvidia.com/gpu"), fmt.Sprintf("%+v", st)
	})
	_, ctr := getDeployment(t, c, ns, "big")
	if g := ctr.Resources.Limits["nvidia.com/gpu"]; g.Value() != int64(kubetest.NodeGPUs+1) {
		t.Errorf("gpu limit %v", g.String())
	}
}

func isValidation(err error) bool {
	var ve *workload.ValidationError
	return errors.As(err, &ve)
}

func generation(t *testing.T, c *kubetest.Cluster, ns, name string) int64 {
	t.Helper()
	d, err := c.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
