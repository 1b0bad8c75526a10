package kube_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testImage = "cortex/runtime:test"

// TestBackend runs every scenario against one real control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) with a kwok node, each in its own namespace.
func TestBackend(t *testing.T) {
	c := kubetest.Start(t)
	t.Run("LifecycleAndTargets", func(t *testing.T) { testLifecycle(t, c) })
	t.Run("SecurityAndCompute", func(t *testing.T) { testSecurity(t, c) })
	t.Run("DeleteOnlyOwn", func(t *testing.T) { testDelete(t, c) })
	t.Run("StatusReasons", func(t *testing.T) { testStatusReasons(t, c) })
	t.Run("BackendRestart", func(t *testing.T) { testBackendRestart(t, c) })
	t.Run("Logs", func(t *testing.T) { testLogs(t, c) })
	t.Run("ContainerKind", func(t *testing.T) { testContainerKind(t, c) })
	t.Run("PythonCode", func(t *testing.T) { testPythonCode(t, c) })
	t.Run("GPUThroughTheSpec", func(t *testing.T) { testGPUThroughTheSpec(t, c) })
	t.Run("Identities", func(t *testing.T) { testIdentities(t, c) })
}

func newBackend(t *testing.T, c *kubetest.Cluster, ns string) *kube.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := kube.New(ctx, kube.Options{Client: c.Client, Namespace: ns, Image: testImage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b
}

func spec(name string, replicas int, env map[string]string) apispec.Spec {
	return apispec.Spec{
		Name: name, Kind: apispec.KindRealtime, Replicas: replicas, Env: env,
		Handler: apispec.Handler{Type: apispec.HandlerCommand, Command: []string{"python3", "server.py"}},
	}
}

func apply(t testing.TB, b *kube.Backend, d workload.Deployment) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Apply(ctx, d); err != nil {
		t.Fatalf("apply %s: %v", d.Spec.Name, err)
	}
}

// waitFor polls cond until it holds (a minute at most) and fails with the last description.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last string
	err := kubetest.Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		ok, desc := cond()
		last = desc
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v; last seen: %s", what, err, last)
	}
}

func waitLive(t *testing.T, b *kube.Backend, name string, replicas int) workload.Status {
	t.Helper()
	var st workload.Status
	waitFor(t, name+" live with "+fmt.Sprint(replicas)+" replicas", func() (bool, string) {
		var ok bool
		st, ok = b.Status(name)
		return ok && st.State == workload.Live && st.Ready == replicas && st.Requested == replicas && len(b.Targets(name)) == replicas,
			fmt.Sprintf("ok=%v %+v targets=%v", ok, st, b.Targets(name))
	})
	return st
}

func replicaSets(t *testing.T, c *kubetest.Cluster, ns, name string) []appsv1.ReplicaSet {
	t.Helper()
	list, err := c.Client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kube.LabelAPI + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func podTargets(t *testing.T, c *kubetest.Cluster, ns, name string) []string {
	t.Helper()
	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kube.LabelAPI + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			out = append(out, p.Status.PodIP+":8080")
		}
	}
	sort.Strings(out)
	return out
}

