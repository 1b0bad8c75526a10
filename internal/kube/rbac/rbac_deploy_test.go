package rbac_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// TestDeployGroupCannotAuthorPods holds the red team's two findings closed (issue 9): a cortex
// `deploy` identity, which through the operator can only run the hardened replicas cortex builds,
// used to get from kubectl (a) a root pod with the node's root filesystem, PID and network
// namespaces running as another API's ServiceAccount with its AWS Secret, where the namespace has
// no Pod Security, and (b) pods labelled like another API's replicas that joined its Service and
// got a share of its callers' traffic, silently. Both were a Deployment of its own. The test's
// namespace has no Pod Security labels on purpose: RBAC alone must refuse. What deploy keeps
// (scale, delete a pod) is checked to still work.
func TestDeployGroupCannotAuthorPods(t *testing.T) {
	cluster := kubetest.Start(t)
	cluster.Namespace(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rbac.Apply(ctx, cluster.Client, ns); err != nil {
		t.Fatal(err)
	}
	// What the kube backend leaves for an API "victim" (created here by the cluster admin, as the
	// operator would): its Secret, ServiceAccount, Service and Deployment.
	victim := map[string]string{"app.kubernetes.io/managed-by": "cortex", "cortex.dev/api": "victim"}
	one := int32(1)
	admin := cluster.Client
	for _, err := range []error{
		create(admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "victim-aws"},
			StringData: map[string]string{"AWS_SECRET_ACCESS_KEY": "victim-secret"}}, metav1.CreateOptions{})),
		create(admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "victim"}}, metav1.CreateOptions{})),
		create(admin.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "victim", Labels: victim},
			Spec: corev1.ServiceSpec{Selector: victim, Ports: []corev1.ServicePort{{Port: 8080}}}}, metav1.CreateOptions{})),
		create(admin.AppsV1().Deployments(ns).Create(ctx, deployment("victim", victim, "registry.example/victim:1", corev1.PodSpec{}), metav1.CreateOptions{})),
		create(admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "victim-replica", Labels: victim},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/victim:1"}}}}, metav1.CreateOptions{})),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A deploy identity, exactly as the TokenReview webhook describes it.
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "arn:aws:iam::123456789012:user/dave", Groups: rbac.Groups("deploy")}
	dave, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dry := []string{metav1.DryRunAll} // authorized like the real request, then nothing is stored
	refused := func(t *testing.T, what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: want forbidden, got %v", what, err)
		}
	}

	t.Run("no root hostPath pod as another API's ServiceAccount", func(t *testing.T) {
		yes, root := true, int64(0)
		escape := deployment("escape", map[string]string{"app": "escape"}, "registry.example/shell:1", corev1.PodSpec{
			ServiceAccountName: "victim", HostPID: true, HostNetwork: true,
			Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}},
		})
		c := &escape.Spec.Template.Spec.Containers[0]
		c.SecurityContext = &corev1.SecurityContext{RunAsUser: &root, AllowPrivilegeEscalation: &yes}
		c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "victim-aws"}}}}
		c.VolumeMounts = []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}
		_, err := dave.AppsV1().Deployments(ns).Create(ctx, escape, metav1.CreateOptions{DryRun: dry})
		refused(t, "create the hostPath Deployment", err)
		_, err = dave.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: escape.ObjectMeta,
			Spec: appsv1.ReplicaSetSpec{Replicas: &one, Selector: escape.Spec.Selector, Template: escape.Spec.Template}}, metav1.CreateOptions{DryRun: dry})
		refused(t, "create the hostPath ReplicaSet", err)
		_, err = dave.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "escape", Labels: escape.Spec.Template.Labels},
			Spec: escape.Spec.Template.Spec}, metav1.CreateOptions{DryRun: dry})
		refused(t, "create the hostPath pod", err)
		if _, err := dave.CoreV1().Secrets(ns).Get(ctx, "victim-aws", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("deploy reads Secrets: %v", err)
		}
	})

	t.Run("no pod with another API's labels", func(t *testing.T) {
		impostor := deployment("innocent", victim, "registry.example/impostor:1", corev1.PodSpec{})
		_, err := dave.AppsV1().Deployments(ns).Create(ctx, impostor, metav1.CreateOptions{DryRun: dry})
		refused(t, "create a Deployment labelled like the victim's replicas", err)
		// Nor by rewriting the victim's own Deployment (its image or template), or deleting it.
		_, err = dave.AppsV1().Deployments(ns).Patch(ctx, "victim", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"registry.example/impostor:1"}]}}}}`), metav1.PatchOptions{DryRun: dry})
		refused(t, "patch the victim's pod template", err)
		err = dave.AppsV1().Deployments(ns).Delete(ctx, "victim", metav1.DeleteOptions{DryRun: dry})
		refused(t, "delete the victim's Deployment", err)
		_, err = dave.CoreV1().Pods(ns).Patch(ctx, "victim-replica", types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"cortex.dev/api":"other"}}}`), metav1.PatchOptions{DryRun: dry})
		refused(t, "relabel a replica", err)
	})

	t.Run("deploy can still scale and restart a replica", func(t *testing.T) {
		// The Deployment controller writes the object's status meanwhile: a conflict (a stale
		// resourceVersion) is read again and retried, a bounded number of times.
		var err error
		for range 10 {
			var sc *autoscalingv1.Scale
			if sc, err = dave.AppsV1().Deployments(ns).GetScale(ctx, "victim", metav1.GetOptions{}); err != nil {
				t.Fatalf("get scale: %v", err)
			}
			sc.Spec.Replicas = 2
			if _, err = dave.AppsV1().Deployments(ns).UpdateScale(ctx, "victim", &autoscalingv1.Scale{ObjectMeta: sc.ObjectMeta, Spec: sc.Spec},
				metav1.UpdateOptions{DryRun: dry}); !apierrors.IsConflict(err) {
				break
			}
		}
		if err != nil {
			t.Errorf("scale: %v", err)
		}
		if err := dave.CoreV1().Pods(ns).Delete(ctx, "victim-replica", metav1.DeleteOptions{DryRun: dry}); err != nil {
			t.Errorf("delete a pod: %v", err)
		}
	})
}

func create[T any](_ T, err error) error { return err }

func deployment(name string, labels map[string]string, image string, spec corev1.PodSpec) *appsv1.Deployment {
	one := int32(1)
	spec.Containers = []corev1.Container{{Name: "c", Image: image, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: appsv1.DeploymentSpec{
		Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}
}
