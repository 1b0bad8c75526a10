// Package kube runs APIs on Kubernetes: each API is a Deployment and a Service, with a
// ServiceAccount, a NetworkPolicy, a PodDisruptionBudget when it has more than one replica and a
// Secret when it gets a secret environment, all in one namespace, labelled
// app.kubernetes.io/managed-by=cortex and cortex.dev/api=<name>, and written with server-side
// apply (field manager "cortex").
//
// The cluster is the state: status and targets come from shared informers (watches) on the
// namespace's cortex-labelled Deployments, Pods, EndpointSlices and PodDisruptionBudgets, so a
// new Backend on the same cluster (an operator restart) sees every API as it was, and reading a
// status or the targets costs the API server nothing.
package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cortexlabs-go/cortex/internal/apispec"
	"github.com/cortexlabs-go/cortex/internal/workload"
	"github.com/cortexlabs-go/cortex/internal/workload/kube/targets"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	appsac "k8s.io/client-go/applyconfigurations/apps/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
)

// Options configure the backend.
type Options struct {
	// Client talks to the cluster (required).
	Client kubernetes.Interface
	// Namespace holds the APIs (required; it must exist). A namespace of its own keeps the
	// names of APIs from meeting the names of anything else.
	Namespace string
	// Image is the container image of every API (required). For a python handler it must hold
	// cortex's serving runtime (PythonCommand) and the project under ProjectDir; for a command
	// handler, the command. Building that image is a later change; the API spec's container kind
	// will carry an image per API instead.
	Image string
	// PythonCommand starts the serving runtime in Image (default python3 /opt/cortex/serve.py).
	PythonCommand []string
	// ProjectDir is where Image holds the project (default /app): handler paths resolve there.
	ProjectDir string
	// Port is the container port of the APIs ($CORTEX_PORT, default 8080).
	Port int32
	// GatewayLabels select the gateway's pods, the only pods the NetworkPolicies let in
	// (default app.kubernetes.io/name=cortex-gateway).
	GatewayLabels map[string]string
	// GatewayNamespace is the gateway's namespace (default Namespace).
	GatewayNamespace string
}

// Backend is the Kubernetes implementation of workload.Backend.
type Backend struct {
	opts   Options
	client kubernetes.Interface
	stop   context.CancelFunc

	deployments appslisters.DeploymentNamespaceLister
	pods        cache.Indexer
	pdbs        policylisters.PodDisruptionBudgetNamespaceLister

	// targets follows the EndpointSlices (shared with the remote gateway); the embedded gateway
	// reads it without a lock.
	targets *targets.Watcher
}

var _ workload.Backend = (*Backend)(nil)

const byAPI = "cortex-api"

// New starts the informers and waits for their caches (bounded by ctx).
func New(ctx context.Context, opts Options) (*Backend, error) {
	if opts.Client == nil {
		return nil, errors.New("kube backend: Client is required")
	}
	if errs := validation.IsDNS1123Label(opts.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("kube backend: namespace %q: %v", opts.Namespace, errs)
	}
	if opts.Image == "" {
		return nil, errors.New("kube backend: Image is required")
	}
	if len(opts.PythonCommand) == 0 {
		opts.PythonCommand = []string{"python3", "/opt/cortex/serve.py"}
	}
	if opts.ProjectDir == "" {
		opts.ProjectDir = "/app"
	}
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if len(opts.GatewayLabels) == 0 {
		opts.GatewayLabels = map[string]string{"app.kubernetes.io/name": "cortex-gateway"}
	}
	if opts.GatewayNamespace == "" {
		opts.GatewayNamespace = opts.Namespace
	}
	b := &Backend{opts: opts, client: opts.Client}

	factory := informers.NewSharedInformerFactoryWithOptions(opts.Client, 0,
		informers.WithNamespace(opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = LabelManagedBy + "=" + ManagedBy
		}))
	indexByAPI := cache.Indexers{byAPI: targets.IndexByAPI}
	depInf := factory.Apps().V1().Deployments()
	podInf := factory.Core().V1().Pods()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	pdbInf := factory.Policy().V1().PodDisruptionBudgets()
	if err := podInf.Informer().AddIndexers(indexByAPI); err != nil {
		return nil, err
	}
	b.deployments = depInf.Lister().Deployments(opts.Namespace)
	b.pods = podInf.Informer().GetIndexer()
	b.pdbs = pdbInf.Lister().PodDisruptionBudgets(opts.Namespace)
	var err error
	if b.targets, err = targets.Watch(sliceInf.Informer()); err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	b.stop = cancel
	factory.Start(runCtx.Done())
	// WaitForCacheSync ends when the caches are synced or runCtx ends: ctx bounds the wait.
	stopWait := context.AfterFunc(ctx, cancel)
	synced := factory.WaitForCacheSync(runCtx.Done())
	stopWait()
	for typ, ok := range synced {
		if !ok {
			cancel()
			return nil, fmt.Errorf("kube backend: the informer cache of %v did not sync: %v", typ, ctx.Err())
		}
	}
	return b, nil
}

