//go:build linux

package kubetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// TestRealNode runs the test server image on a real node (kubelet, containerd, runc): a
// 2-replica Deployment with an HTTP readiness probe becomes Available, both pod IPs answer the
// test over HTTP, and a pod's log reads back through the API server's pods/log (API server →
// kubelet on the node's address, both certificates verified).
func TestRealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and a real node")
	}
	// The host before and after, both taken under the host-wide lock (another package's real node
	// may be waiting for it, or have just released it): the harness put it back as it was.
	var before string
	hook := func(phase string) {
		switch phase {
		case "locked":
			before = hostSnapshot()
		case "restored":
			if after := hostSnapshot(); after != before {
				t.Errorf("the host changed:\nbefore: %s\nafter:  %s", before, after)
			}
		}
	}
	c := kubetest.StartWith(t, kubetest.Options{RealNode: true, HostHook: hook})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c.Namespace(t, "web")

	labels := map[string]string{"app": "testserver"}
	replicas := int32(2)
	nonRoot, no := true, false
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "testserver", Namespace: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: &no,
					Containers: []corev1.Container{{
						Name:            "server",
						Image:           c.Node.Images["testserver"],
						ImagePullPolicy: corev1.PullNever, // no registry: the image was imported
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
							PeriodSeconds: 1,
						},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot: &nonRoot, ReadOnlyRootFilesystem: &nonRoot, AllowPrivilegeEscalation: &no,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
	begin := time.Now()
	if _, err := c.Client.AppsV1().Deployments("web").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := kubetest.Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		d, err := c.Client.AppsV1().Deployments("web").Get(ctx, "testserver", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range d.Status.Conditions {
			if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue && d.Status.ReadyReplicas == replicas {
				return true, nil
			}
		}
		return false, fmt.Errorf("ready %d/%d, conditions %v", d.Status.ReadyReplicas, replicas, d.Status.Conditions)
	})
	if err != nil {
		t.Fatalf("Deployment not Available: %v\n%s", err, podStates(ctx, c))
	}
	t.Logf("2-replica Deployment Available in %s", time.Since(begin).Round(10*time.Millisecond))

	pods, err := c.Client.CoreV1().Pods("web").List(ctx, metav1.ListOptions{LabelSelector: "app=testserver"})
	if err != nil {
		t.Fatal(err)
	}
	hostnames := map[string]bool{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != kubetest.RealNodeName || p.Status.PodIP == "" {
			t.Fatalf("pod %s: node %q, IP %q", p.Name, p.Spec.NodeName, p.Status.PodIP)
		}
		resp, err := http.Post("http://"+p.Status.PodIP+":8080/hello", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatalf("pod %s at %s: %v", p.Name, p.Status.PodIP, err)
		}
		var reply map[string]any
		err = json.NewDecoder(resp.Body).Decode(&reply)
		resp.Body.Close()
		if err != nil || reply["server"] != "cortex-testserver" || reply["path"] != "/hello" {
			t.Fatalf("pod %s answered %v (%v)", p.Name, reply, err)
		}
		hostnames[fmt.Sprint(reply["hostname"])] = true
	}
	if len(hostnames) != 2 || !hostnames[pods.Items[0].Name] || !hostnames[pods.Items[1].Name] {
		t.Errorf("answers came from %v, want the two pods", hostnames)
	}

	logs, err := c.Client.CoreV1().Pods("web").GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{}).Stream(ctx)
	if err != nil {
		t.Fatalf("pods/log: %v", err)
	}
	b, _ := io.ReadAll(logs)
	logs.Close()
	if !strings.Contains(string(b), "testserver listening on :8080") {
		t.Errorf("pods/log of %s: %q", pods.Items[0].Name, b)
	}
}

// hostSnapshot is what the kubelet, containerd and the CNI plugins change on the host: the
// sysctls the kubelet sets, ip_forward, the shared directories they write to, the kubelet's
// cgroups, network namespaces and links.
func hostSnapshot() string {
	var b strings.Builder
	for _, k := range []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
		"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward"} {
		v, _ := os.ReadFile("/proc/sys/" + k)
		fmt.Fprintf(&b, "%s=%s ", k, strings.TrimSpace(string(v)))
	}
	for _, p := range []string{"/run/netns", "/var/lib/cni", "/var/log/containers", "/var/log/pods", "/sys/fs/cgroup/memory/kubepods", "/sys/fs/cgroup/cpu/kubepods"} {
		entries, err := os.ReadDir(p)
		fmt.Fprintf(&b, "%s:%d/%v ", p, len(entries), err == nil)
	}
	links, _ := net.Interfaces()
	for _, l := range links {
		b.WriteString(l.Name + " ")
	}
	return b.String()
}

func podStates(ctx context.Context, c *kubetest.Cluster) string {
	pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "%s/%s %s node=%s ip=%s\n", p.Namespace, p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.PodIP)
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "  %s ready=%v state=%+v\n", cs.Name, cs.Ready, cs.State)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Status != corev1.ConditionTrue {
				fmt.Fprintf(&b, "  %s=%s %s %s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
			}
		}
	}
	return b.String()
}
