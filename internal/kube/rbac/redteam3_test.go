package rbac_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	autoscalingac "k8s.io/client-go/applyconfigurations/autoscaling/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cortexlabs-go/cortex/internal/access"
	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// Red team: the replicas policy against every way a deploy identity can write a Deployment's
// scale (PUT is TestDeployGroupCannotScalePastMaxReplicas): a JSON patch, a merge patch, a
// strategic merge patch and a server-side apply of deployments/scale, each past the bound, are
// refused; and nothing else a deploy identity may write carries a replica count (ReplicaSets and
// their scale, StatefulSets, HorizontalPodAutoscalers are forbidden to it).
func TestDeployGroupScalePatchTypes(t *testing.T) {
	cluster := kubetest.Start(t)
	cluster.Namespace(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rbac.Apply(ctx, cluster.Client, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, deployment("victim", map[string]string{"app": "victim"}, "registry.example/victim:1", corev1.PodSpec{}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "arn:aws:iam::123456789012:user/dave", Groups: rbac.Groups("deploy")}
	dave, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dry := []string{metav1.DryRunAll}
	const n = 100000
	patches := map[string]func() error{
		"json patch": func() error {
			_, err := dave.AppsV1().Deployments(ns).Patch(ctx, "victim", types.JSONPatchType, []byte(fmt.Sprintf(`[{"op":"replace","path":"/spec/replicas","value":%d}]`, n)), metav1.PatchOptions{DryRun: dry}, "scale")
			return err
		},
		"merge patch": func() error {
			_, err := dave.AppsV1().Deployments(ns).Patch(ctx, "victim", types.MergePatchType, []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)), metav1.PatchOptions{DryRun: dry}, "scale")
			return err
		},
		"strategic merge patch": func() error {
			_, err := dave.AppsV1().Deployments(ns).Patch(ctx, "victim", types.StrategicMergePatchType, []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)), metav1.PatchOptions{DryRun: dry}, "scale")
			return err
		},
		"server-side apply": func() error {
			_, err := dave.AppsV1().Deployments(ns).ApplyScale(ctx, "victim", autoscalingac.Scale().WithSpec(autoscalingac.ScaleSpec().WithReplicas(n)),
				metav1.ApplyOptions{FieldManager: "dave", Force: true, DryRun: dry})
			return err
		},
	}
	// The API server loads a new policy asynchronously: the first is tried until refused.
	if err := kubetest.Poll(ctx, 100*time.Millisecond, func() (bool, error) { return patches["merge patch"]() != nil, nil }); err != nil {
		t.Fatalf("the replicas policy never refused a merge patch of the scale: %v", err)
	}
	for what, do := range patches {
		err := do()
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), fmt.Sprintf("spec.replicas %d is more than cortex allows an API (%d replicas)", n, apispec.MaxReplicas)) {
			t.Errorf("deploy identity, %s of deployments/scale to %d: want refused by the replicas policy, got %v", what, n, err)
		}
	}
	// Other objects with a replica count: RBAC forbids them to deploy.
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs"}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(n)),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rs"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rs"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}
	if _, err := dave.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{DryRun: dry}); !apierrors.IsForbidden(err) {
		t.Errorf("deploy creates a ReplicaSet of %d: %v", n, err)
	}
	if _, err := dave.AppsV1().ReplicaSets(ns).Patch(ctx, "any", types.MergePatchType, []byte(`{"spec":{"replicas":100000}}`), metav1.PatchOptions{DryRun: dry}, "scale"); !apierrors.IsForbidden(err) {
		t.Errorf("deploy patches replicasets/scale: %v", err)
	}
	if _, err := dave.AppsV1().StatefulSets(ns).Patch(ctx, "any", types.MergePatchType, []byte(`{"spec":{"replicas":100000}}`), metav1.PatchOptions{DryRun: dry}, "scale"); !apierrors.IsForbidden(err) {
		t.Errorf("deploy patches statefulsets/scale: %v", err)
	}
	if _, err := dave.AutoscalingV1().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("deploy lists HorizontalPodAutoscalers: %v", err)
	}
	// Label spoofing: cluster down removes the admission policies labelled for its namespaces, so
	// no cortex identity may write or delete one (they are cluster-scoped; cortex roles are bound
	// in one namespace).
	for _, who := range []string{"deploy", "admin"} {
		c := rest.CopyConfig(cluster.Config)
		c.Impersonate = rest.ImpersonationConfig{UserName: "arn:aws:iam::123456789012:user/eve", Groups: rbac.Groups(access.Role(who))}
		eve, err := kubernetes.NewForConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		policy, binding := rbac.ReplicasPolicy("victim-apis")
		if _, err := eve.AdmissionregistrationV1().ValidatingAdmissionPolicies().Apply(ctx, policy, metav1.ApplyOptions{FieldManager: "eve", DryRun: dry}); !apierrors.IsForbidden(err) {
			t.Errorf("%s writes a cortex-labelled ValidatingAdmissionPolicy: %v", who, err)
		}
		if _, err := eve.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Apply(ctx, binding, metav1.ApplyOptions{FieldManager: "eve", DryRun: dry}); !apierrors.IsForbidden(err) {
			t.Errorf("%s writes a cortex-labelled ValidatingAdmissionPolicyBinding: %v", who, err)
		}
		if err := eve.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, rbac.ReplicasPolicyName(ns), metav1.DeleteOptions{DryRun: dry}); !apierrors.IsForbidden(err) {
			t.Errorf("%s deletes the replicas policy's binding: %v", who, err)
		}
	}

	// A cortex admin has Kubernetes' namespace `admin` role: it can create a ReplicaSet (or a Job,
	// or pods) of any size; the replicas policy bounds Deployments only. Reported, not asserted.
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "arn:aws:iam::123456789012:user/alice", Groups: rbac.Groups("admin")}
	alice, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{DryRun: dry})
	t.Logf("a cortex admin creates a ReplicaSet of %d replicas (dry run): error %v", n, err)
}

func ptr[T any](v T) *T { return &v }
