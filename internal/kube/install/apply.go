package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	admac "k8s.io/client-go/applyconfigurations/admissionregistration/v1"
	appsac "k8s.io/client-go/applyconfigurations/apps/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	policyac "k8s.io/client-go/applyconfigurations/policy/v1"
	rbacac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/cortexlabs-go/cortex/internal/kube/rbac"
	"github.com/cortexlabs-go/cortex/internal/tlsutil"
)

// ServiceNames are the in-cluster DNS names of the operator and gateway Services.
func ServiceNames(namespace string) []string {
	var names []string
	for _, svc := range []string{OperatorName, GatewayName} {
		names = append(names, svc, svc+"."+namespace, svc+"."+namespace+".svc", svc+"."+namespace+".svc.cluster.local")
	}
	return names
}

// NewTLS returns TLS material whose server certificate covers the Services' in-cluster names and
// names (e.g. a load balancer's address), made by internal/tlsutil. With prev (a previous
// install's material), its CA signs, and its server certificate is kept as it is while it covers
// every name and is not near expiry: a re-install then writes the same bytes.
func NewTLS(namespace string, names []string, prev *TLS) (*TLS, error) {
	tmp, err := os.MkdirTemp("", "cortex-tls-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "tls")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data *[]byte
	}{{tlsutil.CAFile, nil}, {"ca-key.pem", nil}, {"server.pem", nil}, {"server-key.pem", nil}}
	t := &TLS{}
	files[0].data, files[1].data, files[2].data, files[3].data = &t.CACert, &t.CAKey, &t.Cert, &t.Key
	if prev != nil {
		for i, data := range [][]byte{prev.CACert, prev.CAKey, prev.Cert, prev.Key} {
			if len(data) == 0 {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, files[i].name), data, 0o600); err != nil {
				return nil, err
			}
		}
	}
	if _, err := tlsutil.EnsureSelfManaged(dir, append(ServiceNames(namespace), names...)); err != nil {
		return nil, err
	}
	for _, f := range files {
		if *f.data, err = os.ReadFile(filepath.Join(dir, f.name)); err != nil {
			return nil, err
		}
	}
	if err := gatewayTLS(tmp, namespace, names, t, prev); err != nil {
		return nil, err
	}
	return t, nil
}

