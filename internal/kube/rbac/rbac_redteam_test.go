package rbac_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// Red team (closed): `deployments/scale` let a cortex `deploy` identity set any replica count from
// kubectl, far past the apispec.MaxReplicas (32) that `cortex deploy` enforces: 100000 replicas of
// an API fill every node the autoscaler may add (each API pod requests its compute), a cost and
// capacity denial of service for every other API. RBAC cannot bound a number; rbac.ReplicasPolicy
// (a ValidatingAdmissionPolicy and its binding) makes the API server refuse it, for every user,
// while scaling within the bound keeps working.
func TestDeployGroupCannotScalePastMaxReplicas(t *testing.T) {
	cluster := kubetest.Start(t)
	cluster.Namespace(t, ns)
	const elsewhere = "not-cortex"
	cluster.Namespace(t, elsewhere)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A Deployment that runs more than the bound from before the policy (paused: no pods).
	legacy := deployment("legacy", map[string]string{"app": "legacy"}, "registry.example/legacy:1", corev1.PodSpec{})
	forty := int32(40)
	legacy.Spec.Replicas, legacy.Spec.Paused = &forty, true
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, legacy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rbac.Apply(ctx, cluster.Client, ns); err != nil {
		t.Fatal(err)
	}
	victim := map[string]string{"app.kubernetes.io/managed-by": "cortex", "cortex.dev/api": "victim"}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, deployment("victim", victim, "registry.example/victim:1", corev1.PodSpec{}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	as := func(user string, groups ...string) kubernetes.Interface {
		cfg := rest.CopyConfig(cluster.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	dave := as("arn:aws:iam::123456789012:user/dave", rbac.Groups("deploy")...)
	dry := metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}} // admitted like the real request, then nothing is stored
	scaleOf := func(c kubernetes.Interface, name string, replicas int32) error {
		// The Deployment controller writes the object's status meanwhile: a conflict (a stale
		// resourceVersion) is read again and retried, a bounded number of times.
		var err error
		for range 10 {
			var sc *autoscalingv1.Scale
			if sc, err = c.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{}); err != nil {
				return err
			}
			sc.Spec.Replicas = replicas
			if _, err = c.AppsV1().Deployments(ns).UpdateScale(ctx, name, &autoscalingv1.Scale{ObjectMeta: sc.ObjectMeta, Spec: sc.Spec}, dry); !apierrors.IsConflict(err) {
				return err
			}
		}
		return err
	}
	scale := func(c kubernetes.Interface, replicas int32) error { return scaleOf(c, "victim", replicas) }
	refusedForReplicas := func(t *testing.T, what string, n int32, err error) {
		t.Helper()
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), fmt.Sprintf("spec.replicas %d is more than cortex allows an API (%d replicas)", n, apispec.MaxReplicas)) ||
			!strings.Contains(err.Error(), "`cortex deploy`") {
			t.Errorf("%s: want refused by the replicas policy, got %v", what, err)
		}
	}

	// The API server loads a new policy asynchronously: a dry run is tried until it is refused.
	pollCtx, pollCancel := context.WithTimeout(ctx, 30*time.Second)
	defer pollCancel()
	var last error
	if err := kubetest.Poll(pollCtx, 100*time.Millisecond, func() (bool, error) {
		last = scale(dave, 100000)
		return last != nil, nil
	}); err != nil {
		t.Fatalf("a deploy identity scales an API to 100000 replicas (cortex deploy allows %d): %v", apispec.MaxReplicas, err)
	}
	refusedForReplicas(t, "scale to 100000", 100000, last)
	refusedForReplicas(t, "scale to one past the bound", apispec.MaxReplicas+1, scale(dave, apispec.MaxReplicas+1))
	if err := scale(dave, apispec.MaxReplicas); err != nil {
		t.Errorf("deploy scales to the bound (%d): %v", apispec.MaxReplicas, err)
	}
	if err := scale(dave, 0); err != nil {
		t.Errorf("deploy scales to 0: %v", err)
	}

	// What already runs past the bound may be lowered and changed, not raised.
	refusedForReplicas(t, "raise the legacy Deployment", 41, scaleOf(dave, "legacy", 41))
	if err := scaleOf(dave, "legacy", 35); err != nil {
		t.Errorf("lower the legacy Deployment from 40 to 35: %v", err)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Patch(ctx, "legacy", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"team":"x"}}}`), metav1.PatchOptions{DryRun: dry.DryRun}); err != nil {
		t.Errorf("label the legacy Deployment: %v", err)
	}

	// Nor past it by writing the Deployment: no user is exempt, not the cluster admin (system:masters)
	// nor a cortex admin (Kubernetes' namespace `admin`), though RBAC lets both.
	for who, c := range map[string]kubernetes.Interface{
		"the cluster admin": cluster.Client,
		"a cortex admin":    as("arn:aws:iam::123456789012:user/alice", rbac.Groups("admin")...),
	} {
		big := deployment("big", map[string]string{"app": "big"}, "registry.example/big:1", corev1.PodSpec{})
		n := int32(apispec.MaxReplicas + 1)
		big.Spec.Replicas = &n
		_, err := c.AppsV1().Deployments(ns).Create(ctx, big, metav1.CreateOptions{DryRun: dry.DryRun})
		refusedForReplicas(t, who+" creates a Deployment of 33", n, err)
		_, err = c.AppsV1().Deployments(ns).Patch(ctx, "victim", types.MergePatchType, []byte(`{"spec":{"replicas":100000}}`), metav1.PatchOptions{DryRun: dry.DryRun})
		refusedForReplicas(t, who+" patches the victim to 100000", 100000, err)
		refusedForReplicas(t, who+" scales the victim to 33", n, scale(c, n))
		n = apispec.MaxReplicas
		if _, err := c.AppsV1().Deployments(ns).Create(ctx, big, metav1.CreateOptions{DryRun: dry.DryRun}); err != nil {
			t.Errorf("%s creates a Deployment of %d: %v", who, n, err)
		}
	}

	// The policy is bound to the APIs' namespace only.
	big := deployment("big", map[string]string{"app": "big"}, "registry.example/big:1", corev1.PodSpec{})
	n := int32(1000)
	big.Spec.Replicas = &n
	if _, err := cluster.Client.AppsV1().Deployments(elsewhere).Create(ctx, big, metav1.CreateOptions{DryRun: dry.DryRun}); err != nil {
		t.Errorf("a Deployment of 1000 in another namespace: %v", err)
	}
}