// Apply implements workload.Backend: it writes the API's objects with server-side apply.
// Kubernetes rolls the pods when the template changed (never below the requested capacity) and
// only scales when the replica count alone changed.
func (b *Backend) Apply(ctx context.Context, d workload.Deployment) error {
	spec := d.Spec
	// The project directory is on the operator's machine, not in the cluster: no disk checks.
	if err := apispec.Validate(&spec, false); err != nil {
		return err
	}
	d.Spec = spec
	o, err := b.build(d)
	if err != nil {
		return fmt.Errorf("api %s: %w", spec.Name, err)
	}
	existing, err := b.deployments.Get(spec.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if existing == nil {
		// A first apply must not take over objects of the same names that cortex does not own.
		if err := b.checkUnowned(ctx, spec.Name, o.secret != nil); err != nil {
			return err
		}
	}
	ns := b.opts.Namespace
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if _, err := b.client.CoreV1().ServiceAccounts(ns).Apply(ctx, o.serviceAccount, opts); err != nil {
		return fmt.Errorf("api %s: service account: %w", spec.Name, err)
	}
	if o.secret != nil {
		if _, err := b.client.CoreV1().Secrets(ns).Apply(ctx, o.secret, opts); err != nil {
			return fmt.Errorf("api %s: secret: %s", spec.Name, secretError(err))
		}
	}
	if _, err := b.client.NetworkingV1().NetworkPolicies(ns).Apply(ctx, o.networkPolicy, opts); err != nil {
		return fmt.Errorf("api %s: network policy: %w", spec.Name, err)
	}
	if _, err := b.client.CoreV1().Services(ns).Apply(ctx, o.service, opts); err != nil {
		return fmt.Errorf("api %s: service: %w", spec.Name, err)
	}
	if _, err := b.client.AppsV1().Deployments(ns).Apply(ctx, o.deployment, opts); err != nil {
		return fmt.Errorf("api %s: deployment: %w", spec.Name, err)
	}
	if o.pdb != nil {
		if _, err := b.client.PolicyV1().PodDisruptionBudgets(ns).Apply(ctx, o.pdb, opts); err != nil {
			return fmt.Errorf("api %s: pod disruption budget: %w", spec.Name, err)
		}
	} else if pdb, err := b.pdbs.Get(spec.Name); err == nil {
		if err := b.deleteOwned(ctx, "poddisruptionbudget", pdb.UID, func(o metav1.DeleteOptions) error {
			return b.client.PolicyV1().PodDisruptionBudgets(ns).Delete(ctx, pdb.Name, o)
		}); err != nil {
			return fmt.Errorf("api %s: %w", spec.Name, err)
		}
	}
	if o.secret == nil && existing != nil && existing.Spec.Template.Annotations[AnnotationSecretHash] != "" {
		// The API had a secret environment and has none now: remove the Secret (the pods that
		// used it are being replaced by the apply above).
		if err := b.deleteSecret(ctx, spec.Name); err != nil {
			return fmt.Errorf("api %s: %w", spec.Name, err)
		}
	}
	return nil
}

// secretError describes a failed Secret write without the API server's message, which may quote
// what was sent: the reason and the names of the offending fields only.
func secretError(err error) string {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return err.Error() // a transport error: it carries the URL, never the body
	}
	s := st.Status()
	msg := fmt.Sprintf("%s (HTTP %d)", s.Reason, s.Code)
	if s.Details != nil {
		for _, c := range s.Details.Causes {
			msg += fmt.Sprintf("; %s: %s", c.Field, c.Type)
		}
	}
	return msg
}