// gatewayTLS fills the gateway's material of t: its server certificate, signed by t's CA for the
// gateway Service's names and names, and its client certificate of the gateway client CA, each
// kept from prev while current.
func gatewayTLS(tmp, namespace string, names []string, t, prev *TLS) error {
	dir := filepath.Join(tmp, "gateway")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	in := map[string][]byte{tlsutil.CAFile: t.CACert, "ca-key.pem": t.CAKey}
	if prev != nil && len(prev.GatewayCert) > 0 && len(prev.GatewayKey) > 0 {
		in["server.pem"], in["server-key.pem"] = prev.GatewayCert, prev.GatewayKey
	}
	for name, data := range in {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	var gwNames []string
	for _, n := range ServiceNames(namespace) {
		if strings.HasPrefix(n, GatewayName) {
			gwNames = append(gwNames, n)
		}
	}
	if _, err := tlsutil.EnsureSelfManaged(dir, append(gwNames, names...)); err != nil {
		return err
	}
	var err error
	if t.GatewayCert, err = os.ReadFile(filepath.Join(dir, "server.pem")); err != nil {
		return err
	}
	if t.GatewayKey, err = os.ReadFile(filepath.Join(dir, "server-key.pem")); err != nil {
		return err
	}
	if prev != nil && len(prev.GatewayClientCACert) > 0 && len(prev.GatewayClientCAKey) > 0 {
		t.GatewayClientCACert, t.GatewayClientCAKey = prev.GatewayClientCACert, prev.GatewayClientCAKey
	} else if t.GatewayClientCACert, t.GatewayClientCAKey, err = tlsutil.NewClientCA("cortex gateway client CA"); err != nil {
		return err
	}
	if prev != nil && tlsutil.ClientCertCurrent(t.GatewayClientCACert, prev.GatewayClientCert, prev.GatewayClientKey) {
		t.GatewayClientCert, t.GatewayClientKey = prev.GatewayClientCert, prev.GatewayClientKey
		return nil
	}
	t.GatewayClientCert, t.GatewayClientKey, err = tlsutil.IssueClientCert(t.GatewayClientCACert, t.GatewayClientCAKey, GatewayName)
	return err
}

// Existing is what a previous install left that a re-install must keep: the TLS material (the
// CA clients pinned) and the cluster id (the tokens' binding). Nil when nothing is installed.
type Existing struct {
	TLS       *TLS
	ClusterID string
	// Webhook is the IAM webhook's material (its APIServer empty), nil when it is not installed.
	Webhook *Webhook
	// Auth is the installed operator's authorization mode (empty: its defaults).
	Auth Auth
}

// LoadExisting reads the previous install in namespace, if any. Objects that cortex does not
// manage are refused, never taken over.
func LoadExisting(ctx context.Context, c kubernetes.Interface, namespace string) (*Existing, error) {
	s, err := c.CoreV1().Secrets(namespace).Get(ctx, TLSSecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Secret %s/%s: %w", namespace, TLSSecretName, err)
	}
	if s.Labels[LabelManagedBy] != ManagedBy {
		return nil, fmt.Errorf("a Secret named %q exists in namespace %s and is not managed by cortex; remove it or choose another --namespace", TLSSecretName, namespace)
	}
	t := &TLS{CACert: s.Data["ca.crt"], Cert: s.Data[corev1.TLSCertKey], Key: s.Data[corev1.TLSPrivateKeyKey]}
	ca, err := c.CoreV1().Secrets(namespace).Get(ctx, CASecretName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read Secret %s/%s: %w", namespace, CASecretName, err)
	}
	if ca.Labels[LabelManagedBy] != ManagedBy {
		return nil, fmt.Errorf("a Secret named %q exists in namespace %s and is not managed by cortex", CASecretName, namespace)
	}
	t.CAKey = ca.Data["ca.key"]
	if len(t.CACert) == 0 || len(t.CAKey) == 0 || len(t.Cert) == 0 || len(t.Key) == 0 || !bytes.Equal(t.CACert, ca.Data["ca.crt"]) {
		return nil, fmt.Errorf("the Secrets %s/%s and %s are incomplete or do not match; delete both to make new TLS material (clients must then pin the new CA)", namespace, TLSSecretName, CASecretName)
	}
	// The gateway's material: absent after an install from before the gateway's Deployment
	// (NewTLS makes it then).
	for _, sec := range []struct {
		name string
		into func(d map[string][]byte)
	}{
		{GatewayTLSSecretName, func(d map[string][]byte) {
			t.GatewayCert, t.GatewayKey = d[corev1.TLSCertKey], d[corev1.TLSPrivateKeyKey]
			t.GatewayClientCert, t.GatewayClientKey = d["client.crt"], d["client.key"]
		}},
		{GatewayClientCASecretName, func(d map[string][]byte) { t.GatewayClientCACert, t.GatewayClientCAKey = d["ca.crt"], d["ca.key"] }},
	} {
		gs, err := c.CoreV1().Secrets(namespace).Get(ctx, sec.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read Secret %s/%s: %w", namespace, sec.name, err)
		}
		if gs.Labels[LabelManagedBy] != ManagedBy {
			return nil, fmt.Errorf("a Secret named %q exists in namespace %s and is not managed by cortex", sec.name, namespace)
		}
		sec.into(gs.Data)
	}
	e := &Existing{TLS: t}
	if e.Webhook, err = loadWebhook(ctx, c, namespace); err != nil {
		return nil, err
	}
	d, err := c.AppsV1().Deployments(namespace).Get(ctx, OperatorName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("read Deployment %s/%s: %w", namespace, OperatorName, err)
	case d.Labels[LabelManagedBy] == ManagedBy:
		e.ClusterID = d.Annotations[AnnotationClusterID]
		e.Auth = AuthOf(d)
	}
	return e, nil
}

// Progress receives one line per step ("applied Deployment cortex/cortex-operator").
type Progress func(line string)

// Apply writes every object with server-side apply (field manager cortex, forced: cortex owns
// these fields; a re-install changes nothing that is already as built). An object of the same
// name that cortex does not manage is refused, not taken over.
func Apply(ctx context.Context, c kubernetes.Interface, objs *Objects, progress Progress) error {
	if progress == nil {
		progress = func(string) {}
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	for _, x := range objs.All() {
		kind, ns, name := describe(x)
		if kind != "Namespace" {
			if err := checkUnowned(ctx, c, kind, ns, name); err != nil {
				return err
			}
		}
		var err error
		switch o := x.(type) {
		case *coreac.NamespaceApplyConfiguration:
			_, err = c.CoreV1().Namespaces().Apply(ctx, o, opts)
		case *coreac.ServiceAccountApplyConfiguration:
			_, err = c.CoreV1().ServiceAccounts(ns).Apply(ctx, o, opts)
		case *rbacac.RoleApplyConfiguration:
			_, err = c.RbacV1().Roles(ns).Apply(ctx, o, opts)
		case *rbacac.RoleBindingApplyConfiguration:
			_, err = c.RbacV1().RoleBindings(ns).Apply(ctx, o, opts)
		case *admac.ValidatingAdmissionPolicyApplyConfiguration:
			_, err = c.AdmissionregistrationV1().ValidatingAdmissionPolicies().Apply(ctx, o, opts)
			err = needsAdmissionPolicies(err)
		case *admac.ValidatingAdmissionPolicyBindingApplyConfiguration:
			_, err = c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Apply(ctx, o, opts)
			err = needsAdmissionPolicies(err)
		case *coreac.SecretApplyConfiguration:
			_, err = c.CoreV1().Secrets(ns).Apply(ctx, o, opts)
			if err != nil {
				// The API server's message may quote the data: the reason only.
				err = fmt.Errorf("%s (HTTP %d)", apierrors.ReasonForError(err), statusCode(err))
			}
		case *coreac.ServiceApplyConfiguration:
			_, err = c.CoreV1().Services(ns).Apply(ctx, o, opts)
		case *appsac.DeploymentApplyConfiguration:
			_, err = c.AppsV1().Deployments(ns).Apply(ctx, o, opts)
		case *policyac.PodDisruptionBudgetApplyConfiguration:
			_, err = c.PolicyV1().PodDisruptionBudgets(ns).Apply(ctx, o, opts)
		default:
			err = fmt.Errorf("unknown object %T", x)
		}
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", kind, qualified(ns, name), err)
		}
		progress(fmt.Sprintf("applied %s %s", kind, qualified(ns, name)))
	}
	return nil
}

// needsAdmissionPolicies explains a NotFound from the API server on a ValidatingAdmissionPolicy
// write: it does not serve admissionregistration.k8s.io/v1 policies (Kubernetes < 1.30). The
// install stops there, before any API can run without the replicas bound.
func needsAdmissionPolicies(err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: the cluster does not serve admissionregistration.k8s.io/v1 ValidatingAdmissionPolicies; cortex needs Kubernetes 1.30 or later", err)
	}
	return err
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func describe(x any) (kind, ns, name string) {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	switch o := x.(type) {
	case *coreac.NamespaceApplyConfiguration:
		return str(o.Kind), "", str(o.Name)
	case *coreac.ServiceAccountApplyConfiguration:
		return str(o.Kind), str(o.Namespace), str(o.Name)
	case *rbacac.RoleApplyConfiguration:
		return str(o.Kind), str(o.Namespace), str(o.Name)
	case *rbacac.RoleBindingApplyConfiguration:
		return str(o.Kind), str(o.Namespace), str(o.Name)
	case *admac.ValidatingAdmissionPolicyApplyConfiguration:
		return str(o.Kind), "", str(o.Name)
	case *admac.ValidatingAdmissionPolicyBindingApplyConfiguration:
		return str(o.Kind), "", str(o.Name)
	case *coreac.SecretApplyConfiguration:
		return str(o.Kind), str(o.Namespace), str(o.Name)
	case *coreac.ServiceApplyConfiguration:
		return str(o.Kind), str(o.Namespace), str(o.Name)
	case *appsac.DeploymentApplyConfiguration:
		return str(o.Kind), str(o.Namespace), str(o.Name)
	case *policyac.PodDisruptionBudgetApplyConfiguration:
		return str(o.Kind), str(o.Namespace), str(o.Name)
	}
	return fmt.Sprintf("%T", x), "", ""
}

// kinds are the kinds cortex writes (the install's and the APIs' of the kube backend, their code
// ConfigMaps included), each with how to list, read and delete them. Uninstall goes through all of
// them. A cluster-scoped kind's client ignores the namespace; its objects are cortex's for the
// namespaces their rbac.NamespaceLabel names.
type kindOps struct {
	kind          string
	clusterScoped bool
	list          func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) (runtime.Object, error)
	get           func(ctx context.Context, c kubernetes.Interface, ns, name string) (metav1.Object, error)
	del           func(ctx context.Context, c kubernetes.Interface, ns, name string, o metav1.DeleteOptions) error
}