func testLifecycle(t *testing.T, c *kubetest.Cluster) {
	ns := "lifecycle"
	c.Namespace(t, ns)
	b := newBackend(t, c, ns)
	ctx := context.Background()
	deps := c.Client.AppsV1().Deployments(ns)

	// Apply: one replica, live, its pod IP a target (from the EndpointSlice).
	apply(t, b, workload.Deployment{Spec: spec("iris", 1, map[string]string{"V": "1"}), UpdatedAt: time.Unix(1700000000, 0)})
	st := waitLive(t, b, "iris", 1)
	if !st.UpdatedAt.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("UpdatedAt = %v", st.UpdatedAt)
	}
	if got, want := b.Targets("iris"), podTargets(t, c, ns, "iris"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("targets %v, pods %v", got, want)
	}
	if _, err := c.Client.CoreV1().Services(ns).Get(ctx, "iris", metav1.GetOptions{}); err != nil {
		t.Errorf("service: %v", err)
	}
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "iris", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a PodDisruptionBudget for one replica: %v", err)
	}

	// Scale: the same ReplicaSet grows; a PodDisruptionBudget appears.
	apply(t, b, workload.Deployment{Spec: spec("iris", 3, map[string]string{"V": "1"})})
	waitLive(t, b, "iris", 3)
	waitFor(t, "targets of 3 pods", func() (bool, string) {
		got, want := b.Targets("iris"), podTargets(t, c, ns, "iris")
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("targets %v pods %v", got, want)
	})
	if rs := replicaSets(t, c, ns, "iris"); len(rs) != 1 {
		t.Errorf("scaling created a new ReplicaSet: %d", len(rs))
	}
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "iris", metav1.GetOptions{}); err != nil {
		t.Errorf("PodDisruptionBudget for 3 replicas: %v", err)
	}

	// Update: a changed template rolls without dropping capacity.
	apply(t, b, workload.Deployment{Spec: spec("iris", 3, map[string]string{"V": "2"})})
	d, err := deps.Get(ctx, "iris", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge.IntValue() != 1 {
		t.Errorf("strategy %+v", d.Spec.Strategy)
	}
	waitFor(t, "the update rolled out", func() (bool, string) {
		st, _ := b.Status("iris")
		rs := replicaSets(t, c, ns, "iris")
		return st.State == workload.Live && len(rs) == 2, fmt.Sprintf("%+v, %d replica sets", st, len(rs))
	})
	waitLive(t, b, "iris", 3)

	// Scale down to one: the PodDisruptionBudget goes.
	apply(t, b, workload.Deployment{Spec: spec("iris", 1, map[string]string{"V": "2"})})
	waitLive(t, b, "iris", 1)
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "iris", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("PodDisruptionBudget after scaling to 1: %v", err)
	}

	// Restart: a new template annotation, a new ReplicaSet; a later Apply keeps the annotation.
	if err := b.Restart(ctx, "iris"); err != nil {
		t.Fatal(err)
	}
	d, err = deps.Get(ctx, "iris", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restarted := d.Spec.Template.Annotations[kube.AnnotationRestartedAt]
	if restarted == "" {
		t.Fatalf("no %s annotation after Restart: %v", kube.AnnotationRestartedAt, d.Spec.Template.Annotations)
	}
	waitFor(t, "the restart rolled out", func() (bool, string) {
		st, _ := b.Status("iris")
		rs := replicaSets(t, c, ns, "iris")
		return st.State == workload.Live && len(rs) == 3, fmt.Sprintf("%+v, %d replica sets", st, len(rs))
	})
	gen := d.Generation
	apply(t, b, workload.Deployment{Spec: spec("iris", 1, map[string]string{"V": "2"})})
	d, err = deps.Get(ctx, "iris", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Annotations[kube.AnnotationRestartedAt] != restarted || d.Generation != gen {
		t.Errorf("re-applying the same spec changed the deployment: generation %d -> %d, annotations %v", gen, d.Generation, d.Spec.Template.Annotations)
	}
	if err := b.Restart(ctx, "nope"); err == nil {
		t.Error("Restart of an unknown API succeeded")
	}
}

func testSecurity(t *testing.T, c *kubetest.Cluster) {
	ns := "security"
	c.Namespace(t, ns)
	b := newBackend(t, c, ns)
	ctx := context.Background()
	secret := map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}
	apply(t, b, workload.Deployment{
		Spec:      spec("gpu", 1, nil),
		SecretEnv: secret,
		Compute:   workload.Compute{CPU: "500m", Memory: "1Gi", GPU: 1, NodeSelector: map[string]string{kubetest.NodeLabel: kubetest.NodeGroup}},
	})
	waitLive(t, b, "gpu", 1)

	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "gpu", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps := d.Spec.Template.Spec
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Error("pod automounts a service-account token")
	}
	if ps.ServiceAccountName != "gpu" || ps.EnableServiceLinks == nil || *ps.EnableServiceLinks {
		t.Errorf("service account %q, enableServiceLinks %v", ps.ServiceAccountName, ps.EnableServiceLinks)
	}
	psc := ps.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	ctr := ps.Containers[0]
	sc := ctr.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Privileged == nil || *sc.Privileged || sc.Capabilities == nil || fmt.Sprint(sc.Capabilities.Drop) != "[ALL]" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("container security context %+v", sc)
	}
	if ctr.Image != testImage || fmt.Sprint(ctr.Command) != "[python3 server.py]" {
		t.Errorf("image %q command %v", ctr.Image, ctr.Command)
	}
	for _, e := range ctr.Env {
		if strings.HasPrefix(e.Name, "AWS_") || strings.Contains(e.Value, "s3cr3t") {
			t.Errorf("secret in the Deployment's env: %s", e.Name)
		}
	}
	if len(ctr.EnvFrom) != 1 || ctr.EnvFrom[0].SecretRef == nil || ctr.EnvFrom[0].SecretRef.Name != "gpu-env" {
		t.Errorf("envFrom %+v", ctr.EnvFrom)
	}
	s, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "gpu-env", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["AWS_SECRET_ACCESS_KEY"]) != "s3cr3t-value" || s.Labels[kube.LabelManagedBy] != kube.ManagedBy {
		t.Errorf("secret labels %v keys %d", s.Labels, len(s.Data))
	}
	r := ctr.Resources
	if r.Requests.Cpu().String() != "500m" || r.Requests.Memory().String() != "1Gi" || r.Limits.Memory().String() != "1Gi" {
		t.Errorf("resources %+v", r)
	}
	if g := r.Limits["nvidia.com/gpu"]; g.Value() != 1 {
		t.Errorf("gpu limit %v", g.String())
	}
	if ps.NodeSelector[kubetest.NodeLabel] != kubetest.NodeGroup {
		t.Errorf("node selector %v", ps.NodeSelector)
	}

	sa, err := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "gpu", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("service account automounts its token")
	}

	np, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, "gpu", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if np.Spec.PodSelector.MatchLabels[kube.LabelAPI] != "gpu" || len(np.Spec.PolicyTypes) != 2 {
		t.Errorf("policy selects %v, types %v", np.Spec.PodSelector, np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].From[0].PodSelector == nil ||
		np.Spec.Ingress[0].From[0].PodSelector.MatchLabels["app.kubernetes.io/name"] != "cortex-gateway" || np.Spec.Ingress[0].From[0].IPBlock != nil {
		t.Errorf("ingress %+v", np.Spec.Ingress)
	}
	var blocked []string
	for _, e := range np.Spec.Egress {
		for _, to := range e.To {
			if to.IPBlock == nil || to.PodSelector != nil || to.NamespaceSelector != nil {
				t.Errorf("egress peer %+v", to)
				continue
			}
			blocked = append(blocked, to.IPBlock.CIDR+" except "+strings.Join(to.IPBlock.Except, ","))
		}
	}
	// No identity: neither the node's role (instance metadata) nor the EKS Pod Identity Agent.
	if fmt.Sprint(blocked) != "[0.0.0.0/0 except 169.254.169.254/32,169.254.170.23/32 ::/0 except fd00:ec2::254/128,fd00:ec2::23/128]" {
		t.Errorf("egress %v", blocked)
	}

	// Without a secret environment any more, the Secret goes and the pods stop referencing it.
	apply(t, b, workload.Deployment{Spec: spec("gpu", 1, nil), Compute: workload.Compute{GPU: 1}})
	if _, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "gpu-env", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("secret after the secret environment was dropped: %v", err)
	}
	d, err = c.Client.AppsV1().Deployments(ns).Get(ctx, "gpu", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Spec.Template.Spec.Containers[0].EnvFrom); n != 0 {
		t.Errorf("envFrom still set: %d", n)
	}
}