// checkUnowned fails when an object that Apply would write exists without cortex's label.
func (b *Backend) checkUnowned(ctx context.Context, name string, secret bool) error {
	ns := b.opts.Namespace
	gets := []struct {
		kind, name string
		get        func() (metav1.Object, error)
	}{
		{"Deployment", name, func() (metav1.Object, error) {
			return b.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		}},
		{"Service", name, func() (metav1.Object, error) {
			return b.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		}},
		{"ServiceAccount", name, func() (metav1.Object, error) {
			return b.client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
		}},
		{"NetworkPolicy", name, func() (metav1.Object, error) {
			return b.client.NetworkingV1().NetworkPolicies(ns).Get(ctx, name, metav1.GetOptions{})
		}},
		{"PodDisruptionBudget", name, func() (metav1.Object, error) {
			return b.client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, name, metav1.GetOptions{})
		}},
	}
	if secret {
		gets = append(gets, struct {
			kind, name string
			get        func() (metav1.Object, error)
		}{"Secret", secretName(name), func() (metav1.Object, error) {
			return b.client.CoreV1().Secrets(ns).Get(ctx, secretName(name), metav1.GetOptions{})
		}})
	}
	for _, g := range gets {
		obj, err := g.get()
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("api %s: %s: %w", name, g.kind, err)
		}
		if obj.GetLabels()[LabelManagedBy] != ManagedBy || obj.GetLabels()[LabelAPI] != name {
			return fmt.Errorf("api %s: a %s named %q exists in namespace %s and is not managed by cortex; rename the API or remove it", name, g.kind, g.name, ns)
		}
	}
	return nil
}

// Restart implements workload.Backend: a new pod-template annotation makes the Deployment roll
// its pods (like kubectl rollout restart), under its own field manager so that Apply keeps it.
func (b *Backend) Restart(ctx context.Context, name string) error {
	if _, err := b.deployments.Get(name); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("api %q not found", name)
		}
		return err
	}
	cfg := appsac.Deployment(name, b.opts.Namespace).WithSpec(appsac.DeploymentSpec().
		WithTemplate(coreac.PodTemplateSpec().WithAnnotations(map[string]string{
			AnnotationRestartedAt: time.Now().UTC().Format(time.RFC3339Nano),
		})))
	_, err := b.client.AppsV1().Deployments(b.opts.Namespace).Apply(ctx, cfg,
		metav1.ApplyOptions{FieldManager: restartFieldManager, Force: true})
	return err
}

