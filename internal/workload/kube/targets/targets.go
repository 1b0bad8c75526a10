// Package targets follows the ready replicas of cortex's APIs on Kubernetes: an informer on the
// cortex-labelled EndpointSlices of the APIs' namespace, indexed by API, keeps each API's ready
// host:port list, which the gateway reads for every request without a lock or an API-server call.
// The kube workload backend (inside the operator) and the remote gateway (`cortex gateway serve`,
// which may list and watch only EndpointSlices) share it.
package targets

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Labels of an API's Service, which the EndpointSlice controller copies onto its slices, and the
// name of the API's port.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "cortex"
	LabelAPI       = "cortex.dev/api"
	PortName       = "http"
)

const byAPI = "cortex-api"

// Watcher holds the ready targets of every API.
type Watcher struct {
	targets sync.Map // API name -> []string
	slices  cache.Indexer
}

// Watch follows inf, an informer on the namespace's cortex-labelled EndpointSlices (the caller's
// factory starts it), adding its index by API. Shared with the kube backend's factory.
func Watch(inf cache.SharedIndexInformer) (*Watcher, error) {
	if err := inf.AddIndexers(cache.Indexers{byAPI: IndexByAPI}); err != nil {
		return nil, err
	}
	w := &Watcher{slices: inf.GetIndexer()}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.changed,
		UpdateFunc: func(_, obj any) { w.changed(obj) },
		DeleteFunc: w.changed,
	}); err != nil {
		return nil, err
	}
	return w, nil
}

// Start watches the EndpointSlices of namespace on its own (the remote gateway): it returns once
// the cache has synced (bounded by ctx) and stops when stop is called.
func Start(ctx context.Context, client kubernetes.Interface, namespace string) (w *Watcher, stop func(), err error) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelManagedBy + "=" + ManagedBy }))
	if w, err = Watch(factory.Discovery().V1().EndpointSlices().Informer()); err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	factory.Start(runCtx.Done())
	stopWait := context.AfterFunc(ctx, cancel)
	synced := factory.WaitForCacheSync(runCtx.Done())
	stopWait()
	for typ, ok := range synced {
		if !ok {
			cancel()
			factory.Shutdown()
			return nil, nil, fmt.Errorf("the informer cache of %v in namespace %s did not sync: %v", typ, namespace, ctx.Err())
		}
	}
	return w, func() { cancel(); factory.Shutdown() }, nil
}

// IndexByAPI indexes cortex objects by their LabelAPI.
func IndexByAPI(obj any) ([]string, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, err
	}
	if n := m.GetLabels()[LabelAPI]; n != "" {
		return []string{n}, nil
	}
	return nil, nil
}

func metaOf(obj any) (metav1.Object, error) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	return m, nil
}

// Targets returns the host:port addresses of the API's ready replicas (sorted; cheap).
func (w *Watcher) Targets(name string) []string {
	if v, ok := w.targets.Load(name); ok {
		return v.([]string)
	}
	return []string{}
}

func (w *Watcher) changed(obj any) {
	m, err := metaOf(obj)
	if err != nil {
		return
	}
	name := m.GetLabels()[LabelAPI]
	if name == "" {
		return
	}
	objs, _ := w.slices.ByIndex(byAPI, name)
	slices := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			slices = append(slices, s)
		}
	}
	w.targets.Store(name, Ready(slices))
}

// Ready lists host:port of the ready endpoints of slices (sorted, without duplicates).
func Ready(slices []*discoveryv1.EndpointSlice) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range slices {
		var port int32
		for _, p := range s.Ports {
			if p.Name != nil && *p.Name == PortName && p.Port != nil {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			// Ready is nil when unknown, which the API defines as ready; a terminating endpoint
			// is not ready.
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				t := net.JoinHostPort(a, strconv.Itoa(int(port)))
				if !seen[t] {
					seen[t] = true
					out = append(out, t)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// Forget drops an API's targets at once (a deleted API; the slices' deletions follow).
func (w *Watcher) Forget(name string) { w.targets.Delete(name) }