func testDelete(t *testing.T, c *kubetest.Cluster) {
	ns := "delete"
	c.Namespace(t, ns)
	b := newBackend(t, c, ns)
	ctx := context.Background()

	// Objects cortex does not own: one with the name of an API, one carrying the API label only.
	foreign := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "taken", Labels: map[string]string{"team": "x"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if _, err := c.Client.CoreV1().Services(ns).Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lookalike := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "lookalike", Labels: map[string]string{kube.LabelAPI: "a"}}}
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, lookalike, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := b.Apply(ctx, workload.Deployment{Spec: spec("taken", 1, nil)})
	if err == nil || !strings.Contains(err.Error(), "not managed by cortex") {
		t.Fatalf("apply over a foreign Service: %v", err)
	}
	svc, _ := c.Client.CoreV1().Services(ns).Get(ctx, "taken", metav1.GetOptions{})
	if svc == nil || svc.Labels[kube.LabelManagedBy] != "" {
		t.Errorf("the foreign Service was changed: %+v", svc)
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "taken", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Deployment was created next to a foreign Service: %v", err)
	}

	apply(t, b, workload.Deployment{Spec: spec("a", 2, nil), SecretEnv: map[string]string{"K": "v"}})
	apply(t, b, workload.Deployment{Spec: spec("b", 1, nil)})
	waitLive(t, b, "a", 2)
	waitLive(t, b, "b", 1)
	if err := b.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	sel := metav1.ListOptions{LabelSelector: kube.LabelManagedBy + "=cortex," + kube.LabelAPI + "=a"}
	waitFor(t, "every object of a gone", func() (bool, string) {
		var left []string
		count := func(kind string, n int, err error) {
			if err != nil {
				left = append(left, kind+": "+err.Error())
			} else if n > 0 {
				left = append(left, fmt.Sprintf("%d %s", n, kind))
			}
		}
		d, err := c.Client.AppsV1().Deployments(ns).List(ctx, sel)
		count("deployments", len(d.Items), err)
		rs, err := c.Client.AppsV1().ReplicaSets(ns).List(ctx, sel)
		count("replicasets", len(rs.Items), err)
		p, err := c.Client.CoreV1().Pods(ns).List(ctx, sel)
		count("pods", len(p.Items), err)
		s, err := c.Client.CoreV1().Services(ns).List(ctx, sel)
		count("services", len(s.Items), err)
		sa, err := c.Client.CoreV1().ServiceAccounts(ns).List(ctx, sel)
		count("serviceaccounts", len(sa.Items), err)
		np, err := c.Client.NetworkingV1().NetworkPolicies(ns).List(ctx, sel)
		count("networkpolicies", len(np.Items), err)
		pdb, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).List(ctx, sel)
		count("pdbs", len(pdb.Items), err)
		sec, err := c.Client.CoreV1().Secrets(ns).List(ctx, sel)
		count("secrets", len(sec.Items), err)
		return len(left) == 0, strings.Join(left, ", ")
	})
	if _, ok := b.Status("a"); ok {
		t.Error("status of a deleted API")
	}
	if tg := b.Targets("a"); len(tg) != 0 {
		t.Errorf("targets of a deleted API: %v", tg)
	}
	if st, ok := b.Status("b"); !ok || st.State != workload.Live {
		t.Errorf("the other API: %+v %v", st, ok)
	}
	if _, err := c.Client.CoreV1().Services(ns).Get(ctx, "taken", metav1.GetOptions{}); err != nil {
		t.Errorf("foreign service: %v", err)
	}
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "lookalike", metav1.GetOptions{}); err != nil {
		t.Errorf("service account without the managed-by label: %v", err)
	}
	if err := b.Delete(ctx, "never-deployed"); err != nil {
		t.Errorf("delete of an unknown API: %v", err)
	}
}