// Delete implements workload.Backend: it removes every object labelled with the API's name and
// managed by cortex (each by name and UID, so nothing else is touched); the garbage collector
// removes the ReplicaSets and pods.
func (b *Backend) Delete(ctx context.Context, name string) error {
	ns := b.opts.Namespace
	sel := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy + "," + LabelAPI + "=" + name}
	apps, core := b.client.AppsV1(), b.client.CoreV1()
	nets, policy := b.client.NetworkingV1(), b.client.PolicyV1()
	kinds := []struct {
		kind string
		list func() ([]metav1.Object, error)
		del  func(string, metav1.DeleteOptions) error
	}{
		{"deployment",
			func() ([]metav1.Object, error) { l, err := apps.Deployments(ns).List(ctx, sel); return items(l, err) },
			func(n string, o metav1.DeleteOptions) error { return apps.Deployments(ns).Delete(ctx, n, o) }},
		{"service",
			func() ([]metav1.Object, error) { l, err := core.Services(ns).List(ctx, sel); return items(l, err) },
			func(n string, o metav1.DeleteOptions) error { return core.Services(ns).Delete(ctx, n, o) }},
		{"networkpolicy",
			func() ([]metav1.Object, error) {
				l, err := nets.NetworkPolicies(ns).List(ctx, sel)
				return items(l, err)
			},
			func(n string, o metav1.DeleteOptions) error { return nets.NetworkPolicies(ns).Delete(ctx, n, o) }},
		{"poddisruptionbudget",
			func() ([]metav1.Object, error) {
				l, err := policy.PodDisruptionBudgets(ns).List(ctx, sel)
				return items(l, err)
			},
			func(n string, o metav1.DeleteOptions) error { return policy.PodDisruptionBudgets(ns).Delete(ctx, n, o) }},
		{"serviceaccount",
			func() ([]metav1.Object, error) {
				l, err := core.ServiceAccounts(ns).List(ctx, sel)
				return items(l, err)
			},
			func(n string, o metav1.DeleteOptions) error { return core.ServiceAccounts(ns).Delete(ctx, n, o) }},
	}
	var errs []error
	for _, k := range kinds {
		objs, err := k.list()
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", k.kind, err))
			continue
		}
		for _, o := range objs {
			if err := b.deleteOwned(ctx, k.kind+" "+o.GetName(), o.GetUID(), func(opts metav1.DeleteOptions) error {
				return k.del(o.GetName(), opts)
			}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := b.deleteSecret(ctx, name); err != nil {
		errs = append(errs, err)
	}
	b.targets.Forget(name)
	return errors.Join(errs...)
}

// items returns the objects of a typed list.
func items(list runtime.Object, err error) ([]metav1.Object, error) {
	if err != nil {
		return nil, err
	}
	objs, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]metav1.Object, 0, len(objs))
	for _, o := range objs {
		m, err := meta.Accessor(o)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// deleteSecret removes the API's Secret if cortex owns it. It reads only the metadata, so the
// secret's data never reaches this process.
func (b *Backend) deleteSecret(ctx context.Context, name string) error {
	ns := b.opts.Namespace
	sel := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy + "," + LabelAPI + "=" + name}
	list, err := b.client.CoreV1().Secrets(ns).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("list secret: %w", err)
	}
	var errs []error
	for i := range list.Items {
		s := &list.Items[i]
		if err := b.deleteOwned(ctx, "secret "+s.Name, s.UID, func(o metav1.DeleteOptions) error {
			return b.client.CoreV1().Secrets(ns).Delete(ctx, s.Name, o)
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (b *Backend) deleteOwned(ctx context.Context, what string, uid types.UID, del func(metav1.DeleteOptions) error) error {
	bg := metav1.DeletePropagationBackground
	err := del(metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", what, err)
	}
	return nil
}

// Status implements workload.Backend from the informer caches.
func (b *Backend) Status(name string) (workload.Status, bool) {
	d, err := b.deployments.Get(name)
	if err != nil || d.DeletionTimestamp != nil {
		return workload.Status{}, false
	}
	objs, _ := b.pods.ByIndex(byAPI, name)
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return Summarize(d, pods), true
}

// Targets implements workload.Backend: the ready endpoints of the API's EndpointSlices.
func (b *Backend) Targets(name string) []string { return b.targets.Targets(name) }

// Close implements workload.Backend: it stops the informers. The APIs keep running: on
// Kubernetes the cluster holds them, and the next operator picks them up.
func (b *Backend) Close(ctx context.Context) error {
	b.stop()
	return nil
}
