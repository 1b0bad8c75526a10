package install_test

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// The Services are externalTrafficPolicy Local: a node port answers only on a node that runs a
// replica. ServiceAddress of a NodePort Service therefore names a node with a ready pod of the
// Service (one with a scheduled pod while none is ready), never an arbitrary node, and lists every
// node's address as Hosts (what the certificate and the operator's public endpoints cover).
//
// The nodes here are plain Node objects (no kwok annotation, no kubelet): the test binds the pods
// to them and writes the pods' status as a kubelet would; nothing dials the addresses.
func TestServiceAddressNamesANodeWithAReplica(t *testing.T) {
	c := kubetest.Start(t)
	ctx := context.Background()
	ns := "np"
	c.Namespace(t, ns)

	// Addresses chosen so that the node with the replica sorts last.
	nodes := map[string]string{"np-a": "192.0.2.1", "np-b": "192.0.2.2", "np-c": "192.0.2.3"}
	for name, ip := range nodes {
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The node controller writes new nodes too: read, change, write until no conflict.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}
			_, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wantHosts []string // every node's InternalIP (the kwok node's too), sorted
	for _, n := range all.Items {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && !slices.Contains(wantHosts, a.Address) {
				wantHosts = append(wantHosts, a.Address)
			}
		}
	}
	slices.Sort(wantHosts)

	sel := map[string]string{"app": "np"}
	svc, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "np"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: sel,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports:                 []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodePort := svc.Spec.Ports[0].NodePort

	check := func(step, wantHost string) {
		t.Helper()
		a, ok, err := install.ServiceAddress(ctx, c.Client, ns, "np")
		if err != nil || !ok {
			t.Fatalf("%s: ServiceAddress: ok %v, %v", step, ok, err)
		}
		if a.Host != wantHost || a.Port != nodePort || a.How != "node port" || !slices.Equal(a.Hosts, wantHosts) {
			t.Errorf("%s: %+v, want host %s port %d, hosts %v", step, a, wantHost, nodePort, wantHosts)
		}
	}
	pod := func(name, node string, ready bool) {
		t.Helper()
		p, err := c.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: sel},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "example.invalid/none"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		if _, err := c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// No pod yet: the first node (it will be signed for like every other).
	check("no pod", wantHosts[0])
	// A pod scheduled on np-b, not ready: np-b is where the replica will be.
	pod("on-b", "np-b", false)
	check("scheduled on np-b", nodes["np-b"])
	// A ready pod on np-c wins over the pod that is not ready.
	pod("on-c", "np-c", true)
	check("ready on np-c", nodes["np-c"])
}
