package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cortexlabs-go/cortex/internal/bundle"
	"github.com/cortexlabs-go/cortex/internal/workload"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/tools/cache"
)

// An API's code (a python or command handler's project, sent with the deploy) lives in one
// immutable ConfigMap per (API, content hash), <api>-code-<hash[:16]>, mounted read-only at
// Options.ProjectDir. Its binaryData keys are f0000, f0001, ... (safe ConfigMap keys whatever the
// file names) and the volume's items map each key to the file's relative path and mode, so the
// pod needs nothing to unpack the code. The index (key, path, exec) is also stored in the
// ConfigMap under codeIndexKey, which no item mounts, so a restore without the files can rebuild
// the items.
const (
	// AnnotationCodeHash is the full content hash of a code ConfigMap.
	AnnotationCodeHash = "cortex.dev/code-hash"
	codeVolume         = "code"
	codeIndexKey       = "cortex-index.json"
	// maxConfigMapBytes is the API server's limit on a ConfigMap's keys and values together.
	maxConfigMapBytes = 1 << 20
)

func codeName(api, hash string) string { return api + "-code-" + hash[:16] }

type codeEntry struct {
	Key  string `json:"key"`
	Path string `json:"path"`
	Exec bool   `json:"exec,omitempty"`
}

// codeItems are a code volume's items: each key to its path, 0444 (0555 for executables).
func codeItems(index []codeEntry) []*coreac.KeyToPathApplyConfiguration {
	items := make([]*coreac.KeyToPathApplyConfiguration, len(index))
	for i, e := range index {
		mode := int32(0o444)
		if e.Exec {
			mode = 0o555
		}
		items[i] = coreac.KeyToPath().WithKey(e.Key).WithPath(e.Path).WithMode(mode)
	}
	return items
}

// codeConfigMap is the immutable ConfigMap of files (verified by the manager), and its index.
func (b *Backend) codeConfigMap(api, hash string, files []bundle.File) (*corev1.ConfigMap, []codeEntry, error) {
	index := make([]codeEntry, len(files))
	data := make(map[string][]byte, len(files))
	size := 0
	for i, f := range files {
		index[i] = codeEntry{Key: fmt.Sprintf("f%04d", i), Path: f.Path, Exec: f.Exec}
		data[index[i].Key] = f.Data
		size += len(index[i].Key) + len(f.Data)
	}
	idx, err := json.Marshal(index)
	if err != nil {
		return nil, nil, err
	}
	size += len(codeIndexKey) + len(idx)
	if size > maxConfigMapBytes {
		return nil, nil, fmt.Errorf("the project's code takes %d bytes in a ConfigMap, and Kubernetes limits a ConfigMap to 1 MiB (%d bytes): keep models and data out of the project directory and load them from elsewhere (e.g. S3)", size, maxConfigMapBytes)
	}
	immutable := true
	lbl := labels(api)
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: codeName(api, hash), Namespace: b.opts.Namespace, Labels: lbl,
			Annotations: map[string]string{AnnotationCodeHash: hash}},
		Immutable:  &immutable,
		Data:       map[string]string{codeIndexKey: string(idx)},
		BinaryData: data,
	}, index, nil
}

// ensureCode makes sure the code ConfigMap of d exists and returns its index: it creates it from
// d.Files, or, on a restore (no files), reads the ConfigMap's index. An existing ConfigMap of that name must be cortex's, for this API
// and this hash. Callers hold codeMu.
func (b *Backend) ensureCode(ctx context.Context, d workload.Deployment) ([]codeEntry, error) {
	api, hash := d.Spec.Name, d.Code
	if !bundle.ValidHash(hash) {
		return nil, fmt.Errorf("invalid code hash %q", hash)
	}
	name := codeName(api, hash)
	cms := b.client.CoreV1().ConfigMaps(b.opts.Namespace)
	if d.Files != nil {
		cm, index, err := b.codeConfigMap(api, hash, d.Files)
		if err != nil {
			return nil, err
		}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
		if err == nil {
			return index, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("code configmap: %w", err)
		}
		// Deployed before (immutable: the same name and hash mean the same files).
		if _, err := b.ownedCode(ctx, api, hash); err != nil {
			return nil, err
		}
		return index, nil
	}
	cm, err := b.ownedCode(ctx, api, hash)
	if err != nil {
		return nil, err
	}
	var index []codeEntry
	if err := json.Unmarshal([]byte(cm.Data[codeIndexKey]), &index); err != nil || len(index) == 0 {
		return nil, fmt.Errorf("code configmap %s has no index; deploy the API again", name)
	}
	return index, nil
}