func testStatusReasons(t *testing.T, c *kubetest.Cluster) {
	ns := "reasons"
	c.Namespace(t, ns)
	b := newBackend(t, c, ns)
	ctx := context.Background()

	// More GPUs than the node has: the real scheduler refuses, and its message is the reason.
	apply(t, b, workload.Deployment{Spec: spec("big", 1, nil), Compute: workload.Compute{GPU: kubetest.NodeGPUs + 1}})
	waitFor(t, "big unschedulable", func() (bool, string) {
		st, _ := b.Status("big")
		return st.State == workload.Error && strings.Contains(st.Reason, "unschedulable") && strings.Contains(st.Reason, "Insufficient nvidia.com/gpu"),
			fmt.Sprintf("%+v", st)
	})

	// kwok runs no containers, so it cannot fail an image pull or crash a container. The test
	// writes what a kubelet reports in those cases through the pods' status subresource (kwok
	// then leaves the pod alone) and checks what the backend makes of it.
	apply(t, b, workload.Deployment{Spec: spec("img", 1, nil)})
	apply(t, b, workload.Deployment{Spec: spec("crash", 1, nil)})
	waitLive(t, b, "img", 1)
	waitLive(t, b, "crash", 1)
	setStatus := func(api string, cs corev1.ContainerStatus) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelAPI + "=" + api})
		if err != nil || len(pods.Items) != 1 {
			t.Fatalf("pods of %s: %v %d", api, err, len(pods.Items))
		}
		err = c.SetPodStatus(ctx, ns, pods.Items[0].Name, func(s *corev1.PodStatus) {
			s.ContainerStatuses = []corev1.ContainerStatus{cs}
			for i := range s.Conditions {
				if s.Conditions[i].Type == corev1.PodReady || s.Conditions[i].Type == corev1.ContainersReady {
					s.Conditions[i].Status = corev1.ConditionFalse
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setStatus("img", corev1.ContainerStatus{
		Name: "api", Image: testImage,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason: "ImagePullBackOff", Message: `Back-off pulling image "cortex/runtime:test"`,
		}},
	})
	setStatus("crash", corev1.ContainerStatus{
		Name: "api", Image: testImage, RestartCount: 4,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 1, Reason: "Error", Message: "ModuleNotFoundError: No module named 'torch'",
		}},
	})
	waitFor(t, "img: image pull failure", func() (bool, string) {
		st, _ := b.Status("img")
		return st.State == workload.Error && st.Reason == `image pull failed (ImagePullBackOff): Back-off pulling image "cortex/runtime:test"`, fmt.Sprintf("%+v", st)
	})
	waitFor(t, "crash: crash loop", func() (bool, string) {
		st, _ := b.Status("crash")
		return st.State == workload.Error &&
			st.Reason == "crash loop (CrashLoopBackOff): last exit code 1 (Error): ModuleNotFoundError: No module named 'torch'" &&
			len(st.Replicas) == 1 && st.Replicas[0].Restarts == 4, fmt.Sprintf("%+v", st)
	})
}