// namespacedClient is what every typed client of a namespaced kind offers (Deployments(ns),
// Secrets(ns), ...).
type namespacedClient[T metav1.Object, L runtime.Object] interface {
	List(ctx context.Context, o metav1.ListOptions) (L, error)
	Get(ctx context.Context, name string, o metav1.GetOptions) (T, error)
	Delete(ctx context.Context, name string, o metav1.DeleteOptions) error
}

// opsFor makes the kindOps of a kind from its typed client.
func opsFor[T metav1.Object, L runtime.Object](kind string, client func(c kubernetes.Interface, ns string) namespacedClient[T, L]) kindOps {
	return kindOps{kind: kind,
		list: func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return client(c, ns).List(ctx, o)
		},
		get: func(ctx context.Context, c kubernetes.Interface, ns, name string) (metav1.Object, error) {
			return client(c, ns).Get(ctx, name, metav1.GetOptions{})
		},
		del: func(ctx context.Context, c kubernetes.Interface, ns, name string, o metav1.DeleteOptions) error {
			return client(c, ns).Delete(ctx, name, o)
		},
	}
}

var kinds = []kindOps{
	opsFor("Deployment", func(c kubernetes.Interface, ns string) namespacedClient[*appsv1.Deployment, *appsv1.DeploymentList] {
		return c.AppsV1().Deployments(ns)
	}),
	opsFor("Service", func(c kubernetes.Interface, ns string) namespacedClient[*corev1.Service, *corev1.ServiceList] {
		return c.CoreV1().Services(ns)
	}),
	// The typed client lists whole Secrets (metadata would do); they stay in memory.
	opsFor("Secret", func(c kubernetes.Interface, ns string) namespacedClient[*corev1.Secret, *corev1.SecretList] {
		return c.CoreV1().Secrets(ns)
	}),
	// The APIs' code (internal/workload/kube): cluster down leaves none behind.
	opsFor("ConfigMap", func(c kubernetes.Interface, ns string) namespacedClient[*corev1.ConfigMap, *corev1.ConfigMapList] {
		return c.CoreV1().ConfigMaps(ns)
	}),
	opsFor("RoleBinding", func(c kubernetes.Interface, ns string) namespacedClient[*rbacv1.RoleBinding, *rbacv1.RoleBindingList] {
		return c.RbacV1().RoleBindings(ns)
	}),
	opsFor("Role", func(c kubernetes.Interface, ns string) namespacedClient[*rbacv1.Role, *rbacv1.RoleList] {
		return c.RbacV1().Roles(ns)
	}),
	opsFor("ServiceAccount", func(c kubernetes.Interface, ns string) namespacedClient[*corev1.ServiceAccount, *corev1.ServiceAccountList] {
		return c.CoreV1().ServiceAccounts(ns)
	}),
	opsFor("NetworkPolicy", func(c kubernetes.Interface, ns string) namespacedClient[*networkingv1.NetworkPolicy, *networkingv1.NetworkPolicyList] {
		return c.NetworkingV1().NetworkPolicies(ns)
	}),
	opsFor("PodDisruptionBudget", func(c kubernetes.Interface, ns string) namespacedClient[*policyv1.PodDisruptionBudget, *policyv1.PodDisruptionBudgetList] {
		return c.PolicyV1().PodDisruptionBudgets(ns)
	}),
	// The replicas bound (rbac.ReplicasPolicy): the binding goes first, then its policy.
	clusterScoped(opsFor("ValidatingAdmissionPolicyBinding", func(c kubernetes.Interface, _ string) namespacedClient[*admissionregistrationv1.ValidatingAdmissionPolicyBinding, *admissionregistrationv1.ValidatingAdmissionPolicyBindingList] {
		return c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	})),
	clusterScoped(opsFor("ValidatingAdmissionPolicy", func(c kubernetes.Interface, _ string) namespacedClient[*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyList] {
		return c.AdmissionregistrationV1().ValidatingAdmissionPolicies()
	})),
}

