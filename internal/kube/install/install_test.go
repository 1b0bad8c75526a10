package install_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/bundle"
	"github.com/cortexlabs-go/cortex/internal/kube/install"
	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	kubestate "github.com/cortexlabs-go/cortex/internal/kube/statestore"
	"github.com/cortexlabs-go/cortex/internal/testutil/kubetest"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/kube"
	"github.com/cortexlabs-go/cortex/internal/workload/kube/targets"
)

var (
	tlsOnce sync.Once
	tlsMat  *install.TLS
)

func options(t *testing.T, ns string) install.Options {
	t.Helper()
	tlsOnce.Do(func() {
		var err error
		if tlsMat, err = install.NewTLS("cortex", nil, nil); err != nil {
			t.Fatal(err)
		}
	})
	return install.Options{Namespace: ns, Image: "cortex/cortex:test", ClusterID: "0123456789abcdef0123456789abcdef", TLS: tlsMat}
}

// The operator's exact rules: a new verb or resource must be a deliberate change of this list.
func TestOperatorRulesAreExact(t *testing.T) {
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"services", "serviceaccounts", "secrets"}, Verbs: []string{"get", "list", "create", "patch", "delete"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"get", "list", "create", "patch", "delete"}},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "delete"}},
	}
	objs, err := install.Build(options(t, "cortex"))
	if err != nil {
		t.Fatal(err)
	}
	role := objs.Roles[0]
	if *role.Name != install.OperatorName || *role.Namespace != "cortex-apis" {
		t.Fatalf("first Role is %s/%s", *role.Namespace, *role.Name)
	}
	var got []rbacv1.PolicyRule
	for _, r := range role.Rules {
		got = append(got, rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: r.Resources, Verbs: r.Verbs})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("operator rules:\n got %v\nwant %v", got, want)
	}
	for _, r := range got {
		for _, s := range append(append(append([]string{}, r.Verbs...), r.Resources...), r.APIGroups...) {
			if s == "*" || s == "escalate" || s == "bind" || s == "impersonate" {
				t.Errorf("operator rule grants %q", s)
			}
		}
	}
}

// The operator's rules in its own namespace: its state Secrets, by name, and creating them.
func TestOperatorStateRulesAreExact(t *testing.T) {
	names := []string{"cortex-state-cluster", "cortex-state-access", "cortex-state-api-keys", "cortex-state-apis"}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: names, Verbs: []string{"get", "update"}},
	}
	objs, err := install.Build(options(t, "cortex"))
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	var got []rbacv1.PolicyRule
	for _, role := range objs.Roles {
		if *role.Namespace != "cortex" {
			continue
		}
		roles = append(roles, *role.Name)
		for _, r := range role.Rules {
			got = append(got, rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames, Verbs: r.Verbs})
		}
	}
	if !reflect.DeepEqual(roles, []string{install.OperatorName}) {
		t.Fatalf("Roles in the operator's namespace: %q", roles)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("operator state rules:\n got %v\nwant %v", got, want)
	}
}

// The gateway's exact rules: list and watch EndpointSlices in the APIs' namespace, nothing else.
func TestGatewayRulesAreExact(t *testing.T) {
	objs, err := install.Build(options(t, "cortex"))
	if err != nil {
		t.Fatal(err)
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}}}
	var found bool
	for _, role := range objs.Roles {
		if *role.Name != install.GatewayName {
			continue
		}
		found = true
		if *role.Namespace != "cortex-apis" {
			t.Errorf("gateway Role in %s", *role.Namespace)
		}
		var got []rbacv1.PolicyRule
		for _, r := range role.Rules {
			got = append(got, rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: r.Resources, Verbs: r.Verbs})
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("gateway rules:\n got %v\nwant %v", got, want)
		}
	}
	if !found {
		t.Fatal("no gateway Role")
	}
}

func TestBuildRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		mut  func(*install.Options)
		want string
	}{
		{func(o *install.Options) { o.Image = "" }, "image is required"},
		{func(o *install.Options) { o.Namespace = "Bad_NS" }, "namespace"},
		{func(o *install.Options) { o.APIsNamespace = o.Namespace }, "must differ"},
		{func(o *install.Options) { o.ServiceType = "ExternalName" }, "service type"},
		{func(o *install.Options) { o.TLS = nil }, "TLS"},
		{func(o *install.Options) { o.ClusterID = "" }, "cluster id"},
		{func(o *install.Options) { o.APIIAM.PolicyARNs = []string{"arn:aws:iam::aws:policy/*"} }, "api_iam.allowed_policy_arns[0]"},
	} {
		o := options(t, "cortex")
		tc.mut(&o)
		if _, err := install.Build(o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

// A re-install keeps the CA; the server certificate changes only when a name is missing.
func TestNewTLSKeepsTheCA(t *testing.T) {
	first, err := install.NewTLS("ns", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	same, err := install.NewTLS("ns", nil, first)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, same) {
		t.Error("same names: the material changed")
	}
	more, err := install.NewTLS("ns", []string{"lb.example.com", "203.0.113.7"}, first)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(more.CACert, first.CACert) || !bytes.Equal(more.CAKey, first.CAKey) || bytes.Equal(more.Cert, first.Cert) {
		t.Fatal("a new name: want the same CA and a new server certificate")
	}
	ca, err := tlsutil.ParseCertPEM(more.CACert)
	if err != nil {
		t.Fatal(err)
	}
	leafPEM, _ := pem.Decode(more.Cert)
	leaf, err := x509.ParseCertificate(leafPEM.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, name := range []string{"lb.example.com", "203.0.113.7", "cortex-operator.ns.svc", "cortex-gateway.ns.svc.cluster.local"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The gateway's server certificate: the cluster CA's, for the gateway's names, not the operator's.
	gwPEM, _ := pem.Decode(more.GatewayCert)
	gwLeaf, err := x509.ParseCertificate(gwPEM.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for name, ok := range map[string]bool{"cortex-gateway.ns.svc": true, "lb.example.com": true, "cortex-operator.ns.svc": false} {
		if _, err := gwLeaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); (err == nil) != ok {
			t.Errorf("gateway certificate for %s: %v, want ok=%v", name, err, ok)
		}
	}
	// Its client certificate: of the gateway client CA (kept across re-installs), for client auth only.
	if !bytes.Equal(more.GatewayClientCACert, first.GatewayClientCACert) || !bytes.Equal(more.GatewayClientCert, first.GatewayClientCert) ||
		bytes.Equal(more.GatewayClientCACert, more.CACert) {
		t.Error("the gateway client CA and certificate must be kept, and the CA is not the cluster CA")
	}
	clientPool := x509.NewCertPool()
	clientPool.AppendCertsFromPEM(more.GatewayClientCACert)
	cPEM, _ := pem.Decode(more.GatewayClientCert)
	cLeaf, err := x509.ParseCertificate(cPEM.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cLeaf.Verify(x509.VerifyOptions{Roots: clientPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("gateway client certificate: %v", err)
	}
	if _, err := cLeaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the gateway client certificate verifies against the cluster CA")
	}
}

// The YAML of `cortex cluster manifests` parses back into the very objects Apply writes.
func TestYAMLParsesBackIntoTheSameObjects(t *testing.T) {
	objs, err := install.Build(options(t, "team"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := install.YAML(objs)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(out), "\n---\n")
	all := objs.All()
	if len(docs) != len(all) {
		t.Fatalf("%d documents, %d objects", len(docs), len(all))
	}
	for i, doc := range docs {
		var fromYAML, fromObj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &fromYAML); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		data, _ := json.Marshal(all[i])
		if err := json.Unmarshal(data, &fromObj); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromYAML, fromObj) {
			t.Errorf("document %d differs from the object:\n%s", i, doc)
		}
		if fromYAML["apiVersion"] == nil || fromYAML["kind"] == nil {
			t.Errorf("document %d has no apiVersion/kind", i)
		}
	}
	// The replicas bound is in the manifests (a GitOps install gets it too).
	for _, want := range []string{"kind: ValidatingAdmissionPolicy\n", "kind: ValidatingAdmissionPolicyBinding\n", "name: cortex-max-replicas-team-apis\n",
		"apiVersion: admissionregistration.k8s.io/v1\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the YAML lacks %q", want)
		}
	}
}

// TestInstall runs against a real control plane (etcd, kube-apiserver, controller-manager,
// scheduler) with a kwok node.
func TestInstall(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ns, apis = "cortex", "cortex-apis"

	// Objects that are not cortex's, in the namespaces cortex installs into.
	c.Namespace(t, ns)
	foreignCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns}}
	if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, foreignCM, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	foreignSvc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := c.Client.CoreV1().Services(ns).Create(ctx, foreignSvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	objs, err := install.Build(options(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	if err := install.Apply(ctx, c.Client, objs, func(l string) { lines = append(lines, l) }); err != nil {
		t.Fatal(err)
	}
	if len(lines) != len(objs.All()) || lines[len(lines)-1] != "applied PodDisruptionBudget cortex/cortex-gateway" {
		t.Errorf("progress: %q", lines)
	}

	t.Run("ObjectsAndLabels", func(t *testing.T) {
		for _, n := range []string{ns, apis} {
			got, err := c.Client.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
			if err != nil || got.Labels[install.LabelPartOf] != "cortex" || got.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("namespace %s: %v %v", n, err, got.Labels)
			}
		}
		// The API server refuses a pod that is not locked down in the APIs' namespace.
		// (A plain pod: no runAsNonRoot, seccomp or dropped capabilities. A privileged one is
		// refused earlier here: the test API server runs with --allow-privileged=false.)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: apis}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
		if _, err := c.Client.CoreV1().Pods(apis).Create(ctx, pod, metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
			!strings.Contains(err.Error(), `violates PodSecurity "restricted:latest"`) {
			t.Errorf("plain pod in %s: %v", apis, err)
		}
		items, err := install.Installed(ctx, c.Client, ns, apis)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range items {
			got = append(got, it.Kind+" "+it.Namespace+"/"+it.Name)
		}
		want := []string{
			"Deployment cortex/cortex-gateway", "Deployment cortex/cortex-operator", "Service cortex/cortex-gateway", "Service cortex/cortex-operator",
			"Secret cortex/cortex-ca", "Secret cortex/cortex-gateway-client-ca", "Secret cortex/cortex-gateway-tls", "Secret cortex/cortex-tls",
			"RoleBinding cortex/cortex-operator", "Role cortex/cortex-operator",
			"ServiceAccount cortex/cortex-gateway", "ServiceAccount cortex/cortex-operator", "PodDisruptionBudget cortex/cortex-gateway",
			"RoleBinding cortex-apis/cortex-admin", "RoleBinding cortex-apis/cortex-deploy", "RoleBinding cortex-apis/cortex-gateway",
			"RoleBinding cortex-apis/cortex-operator", "RoleBinding cortex-apis/cortex-read",
			"Role cortex-apis/cortex-deploy", "Role cortex-apis/cortex-gateway", "Role cortex-apis/cortex-operator", "Role cortex-apis/cortex-read",
			"ValidatingAdmissionPolicyBinding /cortex-max-replicas-cortex-apis", "ValidatingAdmissionPolicy /cortex-max-replicas-cortex-apis",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("installed:\n got %q\nwant %q", got, want)
		}
		// Each Service selects its own Deployment's pods (the gateway's no longer the operator's).
		for _, s := range []string{install.OperatorName, install.GatewayName} {
			svc, err := c.Client.CoreV1().Services(ns).Get(ctx, s, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, s, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{install.LabelManagedBy: "cortex", install.LabelName: s}
			if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || !reflect.DeepEqual(svc.Spec.Selector, want) ||
				!reflect.DeepEqual(d.Spec.Template.Labels, want) {
				t.Errorf("service %s: %s selects %v; its Deployment's pods are %v", s, svc.Spec.Type, svc.Spec.Selector, d.Spec.Template.Labels)
			}
		}
		sec, err := c.Client.CoreV1().Secrets(ns).Get(ctx, install.TLSSecretName, metav1.GetOptions{})
		if err != nil || sec.Type != corev1.SecretTypeTLS || !bytes.Equal(sec.Data["ca.crt"], tlsMat.CACert) {
			t.Errorf("TLS secret: %v %s", err, sec.Type)
		}
	})

	t.Run("OperatorRoleRules", func(t *testing.T) {
		role, err := c.Client.RbacV1().Roles(apis).Get(ctx, install.OperatorName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(role.Rules, install.OperatorRules) {
			t.Errorf("rules in the cluster:\n%v\nwant\n%v", role.Rules, install.OperatorRules)
		}
		rb, err := c.Client.RbacV1().RoleBindings(apis).Get(ctx, install.OperatorName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Namespace != ns ||
			rb.Subjects[0].Name != install.OperatorName || rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != install.OperatorName {
			t.Errorf("binding %+v -> %+v", rb.Subjects, rb.RoleRef)
		}
		// In its own namespace the operator has its state Role only, and nothing cluster-wide.
		if r, err := c.Client.RbacV1().Roles(ns).List(ctx, metav1.ListOptions{}); err != nil || len(r.Items) != 1 ||
			r.Items[0].Name != install.OperatorName || !reflect.DeepEqual(r.Items[0].Rules, install.OperatorStateRules) {
			t.Errorf("roles in %s: %v %v", ns, err, r)
		}
		rb, err = c.Client.RbacV1().RoleBindings(ns).Get(ctx, install.OperatorName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Namespace != ns ||
			rb.Subjects[0].Name != install.OperatorName || rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != install.OperatorName {
			t.Errorf("state binding %+v -> %+v", rb.Subjects, rb.RoleRef)
		}
	})

	t.Run("ReplicasPolicy", func(t *testing.T) {
		// The bound on the APIs' replicas (rbac.ReplicasPolicy), for this install's APIs'
		// namespace: cluster-scoped, labelled with the namespace it serves.
		name := rbac.ReplicasPolicyName(apis)
		p, err := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.Labels[install.LabelManagedBy] != "cortex" || p.Labels[rbac.NamespaceLabel] != apis ||
			p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionregistrationv1.Fail {
			t.Fatalf("policy %s: %v %+v", name, err, p)
		}
		b, err := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, name, metav1.GetOptions{})
		if err != nil || b.Labels[rbac.NamespaceLabel] != apis || b.Spec.PolicyName != name ||
			!reflect.DeepEqual(b.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
			t.Fatalf("binding %s: %v %+v", name, err, b)
		}
		cfg := rest.CopyConfig(c.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + install.OperatorName}
		operator, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		create := func(as kubernetes.Interface, replicas int32) error {
			sel := map[string]string{"app": "many"}
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "many"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}
			_, err := as.AppsV1().Deployments(apis).Create(ctx, d, dry)
			return err
		}
		// The API server loads a new policy asynchronously: a dry run is tried until refused.
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		defer pcancel()
		if err := kubetest.Poll(pctx, 100*time.Millisecond, func() (bool, error) {
			return create(c.Client, apispec.MaxReplicas+1) != nil, nil
		}); err != nil {
			t.Fatalf("the cluster admin creates a Deployment of %d replicas in %s: %v", apispec.MaxReplicas+1, apis, err)
		}
		// The operator is not exempt, and its writes (at most MaxReplicas) pass.
		if err := create(operator, apispec.MaxReplicas+1); !apierrors.IsInvalid(err) {
			t.Errorf("the operator creates a Deployment of %d replicas: %v", apispec.MaxReplicas+1, err)
		}
		if err := create(operator, apispec.MaxReplicas); err != nil {
			t.Errorf("the operator creates a Deployment of %d replicas: %v", apispec.MaxReplicas, err)
		}
		// The operator's own namespace is not bound (the gateway's replicas are the install's).
		if _, err := c.Client.AppsV1().Deployments(ns).Patch(ctx, install.GatewayName, types.MergePatchType,
			[]byte(`{"spec":{"replicas":40}}`), metav1.PatchOptions{DryRun: dry.DryRun}); err != nil {
			t.Errorf("scale the gateway in %s: %v", ns, err)
		}
	})

	t.Run("OperatorRoleIsEnoughForTheBackend", func(t *testing.T) {
		// The kube backend, as the operator's ServiceAccount, runs an API's whole life.
		cfg := rest.CopyConfig(c.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + install.OperatorName}
		as, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := kube.New(ctx, kube.Options{Client: as, Namespace: apis, Image: "cortex/runtime:test", GatewayNamespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close(context.Background())
		d := workload.Deployment{
			Spec: apispec.Spec{Name: "echo", Kind: apispec.KindRealtime, Replicas: 2,
				Handler: apispec.Handler{Type: apispec.HandlerCommand, Command: []string{"server"}}},
			SecretEnv: map[string]string{"K": "v"},
		}
		if err := b.Apply(ctx, d); err != nil {
			t.Fatalf("apply as the operator: %v", err)
		}
		// A python API with its code (a ConfigMap), then a new version of the code.
		for _, v := range []string{"v1", "v2"} {
			files := []bundle.File{{Path: "handler.py", Data: []byte("# " + v)}}
			py := workload.Deployment{Spec: apispec.Spec{Name: "py", Kind: apispec.KindRealtime, ProjectDir: "/p",
				Handler: apispec.Handler{Type: apispec.HandlerPython, Path: "handler.py"}},
				Code: strings.Repeat(v[1:], 64), Files: files}
			if err := b.Apply(ctx, py); err != nil {
				t.Fatalf("apply a python API as the operator: %v", err)
			}
		}
		// The API's pods pass the namespace's Pod Security "restricted" admission.
		err = kubetest.Poll(ctx, 50*time.Millisecond, func() (bool, error) {
			pods, err := c.Client.CoreV1().Pods(apis).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelAPI + "=echo"})
			return err == nil && len(pods.Items) == 2, err
		})
		if err != nil {
			t.Fatalf("the API's pods were not created: %v", err)
		}
		if err := b.Restart(ctx, "echo"); err != nil {
			t.Fatalf("restart as the operator: %v", err)
		}
		for _, name := range []string{"echo", "py"} {
			if err := b.Delete(ctx, name); err != nil {
				t.Fatalf("delete as the operator: %v", err)
			}
		}
		// And not more: ConfigMaps are never changed or watched, nothing in the operator's own
		// namespace.
		if _, err := as.CoreV1().ConfigMaps(apis).Patch(ctx, "x", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("patch a configmap as the operator: %v", err)
		}
		if _, err := as.CoreV1().ConfigMaps(apis).Watch(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("watch configmaps as the operator: %v", err)
		}
		for _, name := range []string{install.TLSSecretName, install.CASecretName} {
			if _, err := as.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
				t.Errorf("read Secret %s as the operator: %v", name, err)
			}
		}
		if _, err := as.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list Secrets of its namespace as the operator: %v", err)
		}
	})

	t.Run("GatewayRoleRules", func(t *testing.T) {
		role, err := c.Client.RbacV1().Roles(apis).Get(ctx, install.GatewayName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := []rbacv1.PolicyRule{{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}}}
		if !reflect.DeepEqual(role.Rules, want) {
			t.Errorf("gateway rules in the cluster:\n%v\nwant\n%v", role.Rules, want)
		}
		rb, err := c.Client.RbacV1().RoleBindings(apis).Get(ctx, install.GatewayName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Namespace != ns ||
			rb.Subjects[0].Name != install.GatewayName || rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != install.GatewayName {
			t.Errorf("binding %+v -> %+v", rb.Subjects, rb.RoleRef)
		}
		pdb, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, install.GatewayName, metav1.GetOptions{})
		if err != nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 ||
			pdb.Spec.Selector.MatchLabels[install.LabelName] != install.GatewayName {
			t.Errorf("gateway PodDisruptionBudget: %v %+v", err, pdb)
		}
	})

	t.Run("GatewayRoleIsEnoughForTheTargets", func(t *testing.T) {
		// The remote gateway's targets watcher, as the gateway's ServiceAccount, sees an API's
		// ready replicas as the operator's backend does; the API's NetworkPolicy admits the
		// gateway's pods and not the operator's.
		cfg := rest.CopyConfig(c.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + install.GatewayName}
		as, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w, stop, err := targets.Start(ctx, as, apis)
		if err != nil {
			t.Fatalf("watch EndpointSlices as the gateway: %v", err)
		}
		defer stop()
		b, err := kube.New(ctx, kube.Options{Client: c.Client, Namespace: apis, Image: "cortex/runtime:test", GatewayNamespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close(context.Background())
		d := workload.Deployment{Spec: apispec.Spec{Name: "tg", Kind: apispec.KindRealtime, Replicas: 2,
			Handler: apispec.Handler{Type: apispec.HandlerCommand, Command: []string{"server"}}}}
		if err := b.Apply(ctx, d); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = b.Delete(context.Background(), "tg") }()
		var last string
		err = kubetest.Poll(ctx, 50*time.Millisecond, func() (bool, error) {
			got, want := w.Targets("tg"), b.Targets("tg")
			last = fmt.Sprint(got, want)
			return len(got) == 2 && reflect.DeepEqual(got, want), nil
		})
		if err != nil {
			t.Fatalf("the gateway's targets never matched the backend's: %v (%s)", err, last)
		}
		for what, err := range map[string]error{
			"list pods":                      errOf(as.CoreV1().Pods(apis).List(ctx, metav1.ListOptions{})),
			"get a secret":                   errOf(as.CoreV1().Secrets(ns).Get(ctx, install.TLSSecretName, metav1.GetOptions{})),
			"list services":                  errOf(as.CoreV1().Services(apis).List(ctx, metav1.ListOptions{})),
			"list endpointslices of its own": errOf(as.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})),
		} {
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s as the gateway: %v, want forbidden", what, err)
			}
		}
		np, err := c.Client.NetworkingV1().NetworkPolicies(apis).Get(ctx, "tg", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		from := np.Spec.Ingress[0].From[0]
		podSel, _ := metav1.LabelSelectorAsSelector(from.PodSelector)
		nsSel, _ := metav1.LabelSelectorAsSelector(from.NamespaceSelector)
		nsObj, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{install.GatewayName, install.OperatorName} {
			dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			admitted := podSel.Matches(labels.Set(dep.Spec.Template.Labels)) && nsSel.Matches(labels.Set(nsObj.Labels))
			if admitted != (name == install.GatewayName) {
				t.Errorf("the API's NetworkPolicy admits %s's pods: %v", name, admitted)
			}
		}
	})

	t.Run("PodSecurity", func(t *testing.T) {
		for _, name := range []string{install.OperatorName, install.GatewayName} {
			t.Run(name, func(t *testing.T) { checkPodSecurity(t, ctx, c, ns, name) })
		}
	})

	t.Run("OperatorArgs", func(t *testing.T) {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, install.OperatorName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ct := d.Spec.Template.Spec.Containers[0]
		if ct.Image != "cortex/cortex:test" || ct.Args[0] != "operator" || ct.Args[1] != "serve" {
			t.Errorf("container %s %q", ct.Image, ct.Args)
		}
		for _, want := range []string{"--provider=kubernetes", "--namespace=cortex", "--apis-namespace=cortex-apis",
			"--api-image=cortex/cortex:test", "--state-dir=/tmp/cortex", "--listen=0.0.0.0:8888", "--tls-cert-file=/etc/cortex/tls/tls.crt",
			"--tls-key-file=/etc/cortex/tls/tls.key", "--cluster-id=0123456789abcdef0123456789abcdef",
			"--apis-gateway=remote", "--apis-gateway-client-ca-file=/etc/cortex/tls/gateway-client-ca.crt",
			"--apis-public-endpoint=https://cortex-gateway.cortex.svc"} {
			if !contains(ct.Args, want) {
				t.Errorf("args %q lack %s", ct.Args, want)
			}
		}
		for _, p := range ct.Ports {
			if p.ContainerPort != install.OperatorPort {
				t.Errorf("the operator's container exposes port %d", p.ContainerPort)
			}
		}
		g, err := c.Client.AppsV1().Deployments(ns).Get(ctx, install.GatewayName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if g.Spec.Replicas == nil || *g.Spec.Replicas != install.GatewayReplicas || g.Spec.Template.Spec.Containers[0].Args[0] != "gateway" {
			t.Errorf("gateway Deployment: %v %q", g.Spec.Replicas, g.Spec.Template.Spec.Containers[0].Args)
		}
		if tsc := g.Spec.Template.Spec.TopologySpreadConstraints; len(tsc) != 1 || tsc[0].TopologyKey != corev1.LabelHostname ||
			tsc[0].LabelSelector.MatchLabels[install.LabelName] != install.GatewayName {
			t.Errorf("gateway replicas are not spread over nodes: %+v", tsc)
		}
		// The gateway client CA's key is in a Secret no pod mounts.
		for _, name := range []string{install.OperatorName, install.GatewayName} {
			dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range dep.Spec.Template.Spec.Volumes {
				if v.Secret != nil && (v.Secret.SecretName == install.GatewayClientCASecretName || v.Secret.SecretName == install.CASecretName) {
					t.Errorf("%s mounts %s", name, v.Secret.SecretName)
				}
			}
		}
	})

	t.Run("WaitAvailable", func(t *testing.T) {
		// kwok marks the pod ready (no container runs), so the Deployment becomes Available.
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		defer wcancel()
		if err := install.WaitAvailable(wctx, c.Client, ns, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ReinstallChangesNothing", func(t *testing.T) {
		before := versions(t, ctx, c.Client, ns, apis)
		gen := generation(t, ctx, c.Client, ns)
		ex, err := install.LoadExisting(ctx, c.Client, ns)
		if err != nil || ex == nil || ex.ClusterID != "0123456789abcdef0123456789abcdef" || !bytes.Equal(ex.TLS.CACert, tlsMat.CACert) {
			t.Fatalf("existing: %+v %v", ex, err)
		}
		o := options(t, ns)
		if o.TLS, err = install.NewTLS(ns, nil, ex.TLS); err != nil {
			t.Fatal(err)
		}
		again, err := install.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := install.Apply(ctx, c.Client, again, nil); err != nil {
			t.Fatal(err)
		}
		if after := versions(t, ctx, c.Client, ns, apis); !reflect.DeepEqual(before, after) {
			t.Errorf("re-install changed objects:\n%v\n%v", before, after)
		}
		if g := generation(t, ctx, c.Client, ns); g != gen {
			t.Errorf("deployment generation %d -> %d", gen, g)
		}
	})

	t.Run("RefusesForeignObject", func(t *testing.T) {
		other := "other"
		c.Namespace(t, other)
		svc := foreignSvc.DeepCopy()
		svc.Name, svc.Namespace = install.GatewayName, other
		if _, err := c.Client.CoreV1().Services(other).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		o, err := install.Build(options(t, other))
		if err != nil {
			t.Fatal(err)
		}
		err = install.Apply(ctx, c.Client, o, nil)
		if err == nil || !strings.Contains(err.Error(), `a Service named "cortex-gateway" exists in namespace other and is not managed by cortex`) {
			t.Fatalf("err = %v", err)
		}
		got, err := c.Client.CoreV1().Services(other).Get(ctx, install.GatewayName, metav1.GetOptions{})
		if err != nil || got.Labels[install.LabelManagedBy] != "" {
			t.Errorf("foreign service changed: %v %v", err, got.Labels)
		}
	})

	t.Run("WaitReportsTheRealCondition", func(t *testing.T) {
		// A node that takes no pods: the scheduler's reason must reach the error.
		const other = "cortex-unschedulable"
		o := options(t, other)
		objs, err := install.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		objs.Deployments[0].Spec.Template.Spec.WithNodeSelector(map[string]string{"cortex.dev/no-such-node": "x"})
		if err := install.Apply(ctx, c.Client, objs, nil); err != nil {
			t.Fatal(err)
		}
		err = kubetest.Poll(ctx, 50*time.Millisecond, func() (bool, error) {
			pods, err := c.Client.CoreV1().Pods(other).List(ctx, metav1.ListOptions{LabelSelector: install.LabelName + "=" + install.OperatorName})
			if err != nil || len(pods.Items) == 0 {
				return false, err
			}
			unschedulable := false
			for _, cond := range pods.Items[0].Status.Conditions {
				unschedulable = unschedulable || (cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse)
			}
			// And the Deployment says it is not available (the controller writes that apart).
			d, err := c.Client.AppsV1().Deployments(other).Get(ctx, install.OperatorName, metav1.GetOptions{})
			if err != nil || !unschedulable {
				return false, err
			}
			for _, cond := range d.Status.Conditions {
				if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionFalse {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		done, stop := context.WithCancel(ctx)
		stop() // the wait's time is up: it reads the Deployment once and reports
		err = install.WaitAvailable(done, c.Client, other, time.Second)
		if err == nil || !strings.Contains(err.Error(), "0 of 1 replicas available") || !strings.Contains(err.Error(), "Available=False") ||
			!strings.Contains(err.Error(), "node(s) didn't match Pod's node affinity/selector") {
			t.Fatalf("err = %v", err)
		}
		if err := install.Uninstall(ctx, c.Client, nil, other, other+"-apis"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("GatewayServesWithTheInstalledArguments", func(t *testing.T) { testGatewayServes(t, c, objs, ns) })

	t.Run("UninstallRemovesOnlyCortexObjects", func(t *testing.T) {
		// The operator's state goes too: cluster down leaves no cortex object.
		store, err := kubestate.New(c.Client, ns)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Write(ctx, "access.json", []byte(`{"rules":[]}`), ""); err != nil {
			t.Fatal(err)
		}
		// A python API's code, as the kube backend keeps it: cluster down removes it too.
		code := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "py-code-0123456789abcdef", Namespace: apis,
			Labels: map[string]string{install.LabelManagedBy: install.ManagedBy, "cortex.dev/api": "py"}}}
		if _, err := c.Client.CoreV1().ConfigMaps(apis).Create(ctx, code, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Everything cortex's goes, one progress line each: the install's objects, the operator's
		// state Secrets and the APIs the operator made (the gateway subtest deployed two).
		before, err := install.Installed(ctx, c.Client, ns, apis)
		if err != nil {
			t.Fatal(err)
		}
		// Another install's replicas policy (another APIs' namespace) is not this uninstall's.
		otherPolicy, otherBinding := rbac.ReplicasPolicy("elsewhere-apis")
		apply := metav1.ApplyOptions{FieldManager: "test"}
		if _, err := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Apply(ctx, otherPolicy, apply); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Apply(ctx, otherBinding, apply); err != nil {
			t.Fatal(err)
		}
		var lines []string
		if err := install.Uninstall(ctx, c.Client, func(l string) { lines = append(lines, l) }, ns, apis); err != nil {
			t.Fatal(err)
		}
		if len(lines) != len(before) || len(before) < 23 || !contains(lines, "deleted Secret cortex/cortex-state-access") {
			t.Errorf("progress %q for %d objects", lines, len(before))
		}
		if _, err := c.Client.CoreV1().ConfigMaps(apis).Get(ctx, code.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the API's code ConfigMap after uninstall: %v", err)
		}
		// The cluster-scoped replicas policy and binding of this install go; the other's stay.
		if _, err := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, rbac.ReplicasPolicyName(apis), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the replicas policy after uninstall: %v", err)
		}
		if _, err := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, rbac.ReplicasPolicyName(apis), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the replicas policy binding after uninstall: %v", err)
		}
		if _, err := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, *otherPolicy.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("another install's replicas policy: %v", err)
		}
		if _, err := c.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, *otherBinding.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("another install's replicas policy binding: %v", err)
		}
		items, err := install.Installed(ctx, c.Client, ns, apis)
		if err != nil || len(items) != 0 {
			t.Errorf("left after uninstall: %v %v", items, err)
		}
		if _, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "theirs", metav1.GetOptions{}); err != nil {
			t.Errorf("foreign ConfigMap: %v", err)
		}
		if _, err := c.Client.CoreV1().Services(ns).Get(ctx, "theirs", metav1.GetOptions{}); err != nil {
			t.Errorf("foreign Service: %v", err)
		}
		for _, n := range []string{ns, apis} {
			if _, err := c.Client.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{}); err != nil {
				t.Errorf("namespace %s: %v", n, err)
			}
		}
	})
}

// checkPodSecurity checks the pod and container security of the Deployment name: locked down as
// Pod Security "restricted" wants, its own ServiceAccount, no world-readable Secret volume.
func checkPodSecurity(t *testing.T, ctx context.Context, c *kubetest.Cluster, ns, name string) {
	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps := d.Spec.Template.Spec
	psc := ps.SecurityContext
	if psc == nil || !deref(psc.RunAsNonRoot) || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if ps.ServiceAccountName != name || ps.AutomountServiceAccountToken == nil || !*ps.AutomountServiceAccountToken {
		t.Errorf("service account %q automount %v: the pod needs its token", ps.ServiceAccountName, ps.AutomountServiceAccountToken)
	}
	if ps.EnableServiceLinks == nil || *ps.EnableServiceLinks {
		t.Error("service links enabled")
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	ct := ps.Containers[0]
	sc := ct.SecurityContext
	if sc == nil || !deref(sc.RunAsNonRoot) || !deref(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Privileged == nil || *sc.Privileged || sc.Capabilities == nil ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container security context %+v", sc)
	}
	sa, err := c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account: %v; automount must be off except where the pod asks", err)
	}
	for _, v := range ps.Volumes {
		if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0) {
			t.Errorf("secret volume %s is world-readable", v.Name)
		}
	}
}

func errOf(_ any, err error) error { return err }

func deref(b *bool) bool { return b != nil && *b }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func versions(t *testing.T, ctx context.Context, c kubernetes.Interface, namespaces ...string) map[string]string {
	t.Helper()
	items, err := install.Installed(ctx, c, namespaces...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range items {
		var rv string
		switch it.Kind {
		case "Deployment":
			d, err := c.AppsV1().Deployments(it.Namespace).Get(ctx, it.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rv = specVersion(d)
		default:
			rv = string(it.UID)
		}
		out[it.Kind+" "+it.Namespace+"/"+it.Name] = rv
	}
	// Everything but the Deployment (whose status kwok and the controllers keep writing) must
	// keep its resourceVersion: a no-op apply writes nothing.
	for _, kind := range []struct {
		name string
		list func() ([]metav1.Object, error)
	}{
		{"Service", func() ([]metav1.Object, error) {
			l, err := c.CoreV1().Services(namespaces[0]).List(ctx, metav1.ListOptions{LabelSelector: install.LabelManagedBy + "=cortex"})
			return objects(l.Items, err)
		}},
		{"Secret", func() ([]metav1.Object, error) {
			l, err := c.CoreV1().Secrets(namespaces[0]).List(ctx, metav1.ListOptions{LabelSelector: install.LabelManagedBy + "=cortex"})
			return objects(l.Items, err)
		}},
		{"Role", func() ([]metav1.Object, error) {
			l, err := c.RbacV1().Roles(namespaces[1]).List(ctx, metav1.ListOptions{LabelSelector: install.LabelManagedBy + "=cortex"})
			return objects(l.Items, err)
		}},
		{"RoleBinding", func() ([]metav1.Object, error) {
			l, err := c.RbacV1().RoleBindings(namespaces[1]).List(ctx, metav1.ListOptions{LabelSelector: install.LabelManagedBy + "=cortex"})
			return objects(l.Items, err)
		}},
		{"ServiceAccount", func() ([]metav1.Object, error) {
			l, err := c.CoreV1().ServiceAccounts(namespaces[0]).List(ctx, metav1.ListOptions{LabelSelector: install.LabelManagedBy + "=cortex"})
			return objects(l.Items, err)
		}},
	} {
		objs, err := kind.list()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			out["rv "+kind.name+" "+o.GetNamespace()+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}

func objects[T any, P interface {
	*T
	metav1.Object
}](items []T, err error) ([]metav1.Object, error) {
	if err != nil {
		return nil, err
	}
	out := make([]metav1.Object, 0, len(items))
	for i := range items {
		out = append(out, P(&items[i]))
	}
	return out, nil
}

func specVersion(d *appsv1.Deployment) string {
	data, _ := json.Marshal(d.Spec)
	return string(data)
}

func generation(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string) int64 {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Get(ctx, install.OperatorName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

// A cluster without v1 ValidatingAdmissionPolicies (Kubernetes < 1.30; here the API server with
// them turned off) is refused with what cortex needs, before a Secret, Service or Deployment is
// written: cortex never runs without the replicas bound.
func TestInstallRefusesAClusterWithoutAdmissionPolicies(t *testing.T) {
	c := kubetest.StartWith(t, kubetest.Options{APIServerArgs: []string{"--runtime-config=" +
		"admissionregistration.k8s.io/v1/validatingadmissionpolicies=false,admissionregistration.k8s.io/v1/validatingadmissionpolicybindings=false",
		"--disable-admission-plugins=ValidatingAdmissionPolicy"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs, err := install.Build(options(t, "cortex"))
	if err != nil {
		t.Fatal(err)
	}
	err = install.Apply(ctx, c.Client, objs, nil)
	if err == nil || !strings.Contains(err.Error(), "apply ValidatingAdmissionPolicy cortex-max-replicas-cortex-apis") ||
		!strings.Contains(err.Error(), "cortex needs Kubernetes 1.30 or later") {
		t.Fatalf("err = %v", err)
	}
	if d, err := c.Client.AppsV1().Deployments("cortex").List(ctx, metav1.ListOptions{}); err != nil || len(d.Items) != 0 {
		t.Errorf("Deployments written: %v %v", err, d)
	}
	if s, err := c.Client.CoreV1().Secrets("cortex").List(ctx, metav1.ListOptions{}); err != nil || len(s.Items) != 0 {
		t.Errorf("Secrets written: %v %v", err, s)
	}
}