func testBackendRestart(t *testing.T, c *kubetest.Cluster) {
	ns := "restart"
	c.Namespace(t, ns)
	ctx := context.Background()
	first := newBackend(t, c, ns)
	apply(t, first, workload.Deployment{Spec: spec("one", 2, nil), UpdatedAt: time.Unix(1700000001, 0)})
	apply(t, first, workload.Deployment{Spec: spec("two", 1, nil), SecretEnv: map[string]string{"K": "v"}})
	waitLive(t, first, "one", 2)
	waitLive(t, first, "two", 1)
	gens := map[string]int64{}
	for _, n := range []string{"one", "two"} {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		gens[n] = d.Generation
	}
	targets := fmt.Sprint(first.Targets("one"), first.Targets("two"))
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// A new backend (an operator restart) sees both APIs as they were, from the cluster alone.
	second := newBackend(t, c, ns)
	st := waitLive(t, second, "one", 2)
	waitLive(t, second, "two", 1)
	if !st.UpdatedAt.Equal(time.Unix(1700000001, 0)) {
		t.Errorf("UpdatedAt after restart: %v", st.UpdatedAt)
	}
	if got := fmt.Sprint(second.Targets("one"), second.Targets("two")); got != targets {
		t.Errorf("targets after restart %s, before %s", got, targets)
	}
	// Re-applying the same specs (what the operator's Restore does) changes nothing.
	apply(t, second, workload.Deployment{Spec: spec("one", 2, nil), UpdatedAt: time.Unix(1700000001, 0)})
	apply(t, second, workload.Deployment{Spec: spec("two", 1, nil), SecretEnv: map[string]string{"K": "v"}})
	for _, n := range []string{"one", "two"} {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Generation != gens[n] {
			t.Errorf("%s: generation %d -> %d after re-applying the same spec", n, gens[n], d.Generation)
		}
		if rs := replicaSets(t, c, ns, n); len(rs) != 1 {
			t.Errorf("%s: %d replica sets", n, len(rs))
		}
	}
}

// testLogs reads the pods' logs through the API server's pods/log subresource. kwok runs no
// container: it serves the harness's ContainerLogFile as every container's log, so the lines are
// the test's own, but the request path (API server -> the node's kubelet endpoint) and the
// backend's per-replica streams are the real ones.
func testLogs(t *testing.T, c *kubetest.Cluster) {
	ns := "logs"
	c.Namespace(t, ns)
	b := newBackend(t, c, ns)
	if err := os.WriteFile(c.ContainerLogFile, []byte(
		// The container runtime's (CRI) log format, which kwok parses as a kubelet does.
		"2026-01-01T00:00:00.000000000Z stdout F loading model\n"+
			"2026-01-01T00:00:01.000000000Z stderr F serving on :8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apply(t, b, workload.Deployment{Spec: spec("talk", 2, nil)})
	waitLive(t, b, "talk", 2)
	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kube.LabelAPI + "=talk"})
	if err != nil || len(pods.Items) != 2 {
		t.Fatalf("pods: %v %d", err, len(pods.Items))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := b.Logs(ctx, "talk", false, &out); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range pods.Items {
		want = append(want, "["+p.Name+"] loading model", "["+p.Name+"] serving on :8080")
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("logs:\n%s\nwant the lines of both replicas, each prefixed with its pod:\n%s", out.String(), strings.Join(want, "\n"))
	}
	if err := b.Logs(ctx, "nope", false, &out); err == nil {
		t.Error("logs of an unknown API")
	}
}