// ownedCode reads the code ConfigMap of (api, hash) and checks that cortex made it for them.
func (b *Backend) ownedCode(ctx context.Context, api, hash string) (*corev1.ConfigMap, error) {
	name := codeName(api, hash)
	cm, err := b.client.CoreV1().ConfigMaps(b.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("the deployed code (ConfigMap %s) is missing from namespace %s; deploy the API again", name, b.opts.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("code configmap: %w", err)
	}
	if cm.Labels[LabelManagedBy] != ManagedBy || cm.Labels[LabelAPI] != api || cm.Annotations[AnnotationCodeHash] != hash ||
		cm.Immutable == nil || !*cm.Immutable {
		return nil, fmt.Errorf("a ConfigMap named %q exists in namespace %s and is not this API's code managed by cortex; remove it", name, b.opts.Namespace)
	}
	return cm, nil
}

// codeInUse is the set of code ConfigMaps the API's Deployment or pods (informer caches), or an
// Apply in progress, refer to.
func (b *Backend) codeInUse(api string) map[string]bool {
	keep := map[string]bool{}
	if v, ok := b.wantCode.Load(api); ok {
		keep[v.(string)] = true
	}
	add := func(vols []corev1.Volume) {
		for _, v := range vols {
			if v.Name == codeVolume && v.ConfigMap != nil {
				keep[v.ConfigMap.Name] = true
			}
		}
	}
	if d, err := b.deployments.Get(api); err == nil {
		add(d.Spec.Template.Spec.Volumes)
	}
	objs, _ := b.pods.ByIndex(byAPI, api)
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			add(p.Spec.Volumes)
		}
	}
	return keep
}

// collectCode deletes the API's code ConfigMaps that nothing uses any more (each by name with a
// UID precondition). It runs after every Apply and whenever a pod of the API goes away (the end
// of a rollout), so an old version's code stays while its pods run.
func (b *Backend) collectCode(ctx context.Context, api string) error {
	b.codeMu.Lock()
	defer b.codeMu.Unlock()
	list, err := b.client.CoreV1().ConfigMaps(b.opts.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: LabelManagedBy + "=" + ManagedBy + "," + LabelAPI + "=" + api})
	if err != nil {
		return fmt.Errorf("list code configmaps: %w", err)
	}
	keep := b.codeInUse(api)
	var errs []error
	for i := range list.Items {
		cm := &list.Items[i]
		if keep[cm.Name] || cm.Annotations[AnnotationCodeHash] == "" {
			continue
		}
		if err := b.deleteOwned(ctx, "configmap "+cm.Name, cm.UID, func(o metav1.DeleteOptions) error {
			return b.client.CoreV1().ConfigMaps(b.opts.Namespace).Delete(ctx, cm.Name, o)
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func hasCodeVolume(vols []corev1.Volume) bool {
	for _, v := range vols {
		if v.Name == codeVolume {
			return true
		}
	}
	return false
}

// podGone queues a code collection for the API of a deleted pod that mounted code.
func (b *Backend) podGone(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Labels[LabelAPI] == "" {
		return
	}
	if hasCodeVolume(p.Spec.Volumes) {
		b.gcQueue.Add(p.Labels[LabelAPI])
	}
}

// runCodeCollector works the queue until it shuts down; a failed collection is retried with
// backoff.
func (b *Backend) runCodeCollector(ctx context.Context) {
	for {
		api, shutdown := b.gcQueue.Get()
		if shutdown {
			return
		}
		if err := b.collectCode(ctx, api); err != nil && ctx.Err() == nil {
			b.gcQueue.AddRateLimited(api)
		} else {
			b.gcQueue.Forget(api)
		}
		b.gcQueue.Done(api)
	}
}