func clusterScoped(k kindOps) kindOps {
	k.clusterScoped = true
	return k
}

func opsOf(kind string) *kindOps {
	for i := range kinds {
		if kinds[i].kind == kind {
			return &kinds[i]
		}
	}
	return nil
}

// checkUnowned refuses to apply over an object cortex does not manage.
func checkUnowned(ctx context.Context, c kubernetes.Interface, kind, ns, name string) error {
	k := opsOf(kind)
	if k == nil || k.get == nil {
		return fmt.Errorf("internal: no get for %s", kind)
	}
	obj, err := k.get(ctx, c, ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s %s: %w", kind, qualified(ns, name), err)
	}
	if obj.GetLabels()[LabelManagedBy] != ManagedBy {
		if k.clusterScoped {
			return fmt.Errorf("a %s named %q exists in the cluster and is not managed by cortex; remove it or choose another --namespace", kind, name)
		}
		return fmt.Errorf("a %s named %q exists in namespace %s and is not managed by cortex; remove it or choose another --namespace", kind, name, ns)
	}
	return nil
}

// Item is one installed object.
type Item struct {
	Kind, Namespace, Name string
	UID                   types.UID
}

// Installed lists the cortex objects (label app.kubernetes.io/managed-by=cortex) of the namespaces,
// the APIs' objects included.
func Installed(ctx context.Context, c kubernetes.Interface, namespaces ...string) ([]Item, error) {
	var out []Item
	add := func(k kindOps, ns, selector string) error {
		list, err := k.list(ctx, c, ns, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			if k.clusterScoped {
				return fmt.Errorf("list %ss: %w", k.kind, err)
			}
			return fmt.Errorf("list %ss in %s: %w", k.kind, ns, err)
		}
		objs, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, o := range objs {
			m, err := meta.Accessor(o)
			if err != nil {
				return err
			}
			out = append(out, Item{Kind: k.kind, Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID()})
		}
		return nil
	}
	managed := LabelManagedBy + "=" + ManagedBy
	for _, ns := range namespaces {
		for _, k := range kinds {
			if k.clusterScoped {
				continue
			}
			if err := add(k, ns, managed); err != nil {
				return nil, err
			}
		}
	}
	// The cluster-scoped objects of these namespaces only (another install's stay).
	if len(namespaces) > 0 {
		ofThese, err := labels.NewRequirement(rbac.NamespaceLabel, selection.In, namespaces)
		if err != nil {
			return nil, fmt.Errorf("namespaces %q: %w", namespaces, err)
		}
		for _, k := range kinds {
			if !k.clusterScoped {
				continue
			}
			if err := add(k, "", managed+","+ofThese.String()); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Uninstall deletes every cortex object of the namespaces (what Installed lists: the install and
// the APIs the operator ran), each by name with a UID precondition, so an object that is not
// cortex's, or was replaced meanwhile, is never touched. Namespaces are kept: they may hold
// other objects.
func Uninstall(ctx context.Context, c kubernetes.Interface, progress Progress, namespaces ...string) error {
	if progress == nil {
		progress = func(string) {}
	}
	items, err := Installed(ctx, c, namespaces...)
	if err != nil {
		return err
	}
	bg := metav1.DeletePropagationBackground
	var errs []error
	for _, it := range items {
		uid := it.UID
		err := opsOf(it.Kind).del(ctx, c, it.Namespace, it.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s %s: %w", it.Kind, qualified(it.Namespace, it.Name), err))
			continue
		}
		progress(fmt.Sprintf("deleted %s %s", it.Kind, qualified(it.Namespace, it.Name)))
	}
	return errors.Join(errs...)
}

// WaitAvailable polls the operator's and the gateway's Deployments until both are Available for
// their current generation, every interval until ctx ends. On timeout the error carries the
// Deployment's real conditions and what its pods are waiting for.
func WaitAvailable(ctx context.Context, c kubernetes.Interface, namespace string, interval time.Duration) error {
	for _, name := range []string{OperatorName, GatewayName} {
		if err := waitAvailable(ctx, c, namespace, name, interval); err != nil {
			return err
		}
	}
	return nil
}

func waitAvailable(ctx context.Context, c kubernetes.Interface, namespace, name string, interval time.Duration) error {
	var last *appsv1.Deployment
	for {
		// Each read has its own bound, so even a wait whose time is up reads the Deployment once
		// and reports its state.
		getCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		d, err := c.AppsV1().Deployments(namespace).Get(getCtx, name, metav1.GetOptions{})
		cancel()
		if err == nil {
			last = d
			if deploymentAvailable(d) {
				return nil
			}
		} else if !apierrors.IsNotFound(err) {
			return fmt.Errorf("read Deployment %s/%s: %w", namespace, name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the Deployment %s/%s is not available: %s", namespace, name, whyNot(c, namespace, name, last))
		case <-time.After(interval):
		}
	}
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	if d.Status.ObservedGeneration < d.Generation {
		return false
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want {
		return false
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentAvailable {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// whyNot describes a Deployment that is not available: its conditions and its pods' reasons.
func whyNot(c kubernetes.Interface, namespace, name string, d *appsv1.Deployment) string {
	if d == nil {
		return "it does not exist"
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("%d of %d replicas available", d.Status.AvailableReplicas, ptrOr(d.Spec.Replicas, 1)))
	for _, cond := range d.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s (%s: %s)", cond.Type, cond.Status, cond.Reason, cond.Message))
	}
	// A fresh, short context: the caller's has ended.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pods, err := c.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy + "," + LabelName + "=" + name})
	if err == nil {
		for _, p := range pods.Items {
			for _, cond := range p.Status.Conditions {
				if cond.Status != corev1.ConditionTrue && cond.Message != "" {
					parts = append(parts, fmt.Sprintf("pod %s %s: %s", p.Name, cond.Reason, cond.Message))
				}
			}
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil {
					parts = append(parts, fmt.Sprintf("pod %s: %s: %s", p.Name, w.Reason, w.Message))
				}
			}
		}
	}
	return strings.Join(parts, "; ")
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// YAML prints every object as one multi-document YAML stream, in apply order (kubectl apply -f
// and GitOps tools take it as is). It holds the TLS Secret, the server's private key included.
func YAML(objs *Objects) ([]byte, error) {
	var buf bytes.Buffer
	for i, x := range objs.All() {
		data, err := yaml.Marshal(x)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(data)
	}
	return buf.Bytes(), nil
}

// Address is how clients reach a Service from outside the cluster, as far as the cluster says.
type Address struct {
	Host string
	Port int32
	// How: "load balancer", "node port" or "cluster IP" (reachable only from inside the cluster).
	How string
	// Hosts are every host that serves the Service at Port, Host among them: for a NodePort
	// Service every node's address (ExternalIPs, then InternalIPs, each sorted), so what is signed
	// for and bound into tokens does not depend on where the pods run; else just Host.
	Hosts []string
}

// ServiceAddress reads the address of a Service: the load balancer's ingress, a node's address
// and the node port, or the cluster IP. ok is false while a load balancer has no address yet.
//
// The Services are externalTrafficPolicy Local (objects.go): a node port answers only on a node
// that runs a replica, so for NodePort Host is a node with a ready pod of the Service (one with a
// scheduled pod while none is ready; the first node while none is scheduled).
func ServiceAddress(ctx context.Context, c kubernetes.Interface, namespace, name string) (Address, bool, error) {
	s, err := c.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Address{}, false, err
	}
	if len(s.Spec.Ports) == 0 {
		return Address{}, false, fmt.Errorf("the Service %s/%s has no port", namespace, name)
	}
	port := s.Spec.Ports[0]
	switch s.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		for _, in := range s.Status.LoadBalancer.Ingress {
			if in.Hostname != "" {
				return Address{in.Hostname, port.Port, "load balancer", []string{in.Hostname}}, true, nil
			}
			if in.IP != "" {
				return Address{in.IP, port.Port, "load balancer", []string{in.IP}}, true, nil
			}
		}
		return Address{}, false, nil
	case corev1.ServiceTypeNodePort:
		return nodePortAddress(ctx, c, s)
	default:
		return Address{s.Spec.ClusterIP, port.Port, "cluster IP", []string{s.Spec.ClusterIP}}, s.Spec.ClusterIP != "", nil
	}
}

func nodePortAddress(ctx context.Context, c kubernetes.Interface, s *corev1.Service) (Address, bool, error) {
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Address{}, false, err
	}
	type nodeAddr struct{ typ, addr, node string }
	var addrs []nodeAddr
	for _, n := range nodes.Items {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeExternalIP || a.Type == corev1.NodeInternalIP {
				addrs = append(addrs, nodeAddr{string(a.Type), a.Address, n.Name})
			}
		}
	}
	if len(addrs) == 0 {
		return Address{}, false, nil
	}
	// ExternalIP before InternalIP, then by address.
	sort.Slice(addrs, func(i, j int) bool {
		if addrs[i].typ != addrs[j].typ {
			return addrs[i].typ < addrs[j].typ
		}
		return addrs[i].addr < addrs[j].addr
	})
	a := Address{Host: addrs[0].addr, Port: s.Spec.Ports[0].NodePort, How: "node port"}
	for _, x := range addrs {
		if !slices.Contains(a.Hosts, x.addr) {
			a.Hosts = append(a.Hosts, x.addr)
		}
	}
	if len(s.Spec.Selector) == 0 {
		return a, true, nil
	}
	pods, err := c.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(s.Spec.Selector).String()})
	if err != nil {
		return Address{}, false, err
	}
	ready, scheduled := map[string]bool{}, map[string]bool{}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		scheduled[p.Spec.NodeName] = true
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready[p.Spec.NodeName] = true
			}
		}
	}
	for _, hosts := range []map[string]bool{ready, scheduled} {
		for _, x := range addrs {
			if hosts[x.node] {
				a.Host = x.addr
				return a, true, nil
			}
		}
	}
	return a, true, nil
}

func statusCode(err error) int32 {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return st.Status().Code
	}
	return 0
}

// OperatorServiceIP is the operator Service's cluster IP in namespace ns ("" before the Service
// exists, or for a headless one): what the gateway pods get as a hosts entry for the Service's
// name (Options.OperatorServiceIP), so their way to the operator needs no cluster DNS.
func OperatorServiceIP(ctx context.Context, c kubernetes.Interface, ns string) (string, error) {
	svc, err := c.CoreV1().Services(ns).Get(ctx, OperatorName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("the operator Service %s/%s: %w", ns, OperatorName, err)
	}
	if net.ParseIP(svc.Spec.ClusterIP) == nil {
		return "", nil
	}
	return svc.Spec.ClusterIP, nil
}
